"""A real sweep, submitted and recorded: ``submit_sweep`` against ``LocalMLClient``.

``LocalMLClient`` runs the submitted sweep job on this machine the way Azure ML would:
each child runs the job's real command (``nerp hpo trial`` with the drawn values) in the
job's code folder, on the registered dataset asset, and writes its ``trial`` output. What
is checked is what a local ``nerp eval select`` relies on: a complete study artifact in
the local index, linked to the dataset and to the Azure jobs, whose trials are the
children with their own results. nerp-eval itself is not needed (nor imported).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from azureml_local import LocalMLClient
from optuna.trial import TrialState

from nerp_hpo.azure import submit_sweep
from nerp_hpo.errors import HpoError
from nerp_hpo.plan import plan_study, storage_for
from nerp_hpo.single_trial import TRIAL_FILE
from nerp_hpo.study import run_study
from nerp_hpo.sweep_children import AZUREML_CHILD_ATTR
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.azureml import Workspace, WorkspaceSettings
from nerp_infra.paths import OutputLayout

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

SETTINGS = WorkspaceSettings(
    subscription_id="00000000-0000-0000-0000-000000000000",
    resource_group="rg-nerp-test",
    workspace_name="ws-nerp-test",
    experiment_name="nerp-sweep-test",
)


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def child_env(pycache: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for the child processes: one shared bytecode cache. Where
    PYTHONDONTWRITEBYTECODE is set (as on the CI machine) every process would compile
    torch and transformers from source again (~15 s each); with the cache only the first
    child does, and this process (the local refit) reads it too."""
    monkeypatch.setattr(sys, "pycache_prefix", str(pycache))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(pycache)}


def _root(root: Path, config: Any) -> dict[str, Any]:
    """The output root's index and layout, as the stage's context passes them."""
    return {"index": ArtifactIndex(root), "layout": OutputLayout(root, config.paths.layout)}


def _child_result(client: LocalMLClient, child: str) -> dict[str, Any]:
    """What the child wrote, read from its own output folder (not from the record)."""
    folder = client.jobs.get(child).output_dirs["trial"]
    data: dict[str, Any] = json.loads((folder / TRIAL_FILE).read_text(encoding="utf-8"))
    return data


def test_a_finished_sweep_is_recorded_as_a_local_study_with_its_children_as_trials(
    tmp_path: Path, tiny_experiment: Callable[..., Any], child_env: dict[str, str]
) -> None:
    # MLflow logging by the trial is covered in test_cli_process; here it would only add
    # a tracking database per child (~5 s each).
    config = tiny_experiment({"hpo": {"n_trials": 2}, "tracking": {"enabled": False}})
    root = tmp_path / "out"
    client = LocalMLClient(tmp_path / "ws", env=child_env)
    submitted = submit_sweep(
        config,
        **_root(root, config),
        work_dir=tmp_path / "jobs",
        workspace=Workspace(SETTINGS, client),
    )

    assert submitted.status == "Completed"
    children = sorted(c.name for c in client.jobs.list(parent_job_name=submitted.name))
    assert len(children) == 2
    study = submitted.study
    assert study.action == "new" and study.status == "complete"

    index = ArtifactIndex(root)
    recorded = index.get(study.artifact_id)
    manifest = recorded.read_manifest()
    (dataset,) = index.find(kind="dataset", status="complete")
    assert manifest.kind == "study" and manifest.stage == "hpo" and manifest.status == "complete"
    assert manifest.lineage == [dataset.id]
    plan = plan_study(config)
    assert manifest.key == plan.key
    assert manifest.fingerprints == {
        "data_fp": dataset.manifest.fingerprints["data_fp"],
        "space_fp": plan.space_fp,
    }
    job = manifest.extra["azureml_job"]
    assert job["job_name"] == submitted.name
    assert job["experiment"] == "nerp-sweep-test"
    assert job["studio_url"] == submitted.studio_url and submitted.name in job["studio_url"]

    # The Optuna study inside the artifact: one trial per child, with the child's result.
    storage = storage_for(config, manifest.extra, recorded.path)
    assert storage.startswith("sqlite:///") and str(recorded.path) in storage
    optuna_study = optuna.load_study(study_name=manifest.extra["study_name"], storage=storage)
    trials = optuna_study.get_trials()
    assert [t.user_attrs[AZUREML_CHILD_ATTR] for t in trials] == children
    for trial in trials:
        written = _child_result(client, trial.user_attrs[AZUREML_CHILD_ATTR])
        assert trial.state == TrialState.COMPLETE
        assert written["complete"] is True and written["objective_metric"] == "f1_micro"
        assert trial.value == pytest.approx(written["value"])
        assert trial.user_attrs["fold_scores"] == pytest.approx(written["fold_scores"])
        assert len(written["fold_scores"]) == config.hpo.k_folds
        assert trial.intermediate_values == {
            int(k): pytest.approx(v) for k, v in written["intermediate"].items()
        }
        assert 5.0e-3 <= trial.params["learning_rate"] <= 3.0e-2
        assert trial.params["batch_size"] in (8, 16)
        assert trial.params == pytest.approx(written["params"])
    best = max(trials, key=lambda t: float(t.value or 0.0))
    assert manifest.extra["best_trial"]["number"] == best.number
    assert manifest.metrics["best_value"] == pytest.approx(best.value)
    assert manifest.metrics["n_complete"] == 2

    # What selection reads without MLflow: the report's trials table, and the refit.
    rows = json.loads((recorded.path / manifest.extra["report"]["trials_json"]).read_text())
    assert [r["state"] for r in rows["trials"]] == ["COMPLETE", "COMPLETE"]
    assert {r["param.batch_size"] for r in rows["trials"]} <= {8, 16}
    assert manifest.extra["refit_trial_number"] == best.number
    refit = recorded.path / manifest.extra["refit_checkpoint"]
    assert (refit / "inference.json").is_file() and (refit / "config.json").is_file()
    assert "nerp_eval" not in sys.modules

    # A rerun with the same settings reuses the study: no new sweep, and locally neither.
    jobs_before = len(client.jobs.jobs)
    again = submit_sweep(
        config,
        **_root(root, config),
        work_dir=tmp_path / "jobs",
        workspace=Workspace(SETTINGS, client),
    )
    assert again.status == "reused" and again.name == submitted.name
    assert again.study.artifact_id == study.artifact_id
    assert len(client.jobs.jobs) == jobs_before
    local = run_study(config, output_root=root, progress=False)
    assert local.action == "reuse" and local.artifact_id == study.artifact_id


def test_a_sweep_whose_trials_all_failed_raises_and_records_nothing(
    tmp_path: Path, tiny_experiment: Callable[..., Any], child_env: dict[str, str]
) -> None:
    config = tiny_experiment({"hpo": {"n_trials": 2}})
    root = tmp_path / "out"
    # Every child fails the way a misconfigured environment would: its tracking store.
    client = LocalMLClient(
        tmp_path / "ws", env={**child_env, "MLFLOW_TRACKING_URI": "nosuchscheme://x"}
    )
    with pytest.raises(HpoError) as caught:
        submit_sweep(
            config,
            **_root(root, config),
            work_dir=tmp_path / "jobs",
            workspace=Workspace(SETTINGS, client),
        )
    message = str(caught.value)
    children = [c.name for c in client.jobs.list(parent_job_name="nerp-local-1")]
    assert len(children) == 2
    assert "ended with status Failed" in message and "nothing was recorded" in message
    for child in children:
        assert f"{child}: Failed" in message
    assert "nosuchscheme" in message  # the children's own error, not just the sweep's
    assert ArtifactIndex(root).find(kind="study") == []
    assert not list(root.glob("**/hpo/**/nerp.json"))

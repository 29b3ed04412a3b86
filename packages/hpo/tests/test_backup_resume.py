"""A study backed up to persistent storage, its session lost, restored with
``nerp backup pull`` on an empty disk and resumed: same study, same trials, same MLflow
parent run, its dataset lineage intact.

The first session is a real ``nerp hpo run`` process killed (SIGKILL) in the middle of
its third trial, as a notebook runtime dies; its whole output root (study, dataset,
artifact index, MLflow database) is then deleted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from nerp_hpo import run_study
from nerp_hpo.objective import RUN_ID_ATTR
from nerp_hpo.storage import open_storage
from nerp_hpo.trials import WORKER_ATTR
from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_infra.cli import build_app
from nerp_infra.config import load_experiment

STUDY = "t-tiny-v1"
STUDY_DIR = Path("hpo") / "tiny" / "t-tiny" / "v1"


def _trials(db: Path) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(
            study_name=STUDY, storage=open_storage(f"sqlite:///{db.as_posix()}", must_exist=True)
        )
    except Exception:
        return []
    return study.get_trials(deepcopy=False)


def _kill_during_third_trial(command: list[str], local_db: Path) -> None:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mine = f"{socket.gethostname()}:{process.pid}"

    def in_third_trial() -> bool:
        return any(
            t.number == 2
            and t.state == TrialState.RUNNING
            and t.user_attrs.get(WORKER_ATTR) == mine
            and RUN_ID_ATTR in t.user_attrs  # its MLflow run is open: truly mid-trial
            for t in _trials(local_db)
        )

    deadline = time.monotonic() + 300
    try:
        while not in_third_trial():
            if process.poll() is not None:
                raise AssertionError(f"study process exited early: {process.communicate()[0]}")
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the third trial")
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
def test_a_study_restored_by_backup_pull_resumes_in_a_new_session(
    tmp_path: Path, write_experiment: Callable[..., Path], nerp_cli: list[str]
) -> None:
    experiment = write_experiment({"hpo": {"n_trials": 3}})
    root = tmp_path / "outputs"
    backup = tmp_path / "drive" / "nerp-backup"
    study_dir = root / STUDY_DIR
    _kill_during_third_trial(
        [
            *nerp_cli,
            "hpo",
            "run",
            str(experiment),
            "--output-root",
            str(root),
            "--backup-root",
            str(backup),
            "--no-progress",
        ],
        study_dir / "optuna.db",
    )
    before = read_manifest(study_dir)
    assert before.status == "incomplete"
    earlier = {t.number: t.value for t in _trials(backup / STUDY_DIR / "optuna.db")}
    assert len(earlier) == 2 and None not in earlier.values()  # backed up after each trial
    (dataset_id,) = before.lineage
    parent_run = before.extra["mlflow_parent_run_id"]
    assert isinstance(parent_run, str)

    shutil.rmtree(root)  # a new session: nothing of the old disk is left
    app, _ = build_app()
    pulled = CliRunner().invoke(
        app,
        ["backup", "pull", "--root", str(root), "--backup-root", str(backup)],
        env={"COLUMNS": "200", "NERP_PLATFORM": "local"},
    )
    assert pulled.exit_code == 0, pulled.output
    assert "artifact index: 2 registered, 0 refreshed" in pulled.output
    assert (root / "mlflow.db").is_file()
    restored = ArtifactIndex(root).get(before.id)
    assert (restored.status, restored.owner) == ("incomplete", None)

    config = load_experiment(experiment)
    outcome = run_study(config, output_root=root, backup_root=backup, progress=False)

    assert (outcome.action, outcome.artifact_id, outcome.study_name) == ("resume", before.id, STUDY)
    trials = _trials(study_dir / "optuna.db")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert {t.number: t.value for t in trials[:2]} == earlier
    assert outcome.n_complete == 3
    manifest = read_manifest(study_dir)
    assert (manifest.status, manifest.variant, manifest.extra["resume_count"]) == ("complete", 1, 1)
    assert manifest.metrics["n_complete"] == 3
    assert (study_dir / "refit" / "model" / "inference.json").is_file()

    index = ArtifactIndex(root)
    (dataset,) = index.lineage(before.id, strict=True)
    assert (dataset.id, dataset.manifest.kind) == (dataset_id, "dataset")
    assert [d.id for d in index.find(kind="dataset")] == [dataset_id]  # reused, not rebuilt

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(root / 'mlflow.db').as_posix()}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    by_id = {r.info.run_id: r for r in runs}
    assert outcome.mlflow_parent_run_id == parent_run  # the same parent run, resumed
    assert by_id[parent_run].info.status == "FINISHED"
    trial_runs = [r for r in runs if r.data.tags.get("nerp.role") == "trial"]
    assert sorted(r.data.tags["nerp.trial_number"] for r in trial_runs) == ["0", "1", "2"]
    assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == {parent_run}
    assert {t.user_attrs[RUN_ID_ATTR] for t in trials} == {r.info.run_id for r in trial_runs}
    (refit,) = [r for r in runs if r.data.tags.get("nerp.role") == "refit"]
    assert refit.data.tags["nerp.hpo_trial_run_id"] in by_id

    # The resumed session went on backing up: the backup now holds the finished study.
    assert read_manifest(backup / STUDY_DIR).status == "complete"
    assert len(_trials(backup / STUDY_DIR / "optuna.db")) == 3

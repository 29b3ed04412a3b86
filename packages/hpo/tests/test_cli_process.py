"""``nerp hpo`` as users run it: a study process killed mid-trial and resumed, a worker
joining by study name and storage, and one configuration evaluated with ``nerp hpo trial``."""

from __future__ import annotations

import json
import os
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

from nerp_hpo import run_worker
from nerp_hpo.cli import app
from nerp_hpo.objective import RUN_ID_ATTR
from nerp_hpo.storage import open_storage
from nerp_hpo.trials import RETRY_OF_ATTR, WORKER_ATTR
from nerp_infra.artifacts import read_manifest


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"study process exited before {what}: {process.communicate()[0]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(url, must_exist=True))
    except Exception:
        return []
    return study.get_trials(deepcopy=False)


@pytest.mark.slow
def test_a_killed_study_resumes_to_exactly_its_budget_with_a_worker_helping(
    tmp_path: Path, write_experiment: Callable[..., Path], nerp_cli: list[str]
) -> None:
    experiment = write_experiment({"hpo": {"n_trials": 3}})
    root = tmp_path / "outputs"
    command = [*nerp_cli, "hpo", "run", str(experiment), "--output-root", str(root)]
    study_dir = root / "hpo" / "tiny" / "t-tiny" / "v1"
    url = f"sqlite:///{(study_dir / 'optuna.db').as_posix()}"
    name = "t-tiny-v1"

    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mine = f"{socket.gethostname()}:{first.pid}"

    def first_is_mid_trial() -> bool:
        trials = _trials(url, name)
        return any(t.state == TrialState.COMPLETE for t in trials) and any(
            t.state == TrialState.RUNNING
            and t.user_attrs.get(WORKER_ATTR) == mine
            and RUN_ID_ATTR in t.user_attrs  # its MLflow run is open: truly mid-trial
            for t in trials
        )

    try:
        _wait_for(first_is_mid_trial, first, "its second trial")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    killed = [t.number for t in _trials(url, name) if t.state == TrialState.RUNNING]
    assert len(killed) == 1

    # A worker joining by name and storage finds the dead process's trial and retries it.
    joined = run_worker(name, url, n_trials=1, output_root=root, progress=False)
    assert (joined.action, joined.study_name, joined.status) == ("worker", name, "incomplete")
    me = f"{socket.gethostname()}:{os.getpid()}"
    retry = [t for t in _trials(url, name) if t.user_attrs.get(RETRY_OF_ATTR) == killed[0]]
    assert [(t.state, t.user_attrs[WORKER_ATTR]) for t in retry] == [(TrialState.COMPLETE, me)]

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming study t-tiny-v1" in second.stdout
    assert "[3/3]" in second.stdout  # one progress line per trial: finished / budget

    trials = _trials(url, name)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    assert trials[killed[0]].state == TrialState.FAIL
    assert sum(1 for t in complete if t.user_attrs[WORKER_ATTR] == me) == 1  # the worker's
    assert sum(1 for t in trials if t.user_attrs.get(RETRY_OF_ATTR) is not None) == 1
    manifest = read_manifest(study_dir)
    assert (manifest.status, manifest.variant, manifest.extra["resume_count"]) == ("complete", 1, 1)
    assert manifest.metrics["n_complete"] == 3
    assert (study_dir / "refit" / "model" / "inference.json").is_file()

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(root / 'mlflow.db').as_posix()}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    dead = [
        r
        for r in runs
        if r.data.tags.get("nerp.role") == "trial"
        and r.data.tags.get("nerp.trial_number") == str(killed[0])
    ]
    assert [r.info.status for r in dead] == ["FAILED"]
    assert dead[0].data.tags["nerp.status_reason"] == "killed"
    parents = [r for r in runs if r.data.tags.get("nerp.role") == "parent"]
    assert len(parents) == 1  # the resumed process logged to the same parent run
    assert parents[0].info.status == "FINISHED"


@pytest.mark.slow
def test_nerp_hpo_trial_scores_one_configuration_on_a_single_split(
    tmp_path: Path, write_experiment: Callable[..., Path]
) -> None:
    experiment = write_experiment({"train": {"epochs": 2}, "hpo": {"k_folds": 1}})
    output = tmp_path / "trial"
    result = CliRunner().invoke(
        app,
        [
            "trial",
            str(experiment),
            "--param",
            "learning_rate=0.03",
            "--param",
            "batch_size=8",
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "f1_micro" in result.output and "(folds " in result.output

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(output / 'mlflow.db').as_posix()}")
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "f1_micro")
    assert [m.step for m in history] == [0, 1, 2]  # two epochs, then the CV value
    assert history[-1].value == pytest.approx(run.data.metrics["cv_mean"])

    # trial.json: what the record of an Azure ML sweep reads from each child's output.
    written = json.loads((output / "trial.json").read_text(encoding="utf-8"))
    assert written["complete"] is True and written["objective_metric"] == "f1_micro"
    assert written["params"] == {"learning_rate": 0.03, "batch_size": 8}
    assert written["value"] == pytest.approx(run.data.metrics["cv_mean"])
    assert len(written["fold_scores"]) == 1
    assert written["fold_scores"][0] == pytest.approx(written["value"])
    assert written["intermediate"] == {str(m.step): pytest.approx(m.value) for m in history[:-1]}


def test_nerp_hpo_trial_rejects_values_outside_the_space(
    tmp_path: Path, write_experiment: Callable[..., Path]
) -> None:
    experiment = write_experiment()
    result = CliRunner().invoke(
        app, ["trial", str(experiment), "--param", "dropout=0.1", "--output", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "--param dropout: not a dimension of hpo.search_space" in result.output

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import TrackingConfig
from nerp_infra.tags import build_tags
from nerp_infra.tracking import (
    MAX_PARAM_VALUE,
    experiment_name,
    fail_stale_runs,
    flatten,
    log_artifacts,
    log_metrics,
    log_params,
    resolve_tracking_uri,
    setup_mlflow,
    start_run,
    tracked_stage,
)


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output root (and MLflow database) per module: creating the schema takes seconds."""
    return tmp_path_factory.mktemp("tracking") / "outputs"


@pytest.fixture
def root(shared_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("NERP_PLATFORM", "local")
    setup_mlflow(output_root=shared_root)
    yield shared_root
    while mlflow.active_run() is not None:
        mlflow.end_run()


def test_tracking_uri_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    default = f"sqlite:///{(tmp_path / 'out').as_posix()}/mlflow.db"
    assert resolve_tracking_uri(output_root=tmp_path / "out") == default
    assert (tmp_path / "out").is_dir()
    assert resolve_tracking_uri(config_uri="http://cfg:5000", output_root=tmp_path) == (
        "http://cfg:5000"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_tracking_uri(config_uri="http://cfg:5000", output_root=tmp_path) == (
        "http://env:5000"
    )
    assert resolve_tracking_uri("http://arg:5000", "http://cfg", output_root=tmp_path) == (
        "http://arg:5000"
    )


def test_experiment_names() -> None:
    assert experiment_name("nerp", "hpo") == "nerp-hpo"
    with pytest.raises(ValueError, match="must not contain '/'"):
        experiment_name("team/nerp", "hpo")
    with pytest.raises(ValueError, match="non-empty"):
        experiment_name("nerp", "")


def test_flatten() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": 2}, "e": {}, "f": [1]}) == {
        "a.b.c": 1,
        "a.d": 2,
        "e": {},
        "f": [1],
    }


def test_parent_and_nested_runs_with_tags_params_metrics_artifacts(
    root: Path, tmp_path: Path
) -> None:
    assert mlflow.get_tracking_uri() == f"sqlite:///{root.as_posix()}/mlflow.db"
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "scores.json").write_text('{"f1": 0.5}')
    tags = build_tags(backbone="minilm", spec_fp="ab" * 32, lineage=["dataset-1"])
    with start_run("hpo", "hpo-study-minilm-v1", tags=tags) as parent:
        logged = log_params({"train": {"lr": 5e-5, "epochs": 2}, "labels": ["O", "B-NAME"]})
        assert logged == {"train.lr": "5e-05", "train.epochs": "2", "labels": '["O", "B-NAME"]'}
        log_metrics({"cv": {"f1": 0.75}, "support": 10, "skipped": None}, step=1)
        log_artifacts(tmp_path / "report", artifact_path="report")
        with start_run("hpo", "trial-0", tags=build_tags(trial_number=0), nested=True) as child:
            log_metrics({"f1": 0.5})

    client = MlflowClient()
    parent_run, child_run = client.get_run(parent), client.get_run(child)
    assert parent_run.info.status == child_run.info.status == "FINISHED"
    assert child_run.data.tags["mlflow.parentRunId"] == parent
    assert child_run.data.tags["nerp.trial_number"] == "0"
    ptags = parent_run.data.tags
    assert ptags["nerp.stage"] == "hpo"
    assert ptags["nerp.backbone"] == "minilm"
    assert ptags["nerp.lineage"] == "dataset-1"
    assert ptags["nerp.platform"] == "local"
    assert ptags["nerp.pid"].isdigit()
    assert ptags["nerp.host"]
    assert parent_run.info.run_name == "hpo-study-minilm-v1"
    assert parent_run.data.params["train.lr"] == "5e-05"
    assert parent_run.data.metrics == {"cv.f1": 0.75, "support": 10.0}

    experiment = client.get_experiment(parent_run.info.experiment_id)
    assert experiment.name == "nerp-hpo"
    assert experiment.artifact_location.startswith((root / "mlartifacts").as_uri())
    assert (root / "mlartifacts" / "nerp-hpo").is_dir()
    assert [f.path for f in client.list_artifacts(parent, "report")] == ["report/scores.json"]


def test_failure_and_interrupt_end_runs_with_a_reason(root: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), start_run("convert", "c1", tags={}) as rid:
        raise RuntimeError("boom")
    run = MlflowClient().get_run(rid)
    assert run.info.status == "FAILED"
    assert run.data.tags["nerp.status_reason"] == "exception: RuntimeError: boom"

    with pytest.raises(KeyboardInterrupt), start_run("convert", "c2") as rid2:
        raise KeyboardInterrupt
    run2 = MlflowClient().get_run(rid2)
    assert run2.info.status == "KILLED"
    assert run2.data.tags["nerp.status_reason"] == "interrupted"
    assert mlflow.active_run() is None


def test_parent_run_from_another_process_and_resume_by_run_key(root: Path) -> None:
    with start_run("hpo", "parent") as parent:
        pass
    # an HPO worker has no active run, only the parent's id
    with start_run("hpo", "trial-7", parent_run_id=parent) as trial:
        pass
    assert MlflowClient().get_run(trial).data.tags["mlflow.parentRunId"] == parent

    index = ArtifactIndex(root)
    with start_run("final_training", "train-1", run_key="train/minilm/k/v1", index=index) as first:
        log_metrics({"epoch": 1}, step=1)
    assert index.get_run_id("train/minilm/k/v1") == first
    with start_run("final_training", "train-1", run_key="train/minilm/k/v1", index=index) as again:
        log_metrics({"epoch": 2}, step=2)
    assert again == first
    history = MlflowClient().get_metric_history(first, "epoch")
    assert [m.value for m in history] == [1.0, 2.0]
    assert MlflowClient().get_run(first).info.status == "FINISHED"


def test_param_limits_and_bad_metrics(root: Path) -> None:
    with start_run("hpo", "limits"):
        logged = log_params({"notes": "x" * (MAX_PARAM_VALUE + 100)})
        assert len(logged["notes"]) == MAX_PARAM_VALUE
        assert logged["notes"].endswith("[truncated]")
        with pytest.raises(ValueError, match="MLflow allows 250"):
            log_params({"k" * 300: 1})
        with pytest.raises(TypeError, match="metric 'eval.report' must be a number, got str"):
            log_metrics({"eval": {"report": "good"}})
        with pytest.raises(FileNotFoundError, match="not a directory"):
            log_artifacts(root / "nope")


DOOMED = textwrap.dedent(
    """
    import sys, time
    from nerp_infra.tracking import setup_mlflow, start_run

    setup_mlflow(output_root=sys.argv[1])
    with start_run("final_training", "doomed") as parent:
        with start_run("final_training", "doomed-child", nested=True) as child:
            print(parent, child, flush=True)
            time.sleep(300)
    """
)


def test_runs_of_killed_processes_are_marked_failed(root: Path) -> None:
    client = MlflowClient()
    proc = subprocess.Popen(
        [sys.executable, "-c", DOOMED, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        parent, child = proc.stdout.readline().split()  # type: ignore[union-attr]
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs in the child
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert client.get_run(parent).info.status == "RUNNING"

    experiment = client.get_experiment_by_name("nerp-final_training")
    assert experiment is not None
    exp_id = experiment.experiment_id
    foreign = client.create_run(
        exp_id, tags={"nerp.host": "another-machine", "nerp.pid": "1"}, run_name="remote"
    ).info.run_id

    with start_run("final_training", "alive") as alive:
        assert sorted(fail_stale_runs(["nerp-final_training"])) == sorted([parent, child])
        assert fail_stale_runs(["nerp-final_training", "nerp-no-such-stage"]) == []
        assert fail_stale_runs(older_than_s=0) == [foreign]
        assert client.get_run(alive).info.status == "RUNNING"
    for run_id in (parent, child, foreign):
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert run.data.tags["nerp.status_reason"] == "killed"
        assert run.info.end_time is not None
    assert client.get_run(alive).info.status == "FINISHED"


def test_a_second_setup_is_not_captured_by_the_uri_mlflow_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = setup_mlflow(output_root=tmp_path / "a")
    second = setup_mlflow(output_root=tmp_path / "b")
    assert first != second
    assert second.endswith("/b/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////chosen/by/user.db")
    assert resolve_tracking_uri(output_root=tmp_path / "c") == "sqlite:////chosen/by/user.db"


def test_tracked_stage_opens_the_stage_run_or_nothing(root: Path) -> None:
    with tracked_stage(TrackingConfig(enabled=False), root, stage="evaluation", name="x") as off:
        assert off is None and mlflow.active_run() is None
    with tracked_stage(None, root, stage="evaluation", name="x") as off:
        assert off is None
    tracking = TrackingConfig(experiment_prefix="tracked")
    index = ArtifactIndex(root)
    with tracked_stage(
        tracking, root, stage="evaluation", name="eval-1", run_key="artifact-7", index=index
    ) as run_id:
        assert run_id is not None and mlflow.active_run().info.run_id == run_id
    run = MlflowClient().get_run(run_id)
    experiment = MlflowClient().get_experiment(run.info.experiment_id)
    assert experiment.name == experiment_name("tracked", "evaluation")
    assert run.info.run_name == "eval-1" and run.info.status == "FINISHED"
    assert run.data.tags["nerp.stage"] == "evaluation"
    with tracked_stage(
        tracking, root, stage="evaluation", name="eval-2", run_key="artifact-7", index=index
    ) as again:
        assert again == run_id  # the same artifact resumes its run

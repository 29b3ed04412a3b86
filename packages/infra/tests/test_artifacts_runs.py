from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from nerp_infra.artifacts import (
    ArtifactDecision,
    ArtifactIndex,
    ArtifactStateError,
    begin_artifact,
    read_manifest,
)
from nerp_infra.artifacts.runs import check_run_mode, owner_is_stale, owner_token, pid_is_alive
from nerp_infra.fingerprints import fingerprint, runtime_versions
from nerp_infra.paths import OutputLayout, fingerprint_key

SPEC = {"spec_fp": fingerprint("spec"), "exec_fp": fingerprint("exec")}


@pytest.fixture
def layout(tmp_path: Path) -> OutputLayout:
    return OutputLayout(tmp_path / "outputs")


@pytest.fixture
def index(layout: OutputLayout) -> ArtifactIndex:
    return ArtifactIndex(layout.root)


def _begin(
    index: ArtifactIndex, layout: OutputLayout, run_mode: str, **changes: object
) -> ArtifactDecision:
    args: dict[str, object] = {
        "kind": "model",
        "stage": "final_training",
        "backbone": "minilm",
        "fingerprints": SPEC,
        "lineage": ["dataset-1"],
        "config": {"train": {"lr": 5e-5}},
        "run_mode": run_mode,
    }
    args.update(changes)
    return begin_artifact(index, layout, **args)  # type: ignore[arg-type]


def test_new_artifact_is_incomplete_on_disk_and_in_the_index(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    decision = _begin(index, layout, "reuse_if_exists")
    assert decision.action == "new"
    assert decision.should_run
    handle = decision.handle
    key = fingerprint_key(SPEC)
    assert handle.dir == layout.root / "final_training" / "minilm" / key / "v1"
    assert read_manifest(handle.dir) == handle.manifest
    assert handle.manifest.status == "incomplete"
    assert handle.manifest.lineage == ["dataset-1"]
    assert handle.manifest.versions == runtime_versions()
    row = index.get(handle.id)
    assert row.status == "incomplete"
    assert row.owner == owner_token()


def test_reuse_force_new_and_exact_fingerprint_matching(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    first = _begin(index, layout, "force_new").handle
    # reuse_if_exists never continues an incomplete artifact
    second = _begin(index, layout, "reuse_if_exists")
    assert second.action == "new"
    assert second.handle.manifest.variant == 2
    first.complete(metrics={"f1": 0.8})

    for mode in ("reuse_if_exists", "resume_if_incomplete"):
        again = _begin(index, layout, mode)
        assert again.action == "reuse"
        assert not again.should_run
        assert again.handle.id == first.id
        assert again.handle.manifest.metrics == {"f1": 0.8}

    shutil.rmtree(first.dir)  # a deleted folder is not reused, whatever the index says
    assert _begin(index, layout, "reuse_if_exists").action == "new"

    forced = _begin(index, layout, "force_new")
    assert forced.action == "new"
    assert forced.handle.manifest.variant == 4

    other_fp = {**SPEC, "spec_fp": fingerprint("other")}
    assert _begin(index, layout, "reuse_if_exists", fingerprints=other_fp).action == "new"
    superset = {**SPEC, "data_fp": fingerprint("d")}
    assert _begin(index, layout, "reuse_if_exists", fingerprints=superset).action == "new"
    assert _begin(index, layout, "reuse_if_exists", stage="hpo").action == "new"
    assert _begin(index, layout, "reuse_if_exists", kind="study").action == "new"


def test_handle_updates_keep_disk_and_index_in_step(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    handle = _begin(index, layout, "force_new").handle
    handle.update_metrics({"epoch": 1, "loss": 0.5})
    handle.update_extra({"mlflow_run_id": "r1"})
    done = handle.complete(metrics={"loss": 0.25}, extra={"azure_job_id": "j1"})
    assert done.metrics == {"epoch": 1, "loss": 0.25}
    assert done.extra == {"mlflow_run_id": "r1", "azure_job_id": "j1"}
    assert read_manifest(handle.dir) == done == index.get(handle.id).manifest
    assert index.get(handle.id).owner is None
    with pytest.raises(
        ArtifactStateError, match=r"cannot complete artifact model-.*already complete"
    ):
        handle.complete()
    with pytest.raises(ArtifactStateError, match="cannot fail"):
        handle.fail("late")

    failing = _begin(index, layout, "force_new").handle
    failing.fail("CUDA out of memory")
    assert read_manifest(failing.dir).extra["failure_reason"] == "CUDA out of memory"
    assert index.get(failing.id).status == "failed"


def test_run_modes_are_defined_once() -> None:
    from typing import get_args

    from nerp_infra.artifacts import RUN_MODES, RunMode
    from nerp_infra.config import ExperimentConfig
    from nerp_infra.config import RunMode as ConfigRunMode

    assert ConfigRunMode is RunMode
    assert RUN_MODES == ("reuse_if_exists", "force_new", "resume_if_incomplete")
    assert all(check_run_mode(mode) == mode for mode in RUN_MODES)
    with pytest.raises(ValueError, match="run_mode 'sometimes' is not one of reuse_if_exists"):
        check_run_mode("sometimes")
    hpo_modes = ExperimentConfig.model_fields["hpo"].annotation.model_fields["run_mode"]
    assert get_args(hpo_modes.annotation) == RUN_MODES


def test_bad_arguments(index: ArtifactIndex, layout: OutputLayout) -> None:
    with pytest.raises(ValueError, match="run_mode 'sometimes' is not one of"):
        _begin(index, layout, "sometimes")
    with pytest.raises(ValueError, match="fingerprints needs at least one entry"):
        _begin(index, layout, "force_new", fingerprints={})
    with pytest.raises(ValueError, match="backbone 'a/b'"):
        _begin(index, layout, "force_new", backbone="a/b")


def test_variant_folder_left_on_disk_is_never_overwritten(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    stray = layout.artifact_dir("final_training", "minilm", "k", 1)
    stray.mkdir(parents=True)
    (stray / "weights.bin").write_text("someone else's")
    handle = _begin(index, layout, "force_new", key="k").handle
    assert handle.manifest.variant == 2
    assert (stray / "weights.bin").read_text() == "someone else's"


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from nerp_infra.artifacts import ArtifactIndex, begin_artifact
    from nerp_infra.paths import OutputLayout

    layout = OutputLayout(Path(sys.argv[1]))
    decision = begin_artifact(
        ArtifactIndex(layout.root), layout, kind="model", stage="final_training",
        backbone="minilm", fingerprints={"spec_fp": sys.argv[2]},
        run_mode="resume_if_incomplete", versions={},
    )
    decision.handle.path("checkpoint-10").mkdir()
    print(decision.action, decision.handle.id, flush=True)
    sys.stdin.readline()  # stay alive (working) until told to crash
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_crash_leaves_incomplete_and_resume_finds_it(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    fps = {"spec_fp": fingerprint("crash")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(layout.root), fps["spec_fp"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        action, artifact_id = child.stdout.readline().split()  # type: ignore[union-attr]
        assert action == "new"
        assert index.get(artifact_id).owner == f"{socket.gethostname()}:{child.pid}"

        # the owner is alive: resuming would trample its work, so this gets a new variant
        busy = _begin(index, layout, "resume_if_incomplete", fingerprints=fps)
        assert busy.action == "new"
        assert busy.handle.id != artifact_id
        busy.handle.fail("test: not needed")  # failed artifacts are never resumed
    finally:
        child.stdin.write("crash\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    row = index.get(artifact_id)
    assert row.status == "incomplete"
    assert read_manifest(row.path).status == "incomplete"

    resumed = _begin(index, layout, "resume_if_incomplete", fingerprints=fps)
    assert resumed.action == "resume"
    assert resumed.should_run
    assert resumed.handle.id == artifact_id
    assert resumed.handle.path("checkpoint-10").is_dir()
    assert resumed.handle.manifest.extra["resume_count"] == 1
    assert index.get(artifact_id).owner == owner_token()

    resumed.handle.complete(metrics={"f1": 0.9})
    final = _begin(index, layout, "resume_if_incomplete", fingerprints=fps)
    assert final.action == "reuse"
    assert final.handle.id == artifact_id


def test_owner_staleness() -> None:
    assert not owner_is_stale(owner_token())
    assert pid_is_alive(os.getpid())
    assert not owner_is_stale("some-other-host:1")
    assert owner_is_stale("some-other-host:1", foreign_is_stale=True)
    assert owner_is_stale("garbage")
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(done.stdout)
    assert not pid_is_alive(dead)
    assert owner_is_stale(f"{socket.gethostname()}:{dead}")


@pytest.mark.skipif(os.name == "nt", reason="no zombie processes on Windows")
def test_a_zombie_counts_as_dead() -> None:
    """A child that exited but was not reaped yet still has its process id: it is gone."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        assert not pid_is_alive(child.pid)
        assert owner_is_stale(f"{socket.gethostname()}:{child.pid}")
    finally:
        child.wait()


def test_failing_on_error_fails_an_incomplete_artifact_and_reraises(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    handle = _begin(index, layout, "force_new").handle
    with pytest.raises(RuntimeError, match="boom"), handle.failing_on_error():
        raise RuntimeError("boom")
    manifest = read_manifest(handle.dir)
    assert manifest.status == "failed"
    assert manifest.extra["failure_reason"] == "RuntimeError: boom"


def test_failing_on_error_keeps_a_completed_artifact(
    index: ArtifactIndex, layout: OutputLayout
) -> None:
    handle = _begin(index, layout, "force_new").handle

    def complete_then_fail() -> None:
        with handle.failing_on_error():
            handle.complete()
            raise RuntimeError("after completing")

    with pytest.raises(RuntimeError):
        complete_then_fail()
    assert read_manifest(handle.dir).status == "complete"

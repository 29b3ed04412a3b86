"""A submitted job's artifacts come home: downloaded, placed in the layout, indexed with the
Azure ML job that made them. Jobs run for real as local processes (``LocalMLClient``)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("azure.ai.ml", reason="needs the nerp-infra[azure] extra")

from azureml_local import LocalMLClient

from nerp_infra.artifacts import ArtifactIndex, begin_artifact, read_manifest
from nerp_infra.azureml import (
    AZUREML_JOB_EXTRA,
    AzureJobError,
    AzureMLError,
    command_job,
    record_job_outputs,
    submit_and_wait,
)
from nerp_infra.paths import OutputLayout

# What a remote stage does: make one artifact (child of --parent) under --output-root.
MAKE_ARTIFACT = textwrap.dedent(
    """
    import argparse
    from pathlib import Path
    from nerp_infra.artifacts import ArtifactIndex, begin_artifact
    from nerp_infra.paths import OutputLayout

    parser = argparse.ArgumentParser()
    parser.add_argument("--output-root", type=Path)
    parser.add_argument("--parent")
    parser.add_argument("--status", default="complete")
    args = parser.parse_args()
    if args.status == "crash":
        raise SystemExit("CUDA out of memory")
    index = ArtifactIndex(args.output_root)
    decision = begin_artifact(
        index, OutputLayout(args.output_root), kind="model", stage="train", backbone="tiny",
        key="k1", fingerprints={"spec_fp": "ab" * 32}, lineage=[args.parent],
        run_mode="force_new",
    )
    decision.handle.path("weights.bin").write_bytes(b"remote weights")
    if args.status in ("complete", "mixed"):
        decision.handle.complete(metrics={"f1": 0.5})
    if args.status == "mixed":  # a second artifact the job did not finish
        begin_artifact(
            index, OutputLayout(args.output_root), kind="model", stage="train",
            backbone="tiny", key="k2", fingerprints={"spec_fp": "cd" * 32},
            run_mode="force_new",
        )
    print("trained", decision.handle.id)
    """
)


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "make_artifact.py").write_text(MAKE_ARTIFACT, encoding="utf-8")
    return code


@pytest.fixture
def local_root(tmp_path: Path) -> tuple[ArtifactIndex, OutputLayout, str]:
    """A local output root holding the dataset the remote model descends from."""
    root = tmp_path / "outputs"
    index, layout = ArtifactIndex(root), OutputLayout(root)
    dataset = begin_artifact(
        index,
        layout,
        kind="dataset",
        stage="data",
        backbone="all",
        fingerprints={"data_fp": "cd" * 32},
        run_mode="force_new",
    ).handle
    dataset.complete()
    return index, layout, dataset.id


def _job(code: Path, parent: str, *, status: str = "complete") -> object:
    python = Path(sys.executable).as_posix()
    return command_job(
        command=(
            f"{python} make_artifact.py --output-root ${{{{outputs.artifacts}}}} "
            f"--parent {parent} --status {status}"
        ),
        environment="azureml:nerp-test:1",
        code=code,
        outputs={"artifacts": None},
        display_name="train-remote",
    )


def test_a_finished_job_s_artifact_is_recorded_with_lineage_and_the_job(
    tmp_path: Path, code_dir: Path, local_root: tuple[ArtifactIndex, OutputLayout, str]
) -> None:
    index, layout, dataset_id = local_root
    client = LocalMLClient(tmp_path / "workspace")
    finished = submit_and_wait(client, _job(code_dir, dataset_id), poll_interval_s=0.01)

    recorded = record_job_outputs(
        client, finished, "artifacts", index, layout, lineage=[dataset_id, "selection-1"]
    )

    assert len(recorded) == 1
    model = recorded[0]
    assert model.path == layout.artifact_dir("train", "tiny", "k1", 1)
    assert (model.path / "weights.bin").read_bytes() == b"remote weights"
    on_disk = read_manifest(model.path)
    assert on_disk == model.manifest
    assert on_disk.extra[AZUREML_JOB_EXTRA] == {
        "job_name": finished.name,
        "output": "artifacts",
        "studio_url": finished.studio_url,
        "experiment": "nerp",
    }
    assert on_disk.lineage == [dataset_id, "selection-1"]  # the job's parent, then the added one
    assert dataset_id in [a.id for a in index.lineage(model.id)]
    assert index.children(dataset_id)[-1].id == model.id
    assert not [p for p in layout.root.rglob(".*") if p.is_dir()]  # no staging left behind


def test_a_taken_variant_moves_to_the_next_and_leaves_the_local_one_alone(
    tmp_path: Path, code_dir: Path, local_root: tuple[ArtifactIndex, OutputLayout, str]
) -> None:
    index, layout, dataset_id = local_root
    local = begin_artifact(
        index,
        layout,
        kind="model",
        stage="train",
        backbone="tiny",
        key="k1",
        fingerprints={"spec_fp": "ef" * 32},
        run_mode="force_new",
    ).handle
    local.path("weights.bin").write_bytes(b"local weights")
    client = LocalMLClient(tmp_path / "workspace")
    finished = submit_and_wait(client, _job(code_dir, dataset_id), poll_interval_s=0.01)

    (remote,) = record_job_outputs(client, finished, "artifacts", index, layout)

    assert remote.manifest.variant == 2
    assert remote.path == layout.artifact_dir("train", "tiny", "k1", 2)
    assert (local.dir / "weights.bin").read_bytes() == b"local weights"
    assert index.get(local.id).manifest.variant == 1


def test_recording_the_same_job_twice_finds_nothing_new(
    tmp_path: Path, code_dir: Path, local_root: tuple[ArtifactIndex, OutputLayout, str]
) -> None:
    index, layout, dataset_id = local_root
    client = LocalMLClient(tmp_path / "workspace")
    finished = submit_and_wait(client, _job(code_dir, dataset_id), poll_interval_s=0.01)
    record_job_outputs(client, finished, "artifacts", index, layout)

    with pytest.raises(AzureMLError, match="holds no new nerp artifact"):
        record_job_outputs(client, finished, "artifacts", index, layout)
    assert len(index.find(kind="model")) == 1


def test_an_incomplete_remote_artifact_is_refused_and_nothing_is_recorded(
    tmp_path: Path, code_dir: Path, local_root: tuple[ArtifactIndex, OutputLayout, str]
) -> None:
    index, layout, dataset_id = local_root
    client = LocalMLClient(tmp_path / "workspace")
    job = _job(code_dir, dataset_id, status="incomplete")
    finished = submit_and_wait(client, job, poll_interval_s=0.01)

    with pytest.raises(AzureMLError, match=r"is incomplete, not complete"):
        record_job_outputs(client, finished, "artifacts", index, layout)
    assert index.find(kind="model") == []
    assert not layout.artifact_dir("train", "tiny", "k1", 1).exists()


def test_an_output_with_one_unfinished_artifact_records_none_of_them(
    tmp_path: Path, code_dir: Path, local_root: tuple[ArtifactIndex, OutputLayout, str]
) -> None:
    index, layout, dataset_id = local_root
    client = LocalMLClient(tmp_path / "workspace")
    finished = submit_and_wait(
        client, _job(code_dir, dataset_id, status="mixed"), poll_interval_s=0.01
    )

    with pytest.raises(AzureMLError, match=r"is incomplete, not complete"):
        record_job_outputs(client, finished, "artifacts", index, layout)
    assert index.find(kind="model") == []
    assert not (layout.root / "train").exists()


def test_a_missing_output_is_named(
    tmp_path: Path, code_dir: Path, local_root: tuple[ArtifactIndex, OutputLayout, str]
) -> None:
    index, layout, dataset_id = local_root
    client = LocalMLClient(tmp_path / "workspace")
    finished = submit_and_wait(client, _job(code_dir, dataset_id), poll_interval_s=0.01)

    with pytest.raises(AzureMLError, match=r"output 'model' was not downloaded"):
        record_job_outputs(client, finished, "model", index, layout)


def test_a_failing_command_fails_the_job_with_its_stderr(tmp_path: Path, code_dir: Path) -> None:
    client = LocalMLClient(tmp_path / "workspace")
    job = _job(code_dir, "dataset-1", status="crash")

    with pytest.raises(AzureJobError) as failed:
        submit_and_wait(client, job, poll_interval_s=0.01)
    assert failed.value.status == "Failed"
    assert "exit code 1: CUDA out of memory" in (failed.value.error or "")
    assert failed.value.studio_url == client.jobs.get(failed.value.job_name).studio_url


def test_nerp_azureml_record_brings_home_a_job_whose_wait_ended(
    tmp_path: Path,
    code_dir: Path,
    local_root: tuple[ArtifactIndex, OutputLayout, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    import nerp_infra.azureml
    from nerp_infra.azureml import Workspace, WorkspaceSettings
    from nerp_infra.commands.azureml_cmd import app

    index, layout, dataset_id = local_root
    client = LocalMLClient(tmp_path / "workspace")
    settings = WorkspaceSettings(subscription_id="s", resource_group="rg", workspace_name="ws")
    monkeypatch.setattr(
        nerp_infra.azureml, "connect_workspace", lambda *_: Workspace(settings, client)
    )
    # submitted, then the submitting process went away before recording anything
    done = client.jobs.create_or_update(_job(code_dir, dataset_id))
    crashed = client.jobs.create_or_update(_job(code_dir, dataset_id, status="crash"))
    root = ["--output-root", str(layout.root)]

    first = CliRunner().invoke(app, ["record", done.name, *root])
    again = CliRunner().invoke(app, ["record", done.name, *root])
    failed = CliRunner().invoke(app, ["record", crashed.name, *root])

    assert first.exit_code == 0, first.output
    (model,) = index.find(kind="model")
    assert f"recorded model {model.id}" in first.output
    assert model.manifest.extra[AZUREML_JOB_EXTRA]["job_name"] == done.name
    assert again.exit_code == 0 and "nothing new" in again.output
    assert failed.exit_code == 1 and "is Failed" in failed.output
    assert len(index.find(kind="model")) == 1

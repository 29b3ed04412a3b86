"""The pipeline's convert stage and the Azure ML conversion job (built, and run on a local
stand-in of the workspace)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from nerp_deploy.azureml_job import JOB_KEY, conversion_command, write_conversion_job
from nerp_deploy.convert.stage import convert_stage
from nerp_deploy.errors import DeployError
from nerp_infra.artifacts import ArtifactIndex, read_manifest, write_manifest
from nerp_infra.config import load_experiment
from nerp_infra.paths import OutputLayout
from nerp_infra.pipeline import StageContext

NERP = str(Path(sys.executable).parent / "nerp")
FAST = ["conversion.quantize=false", "conversion.parity.n_samples=2"]


def _context(root: Path, **kwargs: object) -> StageContext:
    return StageContext(
        config=load_experiment(None, FAST),
        output_root=root,
        index=ArtifactIndex(root),
        layout=OutputLayout(root),
        console=Console(file=io.StringIO()),
        **kwargs,  # type: ignore[arg-type]
    )


def _register_final_model(toy_artifact: Path, root: Path) -> str:
    """Place the toy model where final training would, and index it."""
    target = root / "final_training" / "tiny-bert" / "toy" / "v1"
    shutil.copytree(toy_artifact, target)
    manifest = read_manifest(target).touched(stage="final_training", key="toy")
    write_manifest(target, manifest)
    ArtifactIndex(root).register(manifest, target)
    return manifest.id


def test_convert_stage_converts_the_final_model_then_reuses(
    toy_artifact: Path, tmp_path: Path
) -> None:
    model_id = _register_final_model(toy_artifact, tmp_path)
    first = convert_stage(_context(tmp_path))
    assert first.status == "done"
    (package_id,) = first.artifact_ids
    package = ArtifactIndex(tmp_path).get(package_id)
    assert package.manifest.lineage == [model_id]
    assert package.path.relative_to(tmp_path).parts[0] == "convert"
    assert "tiny-bert v1" in first.summary
    again = convert_stage(_context(tmp_path))
    assert again.status == "reused" and again.artifact_ids == (package_id,)
    forced = convert_stage(_context(tmp_path, force=True))
    assert forced.status == "done" and forced.artifact_ids != (package_id,)


def test_convert_stage_without_a_model_says_which_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="run the train stage first"):
        convert_stage(_context(tmp_path))


def _check_job_yaml(path: Path, model_dir: Path) -> None:
    from azure.ai.ml import load_job

    job = load_job(source=path)
    assert job.command == conversion_command()
    # the SDK reports a local folder input as "azureml:<path>" once loaded
    assert str(job.inputs["model"].path).removeprefix("azureml:") == str(model_dir.resolve())
    assert "package" in job.outputs
    raw = yaml.safe_load(path.read_text())
    assert raw["type"] == "command" and raw["tags"]["nerp.stage"] == "convert"


def test_azureml_dry_run_writes_a_job_that_load_job_accepts(
    toy_artifact: Path, tmp_path: Path
) -> None:
    model_id = _register_final_model(toy_artifact, tmp_path / "root")
    result = convert_stage(
        _context(tmp_path / "root", target="azureml", dry_run=True, job_dir=tmp_path / "jobs")
    )
    assert result.status == "skipped"
    path = tmp_path / "jobs" / f"{JOB_KEY}.yml"
    _check_job_yaml(path, tmp_path / "root" / "final_training" / "tiny-bert" / "toy" / "v1")
    assert yaml.safe_load(path.read_text())["tags"]["nerp.lineage"] == model_id
    resolved = load_experiment(tmp_path / "jobs" / "experiment.resolved.yaml")
    assert resolved.conversion.quantize is False  # the job converts with the same settings


def test_azureml_submission_records_the_package_the_job_made(
    toy_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job runs for real on a local stand-in of the workspace (``nerp convert`` on the
    uploaded model); the package comes back into the local index, a child of the model,
    with the job named in its manifest, and a local rerun of the stage reuses it."""
    from azureml_local import LocalMLClient

    import nerp_infra.azureml
    from nerp_infra.azureml import AZUREML_JOB_EXTRA, Workspace, WorkspaceSettings

    root = tmp_path / "root"
    model_id = _register_final_model(toy_artifact, root)
    client = LocalMLClient(
        tmp_path / "workspace",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'workspace-mlflow.db'}"},
    )
    settings = WorkspaceSettings(subscription_id="s", resource_group="rg", workspace_name="ws")
    monkeypatch.setattr(
        nerp_infra.azureml, "connect_workspace", lambda *_: Workspace(settings, client)
    )

    result = convert_stage(_context(root, target="azureml"))

    assert result.status == "submitted"
    (job,) = client.jobs.jobs.values()
    (package_id,) = result.artifact_ids
    package = ArtifactIndex(root).get(package_id)
    assert package.manifest.kind == "onnx_package"
    assert package.manifest.lineage == [model_id]
    assert package.manifest.extra[AZUREML_JOB_EXTRA]["job_name"] == job.name
    assert (package.path / "model.onnx").is_file() or list(package.path.glob("*.onnx"))
    assert package.path.relative_to(root).parts[0] == "convert"
    again = convert_stage(_context(root))  # same conv_fp: the remote package is reused
    assert again.status == "reused" and again.artifact_ids == (package_id,)


def test_convert_command_dry_run(toy_artifact: Path, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    result = subprocess.run(
        [NERP, "convert", str(toy_artifact), "--target", "azureml", "--dry-run",
         "--job-dir", str(jobs)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{JOB_KEY}: {jobs / 'conversion.yml'}" in result.stdout
    _check_job_yaml(jobs / "conversion.yml", toy_artifact)
    wrong = subprocess.run(
        [NERP, "convert", str(toy_artifact), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wrong.returncode == 2 and "only applies with --target azureml" in wrong.stderr


def test_job_input_must_be_a_model_folder(tmp_path: Path) -> None:
    from nerp_infra.azureml import AzureJobSpecError

    with pytest.raises(AzureJobSpecError, match="not a model artifact folder"):
        write_conversion_job(load_experiment(None), tmp_path, model=tmp_path / "missing")


def test_convert_stage_registers_and_sets_champion_for_the_selected_model(
    toy_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model trained from a selection is the champion: its package becomes a version of
    the experiment's registered model (``resume-ner``) and gets ``@champion``; a rerun that
    reuses the package keeps the same version."""
    import mlflow

    from nerp_infra.artifacts import Manifest, new_artifact_id

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "root"
    selection_dir = root / "selection" / "all" / "sel" / "v1"
    selection_dir.mkdir(parents=True)
    selection = Manifest(
        kind="selection",
        id=new_artifact_id("selection"),
        stage="select",
        backbone="all",
        key="sel",
        variant=1,
        status="complete",
    )
    write_manifest(selection_dir, selection)
    index = ArtifactIndex(root)
    index.register(selection, selection_dir)
    target = root / "final_training" / "tiny-bert" / "toy" / "v1"
    shutil.copytree(toy_artifact, target)
    model = read_manifest(target).touched(stage="final_training", key="toy", lineage=[selection.id])
    write_manifest(target, model)
    index.register(model, target)

    result = convert_stage(_context(root))
    assert result.details["champion"] == "models:/resume-ner@champion -> version 1"
    assert result.details["serve it"] == "nerp serve models:/resume-ner@champion --port 8000"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    version = client.get_model_version_by_alias("resume-ner", "champion")
    assert version.tags["nerp.artifact_id"] == result.artifact_ids[0]
    assert f"selection:{selection.id}" in version.tags["nerp.ancestors"]
    again = convert_stage(_context(root))
    assert again.status == "reused" and again.details["registered"].endswith("(already)")
    assert len(client.search_model_versions("name = 'resume-ner'")) == 1


def test_convert_stage_does_not_register_with_tracking_off(
    toy_artifact: Path, tmp_path: Path
) -> None:
    _register_final_model(toy_artifact, tmp_path)
    ctx = _context(tmp_path)
    ctx = StageContext(
        **{**ctx.__dict__, "config": load_experiment(None, [*FAST, "tracking.enabled=false"])}
    )
    result = convert_stage(ctx)
    assert "not registered" in result.details["registry"]
    assert not (tmp_path / "mlflow.db").exists()

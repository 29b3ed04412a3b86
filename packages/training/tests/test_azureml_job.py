"""The Azure ML final-training job: built from the configs, dumped, loaded back by the SDK."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nerp_infra.artifacts import ArtifactIndex, begin_artifact
from nerp_infra.azureml import AzureJobSpecError, validate_job_yaml
from nerp_infra.config import ExperimentConfig, load_experiment
from nerp_infra.paths import ANY_BACKBONE, OutputLayout
from nerp_training.azureml_job import JOB_KEY, write_training_job
from nerp_training.commands.train_cmd import train as train_command
from nerp_training.data import prepare_dataset

Load = Callable[..., ExperimentConfig]


@pytest.fixture(scope="module")
def environment() -> object:
    """A registered environment's reference, so tests need no pip metadata walk."""
    return "azureml:nerp-training:1"


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(train_command)
    return app


def test_scratch_job_round_trips_through_the_sdk(
    tmp_path: Path, final_experiment: Load, environment: object
) -> None:
    config = final_experiment()
    written = write_training_job(config, tmp_path / "jobs", environment=environment)
    job = validate_job_yaml(written[JOB_KEY])
    assert job.type == "command"
    assert job.command == (
        "nerp train ${{inputs.config}} --output-root ${{outputs.artifacts}} --no-progress"
    )
    assert set(job.inputs) == {"config"}
    assert job.inputs["config"].type == "uri_file"
    assert set(job.outputs) == {"artifacts"}
    assert job.tags["nerp.stage"] == "final_training"
    assert job.tags["nerp.backbone"] == "tiny"
    assert job.compute == "cpu-cluster"
    assert job.environment_variables["PYTHONUNBUFFERED"] == "1"
    # the job runs exactly this configuration
    assert load_experiment(written["config"]) == config


def test_the_default_environment_installs_nerp_training(
    tmp_path: Path, final_experiment: Load
) -> None:
    written = write_training_job(final_experiment(), tmp_path)
    job = validate_job_yaml(written[JOB_KEY])
    text = written[JOB_KEY].read_text()
    assert "nerp-training[azure]==" in text
    assert "torch" in text and "transformers" in text
    assert job.environment is not None


def test_the_stage_submits_the_job_and_records_the_model_it_made(
    tmp_path: Path, final_experiment: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--target azureml`` end to end, the job run by a local stand-in of the workspace:
    the dataset goes up as a data asset, ``nerp train`` runs the job's own command, and
    the model comes back into the local index, a child of the local dataset."""
    import io

    from azureml_local import LocalMLClient
    from rich.console import Console

    import nerp_infra.azureml
    from nerp_infra.azureml import AZUREML_JOB_EXTRA, Workspace, WorkspaceSettings
    from nerp_infra.pipeline import StageContext
    from nerp_training.azureml_job import run_training_job

    config = final_experiment("train.epochs=1")
    root = tmp_path / "local"
    index, layout = ArtifactIndex(root), OutputLayout(root)
    dataset = prepare_dataset(config.data, index=index, layout=layout, run_mode="force_new")
    workspace_db = tmp_path / "workspace-mlflow.db"
    client = LocalMLClient(
        tmp_path / "workspace", env={"MLFLOW_TRACKING_URI": f"sqlite:///{workspace_db}"}
    )
    settings = WorkspaceSettings(subscription_id="s", resource_group="rg", workspace_name="ws")
    monkeypatch.setattr(
        nerp_infra.azureml, "connect_workspace", lambda *_: Workspace(settings, client)
    )
    ctx = StageContext(
        config=config,
        output_root=root,
        index=index,
        layout=layout,
        console=Console(file=io.StringIO()),
        target="azureml",
    )

    result = run_training_job(ctx)

    assert result.status == "submitted"
    (job,) = client.jobs.jobs.values()
    assert job.status == "Completed"
    assert job.inputs["dataset"] == str(dataset.artifact_dir)  # via the data asset
    (model,) = index.find(kind="model")
    assert result.artifact_ids == (model.id,)
    assert model.path.is_relative_to(root)
    assert (model.path / "model" / "config.json").is_file()
    assert model.manifest.lineage == [dataset.artifact_id]
    assert model.manifest.extra[AZUREML_JOB_EXTRA]["job_name"] == job.name
    assert model.manifest.extra[AZUREML_JOB_EXTRA]["studio_url"] == job.studio_url
    assert workspace_db.is_file()  # the job's MLflow runs went to the workspace


def _selection(root: Path, learning_rate: float, lineage: tuple[str, ...] = ()) -> str:
    decision = begin_artifact(
        ArtifactIndex(root),
        OutputLayout(root),
        kind="selection",
        stage="select",
        backbone=ANY_BACKBONE,
        fingerprints={"select_fp": f"{int(learning_rate * 1000):064x}"},
        run_mode="force_new",
        lineage=lineage,
    )
    decision.handle.complete(
        extra={
            "champion": {
                "backbone": "tiny",
                "params": {"learning_rate": learning_rate, "dropout": 0.2},
                "trial_id": "run-7",
                "study_artifact_id": None,
            }
        }
    )
    return decision.handle.id


def test_best_selected_is_resolved_into_the_named_selections_settings(
    tmp_path: Path, final_experiment: Load, environment: object
) -> None:
    chosen = _selection(tmp_path, 0.002)
    _selection(tmp_path, 0.005)  # newer, of another run: must not be the one taken
    config = final_experiment("final_training.source=best_selected")
    written = write_training_job(
        config,
        tmp_path / "jobs",
        index=ArtifactIndex(tmp_path),
        selection_id=chosen,
        environment=environment,
    )
    job = validate_job_yaml(written[JOB_KEY])
    assert job.tags["nerp.lineage"] == chosen
    resolved = load_experiment(written["config"])
    assert resolved.final_training.source == "scratch"
    assert resolved.train.learning_rate == 0.002
    assert resolved.train.dropout == 0.2
    assert resolved.model.backbone == "tiny"


def test_train_run_alone_reads_its_experiments_selection_not_the_newest(
    tmp_path: Path, final_experiment: Load
) -> None:
    """Two experiments share the root: ``nerp train`` (and the Azure ML job) of the first
    take the selection descended from its dataset even though the other's is newer; with
    none of its own it takes the newest and says so."""
    from io import StringIO

    from rich.console import Console

    from nerp_infra.pipeline.runner import open_context
    from nerp_training.final.stage import previous_model_input, selection_input

    config = final_experiment("final_training.source=best_selected")
    index, layout = ArtifactIndex(tmp_path), OutputLayout(tmp_path)
    dataset = prepare_dataset(config.data, index=index, layout=layout, run_mode="force_new")
    own = _selection(tmp_path, 0.002, lineage=(dataset.artifact_id,))
    newest = _selection(tmp_path, 0.005)
    said = StringIO()
    ctx = open_context(config, output_root=tmp_path, console=Console(file=said), stage="train")
    assert (selection_input(ctx), previous_model_input(ctx)) == (own, None)
    assert said.getvalue() == ""

    other = final_experiment("final_training.source=best_selected", "data.synthetic.seed=99")
    ctx = open_context(other, output_root=tmp_path, console=Console(file=said), stage="train")
    assert (selection_input(ctx), previous_model_input(ctx)) == (newest, None)
    assert f"using the newest, {newest}" in said.getvalue()


def test_jobs_that_cannot_run_remotely_are_refused(
    tmp_path: Path, final_experiment: Load, environment: object
) -> None:
    with pytest.raises(AzureJobSpecError, match="continue an earlier model"):
        write_training_job(
            final_experiment("final_training.source=final_training"),
            tmp_path,
            environment=environment,
        )
    data_file = tmp_path / "docs.jsonl"
    data_file.write_text('{"id": "a", "text": "John", "spans": []}\n')
    files = final_experiment("data.source=files", f"data.files=[{data_file}]")
    with pytest.raises(AzureJobSpecError, match="data.source is 'files'"):
        write_training_job(files, tmp_path, environment=environment)


def test_cli_writes_the_job(tmp_path: Path, final_overrides: tuple[str, ...]) -> None:
    sets = [arg for item in final_overrides for arg in ("--set", item)]
    root = ["--output-root", str(tmp_path / "root")]
    jobs = tmp_path / "jobs"
    args = [*sets, *root, "--target", "azureml", "--dry-run", "--job-dir", str(jobs)]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    assert f"final training job: {jobs / 'final_training.yml'}" in result.output
    assert validate_job_yaml(jobs / "final_training.yml").type == "command"

    wrong = CliRunner().invoke(_cli(), [*sets, *root, "--dry-run"])
    assert wrong.exit_code == 2
    assert "--dry-run only applies with --target azureml" in wrong.output

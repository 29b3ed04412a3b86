"""The Azure ML command job for final training, built from the same configs as ``nerp train``.

The job runs ``nerp train`` on the resolved experiment (written next to the job YAML and
uploaded as an input), on the dataset artifact (a local folder, uploaded, or an
``azureml:`` data asset) and writes the model artifact to the job's output folder. With
``final_training.nproc > 1`` the command itself starts torchrun on the node, so the job
needs no distribution settings of its own; MLflow records into the workspace because
Azure ML sets ``MLFLOW_TRACKING_URI`` for every job.

``best_selected`` is resolved here, on the machine that holds the selection artifact: the
job gets the champion's backbone and settings as a ``scratch`` config, and its tags name
the selection (and study) it came from. ``final_training`` (continuing an earlier model)
would need that model's artifact in the job and is refused.

Only building is covered by tests (``--dry-run``: YAML written, then loaded back with
``azure.ai.ml.load_job``); submission uses nerp-infra's ``submit_and_wait``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.artifacts.kinds import DATASET_KIND, FINAL_TRAINING_STAGE, MODEL_KIND
from nerp_infra.azureml import AzureJobSpecError
from nerp_infra.config import ExperimentConfig
from nerp_training.final.sources import plan_training
from nerp_training.final.stage import selection_input

if TYPE_CHECKING:
    from nerp_infra.pipeline import StageContext, StageResult

__all__ = [
    "JOB_KEY",
    "build_training_job",
    "job_experiment",
    "run_training_job",
    "training_command",
    "write_training_job",
]

JOB_KEY = "final_training"
"""File stem of the job YAML (``final_training.yml``)."""
ENVIRONMENT_NAME = "nerp-training"
OUTPUT_NAME = "artifacts"
"""The job output the model artifact is written to (an output root of its own)."""


def job_experiment(
    config: ExperimentConfig,
    index: ArtifactIndex | None = None,
    selection_id: str | None = None,
) -> tuple[ExperimentConfig, list[str]]:
    """The experiment the job runs, and the artifact ids its settings came from.

    ``best_selected`` becomes ``scratch`` with the champion's backbone and train settings
    (``final_training.overrides`` already applied), read from selection ``selection_id`` in
    ``index`` (the stage passes the one this run or experiment made; see
    :meth:`StageContext.input`).
    """
    source = config.final_training.source
    if source == "scratch":
        return config, []
    if source == "final_training":
        raise AzureJobSpecError(
            "final_training.source 'final_training' (continue an earlier model) cannot run as "
            "an Azure ML job: the earlier model artifact is not an input of the job; use "
            "'scratch' or 'best_selected'"
        )
    if index is None:
        raise AzureJobSpecError(
            "final_training.source 'best_selected' needs the output root holding the "
            "selection artifact to build the job"
        )
    plan = plan_training(config, source, index, selection_id=selection_id)
    data = config.model_dump(mode="json")
    data["model"] = plan.model.model_dump(mode="json")
    data["train"] = plan.train.model_dump(mode="json")
    data["final_training"] = {
        **config.final_training.model_dump(mode="json"),
        "source": "scratch",
        "overrides": {},
    }
    return ExperimentConfig.model_validate(data), list(plan.lineage)


def training_command(*, with_dataset: bool) -> str:
    """``nerp train`` on the job's inputs, writing into its output folder."""
    command = (
        f"nerp train ${{{{inputs.config}}}} --output-root ${{{{outputs.{OUTPUT_NAME}}}}} "
        "--no-progress"
    )
    return f"{command} --dataset ${{{{inputs.dataset}}}}" if with_dataset else command


def build_training_job(
    config: ExperimentConfig,
    *,
    config_file: Path,
    environment: Any,
    dataset: Path | str | None = None,
    lineage: list[str] | None = None,
    settings: Any = None,
    compute: str | None = None,
    display_name: str | None = None,
) -> Any:
    """The command job (``azure.ai.ml`` ``Command``) running final training for ``config``.

    ``config_file`` is the resolved experiment (see :func:`write_training_job`);
    ``dataset`` the dataset artifact folder or an ``azureml:`` data asset reference.
    """
    from nerp_infra.azureml import stage_job

    if dataset is None and config.data.source == "files":
        raise AzureJobSpecError(
            "data.source is 'files': pass the dataset artifact (the data stage's output "
            "folder, or an azureml: data asset) as the job's dataset input, since the "
            "local files are not uploaded"
        )
    inputs: dict[str, Any] = {"config": Path(config_file)}
    if dataset is not None:
        inputs["dataset"] = dataset if str(dataset).startswith("azureml:") else Path(dataset)
    return stage_job(
        stage=FINAL_TRAINING_STAGE,
        backbone=config.model.backbone,
        lineage=lineage,
        command=training_command(with_dataset=dataset is not None),
        environment=environment,
        display_name=display_name or f"train-{config.name}",
        inputs=inputs,
        output=OUTPUT_NAME,
        description=(
            f"nerp final training of {config.model.backbone} "
            f"({config.final_training.nproc} process(es))"
        ),
        compute=compute,
        settings=settings,
    )


def default_environment() -> Any:
    """An environment with nerp-training (and its Azure extra) at this version."""
    from nerp_infra.azureml import build_environment

    return build_environment(
        name=ENVIRONMENT_NAME,
        distributions={"nerp-training": "nerp-training[azure]"},
        pin_installed=True,
        description="nerp final training",
    )


def write_training_job(
    config: ExperimentConfig,
    out_dir: Path,
    *,
    dataset_dir: Path | str | None = None,
    index: ArtifactIndex | None = None,
    selection_id: str | None = None,
    environment: Any = None,
    settings: Any = None,
) -> dict[str, Path]:
    """``--dry-run``: write the resolved experiment and ``final_training.yml`` into
    ``out_dir``, then load the YAML back with the SDK; returns the written paths.

    A ``best_selected`` champion is read from selection ``selection_id`` in ``index``.
    """
    from nerp_infra.azureml import write_job_yamls, write_resolved_experiment

    resolved, lineage = job_experiment(config, index, selection_id)
    out_dir = Path(out_dir)
    config_file = write_resolved_experiment(resolved, out_dir)
    job = build_training_job(
        resolved,
        config_file=config_file,
        environment=environment if environment is not None else default_environment(),
        dataset=dataset_dir,
        lineage=lineage,
        settings=settings,
    )
    written = write_job_yamls({JOB_KEY: job}, out_dir)
    return {"config": config_file, **written}


def run_training_job(ctx: StageContext, dataset_dir: Path | None = None) -> StageResult:
    """The ``train`` stage on ``--target azureml``: write the job (dry run), or submit it and
    record the model it made in the local index.

    The dataset is ``dataset_dir`` (an artifact folder), else the one this run's ``data``
    stage produced (run alone: the experiment's, else the newest, said on the console).
    """
    from nerp_infra.artifacts import read_manifest
    from nerp_infra.pipeline import StageResult

    if dataset_dir is not None:
        dataset_fp = read_manifest(dataset_dir).fingerprints.get("data_fp")
    else:
        found = ctx.input(DATASET_KIND)
        dataset_dir = found.path if found is not None else None
        dataset_fp = found.manifest.fingerprints.get("data_fp") if found is not None else None
    selection_id = selection_input(ctx)  # the job cannot continue an earlier model
    if ctx.dry_run:
        out = ctx.job_dir or ctx.output_root / "azureml-jobs"
        written = write_training_job(
            ctx.config, out, dataset_dir=dataset_dir, index=ctx.index, selection_id=selection_id
        )
        return StageResult(
            status="skipped",
            summary=f"dry run: wrote {written[JOB_KEY]}",
            details={"final training job": str(written[JOB_KEY])},
        )
    from nerp_infra.azureml import (
        connect_workspace,
        ensure_data_asset,
        ensure_environment,
        record_job_outputs,
        submit_and_wait,
        write_resolved_experiment,
    )

    workspace = connect_workspace()
    ml_client = workspace.ml_client
    dataset: Path | str | None = None
    if dataset_dir is not None:
        if not dataset_fp:
            raise AzureJobSpecError(f"{dataset_dir}: the dataset manifest has no data_fp")
        dataset = ensure_data_asset(
            ml_client, name=f"{ctx.config.name}-dataset", path=dataset_dir, data_fp=dataset_fp
        )
    resolved, lineage = job_experiment(ctx.config, ctx.index, selection_id)
    out = ctx.job_dir or ctx.output_root / "azureml-jobs"
    config_file = write_resolved_experiment(resolved, out)
    job = build_training_job(
        resolved,
        config_file=config_file,
        environment=ensure_environment(ml_client, default_environment()),
        dataset=dataset,
        lineage=lineage,
        settings=workspace.settings,
    )
    finished = submit_and_wait(ml_client, job)
    recorded = record_job_outputs(
        ml_client, finished, OUTPUT_NAME, ctx.index, ctx.layout, lineage=lineage
    )
    models = [item for item in recorded if item.manifest.kind == MODEL_KIND]
    return StageResult(
        status="submitted",
        artifact_ids=tuple(item.id for item in recorded),
        summary=f"Azure ML job {finished.name} completed; model "
        + (", ".join(item.id for item in models) or "missing"),
        details={
            "final training job": str(finished.studio_url or finished.name),
            **{f"model {item.manifest.backbone}": str(item.path) for item in models},
        },
    )

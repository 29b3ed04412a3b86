"""``--target azureml`` for stages that have no dedicated Azure ML job.

nerp-hpo (sweep), nerp-training (final training) and nerp-deploy (conversion) build their
own jobs. Every other stage runs remotely as ``nerp pipeline --only <stage>`` on a copy of
the output root, so the whole pipeline can be written (``--dry-run``) or submitted as jobs
built from the same experiment config.
"""

from __future__ import annotations

from pathlib import Path

from nerp_infra.artifacts.kinds import CONVERT_STAGE, DATA_STAGE, HPO_STAGE, TRAIN_STAGE
from nerp_infra.pipeline.stage import StageContext, StageResult

NATIVE_AZUREML_STAGES = frozenset({HPO_STAGE, TRAIN_STAGE, CONVERT_STAGE})
"""Stages whose distributions build their own Azure ML job."""
LOCAL_STAGES = frozenset({DATA_STAGE})
"""Stages that run locally even on ``--target azureml`` (the dataset is uploaded from here)."""
ENVIRONMENT_NAME = "nerp-pipeline"
OUTPUT_NAME = "outputs"
"""The job output: the output root as the job left it."""


def stage_command(stage: str) -> str:
    """Copy the previous outputs into this job's output folder, then run the one stage."""
    return (
        f"cp -r ${{{{inputs.outputs_in}}}}/. ${{{{outputs.{OUTPUT_NAME}}}}} && "
        f"nerp pipeline ${{{{inputs.experiment}}}} --only {stage} "
        f"--output-root ${{{{outputs.{OUTPUT_NAME}}}}}"
    )


def _environment() -> object:
    from nerp_infra.azureml import build_environment
    from nerp_infra.plugins import installed_nerp_distributions

    return build_environment(
        name=ENVIRONMENT_NAME,
        distributions={name: name for name in installed_nerp_distributions()},
        pin_installed=True,
        description="nerp pipeline stages",
    )


def build_stage_job(ctx: StageContext, stage: str, *, experiment_file: Path) -> object:
    """The command job running ``stage`` on Azure ML for this experiment."""
    from nerp_infra.azureml import command_job
    from nerp_infra.tags import build_tags

    return command_job(
        command=stage_command(stage),
        environment=_environment(),  # type: ignore[arg-type]
        display_name=f"{ctx.config.name}-{stage}",
        inputs={"experiment": experiment_file, "outputs_in": ctx.output_root},
        outputs={OUTPUT_NAME: None},
        tags=build_tags(stage=stage),
        description=f"nerp pipeline stage {stage} of {ctx.config.name}",
    )


def run_stage_on_azureml(ctx: StageContext, stage: str) -> StageResult:
    """Write (``--dry-run``) or submit the generic job of ``stage``; after the job, the
    artifacts it added to its copy of the output root are recorded in the local index."""
    from nerp_infra.azureml import (
        connect_workspace,
        record_job_outputs,
        submit_and_wait,
        write_job_yamls,
        write_resolved_experiment,
    )

    out = ctx.job_dir or ctx.output_root / "azureml-jobs"
    experiment_file = write_resolved_experiment(ctx.config, out)
    job = build_stage_job(ctx, stage, experiment_file=experiment_file)
    if ctx.dry_run:
        written = write_job_yamls({f"{stage}_stage": job}, out)
        path = written[f"{stage}_stage"]
        return StageResult(
            status="skipped", summary=f"job written to {path}", details={f"{stage} job": str(path)}
        )
    workspace = connect_workspace()
    finished = submit_and_wait(workspace.ml_client, job)
    # A stage that found its result already there adds nothing: that is not an error here.
    recorded = record_job_outputs(
        workspace.ml_client, finished, OUTPUT_NAME, ctx.index, ctx.layout, require_new=False
    )
    return StageResult(
        status="submitted",
        artifact_ids=tuple(item.id for item in recorded),
        summary=f"Azure ML job {finished.name} {finished.status}; "
        f"{len(recorded)} artifact(s) recorded",
        details={
            f"{stage} job": str(getattr(finished, "studio_url", None) or finished.name),
            **{f"{item.manifest.kind} {item.id}": str(item.path) for item in recorded},
        },
    )

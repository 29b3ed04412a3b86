"""The pipeline's ``train`` stage (``nerp.stages`` entry point)."""

from __future__ import annotations

from nerp_infra.artifacts.kinds import (
    DATASET_KIND,
    FINAL_TRAINING_STAGE,
    MODEL_KIND,
    SELECTION_KIND,
)
from nerp_infra.pipeline import StageContext, StageResult, action_status

__all__ = ["previous_model_input", "selection_input", "train_stage"]


def selection_input(ctx: StageContext) -> str | None:
    """The selection a ``best_selected`` source reads: this run's, else the experiment's,
    else the newest, said on the console (``nerp train`` run alone and the Azure ML job
    resolve it the same way); None for other sources."""
    if ctx.config.final_training.source != "best_selected":
        return None
    found = ctx.input(SELECTION_KIND)
    return found.id if found is not None else None


def previous_model_input(ctx: StageContext) -> str | None:
    """The final model a ``final_training`` source continues, resolved like
    :func:`selection_input`; None for other sources."""
    if ctx.config.final_training.source != "final_training":
        return None
    found = ctx.input(MODEL_KIND, artifact_stage=FINAL_TRAINING_STAGE)
    return found.id if found is not None else None


def train_stage(ctx: StageContext) -> StageResult:
    """Final training as configured; on ``--target azureml`` the Azure ML job instead.

    Trains on the dataset this run's ``data`` stage produced (run alone: the one the data
    config determines) and, for ``best_selected``, the champion of this run's selection, for
    ``final_training``, the experiment's last final model (run alone: the experiment's, else
    the newest, said on the console)."""
    if ctx.target == "azureml":
        from nerp_training.azureml_job import run_training_job

        return run_training_job(ctx)
    from nerp_training.final.workflow import run_final_training

    config = ctx.config
    dataset = ctx.upstream(DATASET_KIND)
    outcome = run_final_training(
        config,
        output_root=ctx.output_root,
        dataset_dir=dataset.path if dataset is not None else None,
        selection_id=selection_input(ctx),
        previous_model_id=previous_model_input(ctx),
        index=ctx.index,
        run_mode=ctx.run_mode(config.final_training.run_mode),
        progress=ctx.progress,
        console=ctx.console,
    )
    metric = str(outcome.manifest.config.get("train", {}).get("metric_for_best", ""))
    summary = f"{outcome.manifest.backbone} v{outcome.manifest.variant}"
    if metric in outcome.metrics:
        summary += f", validation {metric} {float(outcome.metrics[metric]):.4f}"
    if outcome.reused_refit:
        summary += ", the HPO refit's weights (not trained again)"
    return StageResult(
        status=action_status(outcome.action),
        artifact_ids=(outcome.artifact_id,),
        summary=summary,
        details={"model": str(outcome.model_dir)},
    )

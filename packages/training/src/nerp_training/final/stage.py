"""The pipeline's ``train`` stage (``nerp.stages`` entry point)."""

from __future__ import annotations

from nerp_infra.pipeline import StageContext, StageResult

__all__ = ["train_stage"]

_STATUS = {"reuse": "reused", "resume": "resumed", "new": "done"}


def train_stage(ctx: StageContext) -> StageResult:
    """Final training as configured; on ``--target azureml`` the Azure ML job instead."""
    if ctx.target == "azureml":
        from nerp_training.azureml_job import run_training_job

        return run_training_job(ctx)
    from nerp_training.final.workflow import run_final_training

    config = ctx.config
    outcome = run_final_training(
        config,
        output_root=ctx.output_root,
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
        status=_STATUS[outcome.action],  # type: ignore[arg-type]
        artifact_ids=(outcome.artifact_id,),
        summary=summary,
        details={"model": str(outcome.model_dir)},
    )

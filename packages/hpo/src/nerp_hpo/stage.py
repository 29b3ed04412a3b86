"""The ``hpo`` pipeline stage (entry point ``nerp.stages: hpo``)."""

from __future__ import annotations

from nerp_hpo.azure import submit_sweep, write_sweep_dry_run
from nerp_hpo.study import run_studies
from nerp_infra.artifacts.kinds import DATASET_KIND
from nerp_infra.pipeline import StageContext, StageResult, StageStatus

__all__ = ["hpo_stage"]


def hpo_stage(context: StageContext) -> StageResult:
    """Run (or reuse, or resume) every configured study; on Azure ML, the sweep job."""
    config = context.config
    dataset = context.upstream(DATASET_KIND)  # run alone: prepared (reused) from config.data
    dataset_dir = dataset.path if dataset is not None else None
    if context.target == "azureml":
        if context.dry_run:
            out = context.job_dir or context.output_root / "azureml-jobs"
            written = write_sweep_dry_run(
                config,
                index=context.index,
                layout=context.layout,
                out_dir=out,
                dataset_dir=dataset_dir,
            )
            return StageResult(
                status="skipped",
                summary=f"sweep job written to {written['hpo_sweep']}",
                details={"hpo sweep job": str(written["hpo_sweep"])},
            )
        submitted = submit_sweep(
            config,
            index=context.index,
            layout=context.layout,
            work_dir=context.output_root / "azureml-jobs",
            dataset_dir=dataset_dir,
            run_mode=context.run_mode(config.hpo.run_mode),
            console=context.console,
        )
        study = submitted.study
        best = (
            f"{config.hpo.objective_metric} {study.best_value:.4f}"
            if study.best_value is not None
            else "no best value"
        )
        reused = submitted.status == "reused"
        return StageResult(
            status="reused" if reused else "submitted",
            artifact_ids=(study.artifact_id,),
            summary=(
                f"reused study {study.study_name}: {best}"
                if reused
                else f"sweep {submitted.name} {submitted.status}: {best}"
            ),
            details={
                "hpo sweep": submitted.studio_url or submitted.name or "-",
                f"hpo {study.study_name}": (
                    f"{best} (trial {(study.best_trial or {}).get('number')}), "
                    f"refit {study.refit_checkpoint or '-'}"
                ),
            },
        )
    outcomes = run_studies(
        config,
        output_root=context.output_root,
        progress=context.progress,
        console=context.console,
        run_mode=context.run_mode(config.hpo.run_mode),
        index=context.index,
        dataset_dir=dataset_dir,
    )
    actions = {outcome.action for outcome in outcomes}
    status: StageStatus = (
        "reused" if actions == {"reuse"} else "resumed" if "resume" in actions else "done"
    )
    metric = config.hpo.objective_metric
    summary = ", ".join(
        f"{o.backbone} {metric} {o.best_value:.4f}" for o in outcomes if o.best_value is not None
    )
    details = {
        f"hpo {o.study_name}": (
            f"best {metric} {o.best_value:.4f} (trial "
            f"{(o.best_trial or {}).get('number')}), refit {o.refit_checkpoint or '-'}"
        )
        for o in outcomes
        if o.best_value is not None
    }
    return StageResult(
        status=status,
        artifact_ids=tuple(o.artifact_id for o in outcomes),
        summary=summary,
        details=details,
    )

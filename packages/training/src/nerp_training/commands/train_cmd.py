"""``nerp train``: train the final model (or reuse / resume it), locally or under torchrun.

``--source``, ``--run-mode`` and ``--nproc`` are shorthands for ``--set
final_training.<key>=...``, so they are validated (and recorded) like any config key.
``--target azureml`` runs the same training as an Azure ML command job: submitted, waited
for and its model recorded in the local index, or with ``--dry-run`` written as YAML and
checked with the SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nerp_infra.artifacts.kinds import TRAIN_STAGE
from nerp_infra.config import (
    DryRunOption,
    ExperimentArgument,
    ExperimentConfig,
    SetOption,
    TargetOption,
    check_target,
    load_experiment_or_exit,
)
from nerp_infra.config.cli import fail

__all__ = ["train"]

err_console = Console(stderr=True)


def train(
    experiment: ExperimentArgument = None,
    overrides: SetOption = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="scratch, best_selected or final_training (default: final_training.source).",
            show_default=False,
        ),
    ] = None,
    run_mode: Annotated[
        str | None,
        typer.Option(
            "--run-mode",
            help="reuse_if_exists, force_new or resume_if_incomplete.",
            show_default=False,
        ),
    ] = None,
    nproc: Annotated[
        int | None,
        typer.Option(
            "--nproc",
            min=1,
            help="Processes for distributed data-parallel training under torchrun.",
            show_default=False,
        ),
    ] = None,
    output_root: Annotated[
        Path | None,
        typer.Option("--output-root", help="Output root (default: paths.root for this platform)."),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            metavar="DIR",
            help="Train on this dataset artifact folder instead of preparing one from `data`.",
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
    target: TargetOption = "local",
    dry_run: DryRunOption = False,
    job_dir: Annotated[
        Path | None,
        typer.Option(
            "--job-dir",
            metavar="DIR",
            help="Folder for the Azure ML job YAML (default: <output root>/azureml-jobs).",
        ),
    ] = None,
) -> None:
    """Train the model that gets converted and served (the `train` stage)."""
    extra = [
        f"final_training.{key}={value}"
        for key, value in (("source", source), ("run_mode", run_mode), ("nproc", nproc))
        if value is not None
    ]
    cfg = load_experiment_or_exit(experiment, [*(overrides or []), *extra])
    from nerp_infra.artifacts import ArtifactIndexError, ManifestError
    from nerp_infra.documents import DocumentError
    from nerp_training.backbones import BackboneError
    from nerp_training.final import FinalTrainingError
    from nerp_training.trainer import TrainingError

    known = (
        ArtifactIndexError,
        BackboneError,
        DocumentError,
        FinalTrainingError,
        ManifestError,
        TrainingError,
    )
    check_target(target, dry_run)
    if target == "azureml":
        _on_azureml(cfg, output_root, dataset, dry_run=dry_run, job_dir=job_dir, known=known)
        return
    from nerp_infra.pipeline.runner import open_context
    from nerp_training.final import run_final_training
    from nerp_training.final.stage import previous_model_input, selection_input

    ctx = open_context(
        cfg, output_root=output_root, console=err_console, progress=progress, stage=TRAIN_STAGE
    )
    try:
        outcome = run_final_training(
            cfg,
            output_root=ctx.output_root,
            progress=progress,
            dataset_dir=dataset,
            selection_id=selection_input(ctx),
            previous_model_id=previous_model_input(ctx),
            index=ctx.index,
            console=err_console,
        )
    except known as exc:
        raise fail(exc) from None
    verb = {"reuse": "reused", "resume": "resumed", "new": "trained"}[outcome.action]
    if outcome.reused_refit:
        verb = "took the HPO refit as"
    typer.echo(f"{verb} {outcome.artifact_id}: {outcome.artifact_dir}")
    metric = str(outcome.manifest.config.get("train", {}).get("metric_for_best", ""))
    if metric in outcome.metrics:
        typer.echo(f"validation {metric} {outcome.metrics[metric]:.4f}")
    if outcome.mlflow_run_id:
        typer.echo(f"mlflow run {outcome.mlflow_run_id}")


def _on_azureml(
    cfg: ExperimentConfig,
    output_root: Path | None,
    dataset: Path | None,
    *,
    dry_run: bool,
    job_dir: Path | None,
    known: tuple[type[Exception], ...],
) -> None:
    from nerp_infra.azureml import AzureMLError
    from nerp_infra.pipeline.runner import open_context
    from nerp_training.azureml_job import run_training_job

    ctx = open_context(
        cfg,
        output_root=output_root,
        target="azureml",
        dry_run=dry_run,
        job_dir=job_dir,
        console=err_console,
        stage=TRAIN_STAGE,
    )
    failures: tuple[type[Exception], ...] = (AzureMLError, *known)
    try:
        result = run_training_job(ctx, dataset_dir=dataset)
    except ImportError as exc:
        err_console.print(f"[red]error:[/] {exc}; pip install 'nerp-training[azure]'")
        raise typer.Exit(1) from None
    except failures as exc:
        raise fail(exc) from None
    typer.echo(result.summary)
    for label, value in result.details.items():
        typer.echo(f"{label}: {value}")

"""``nerp train``: train the final model (or reuse / resume it), locally or under torchrun.

``--source``, ``--run-mode`` and ``--nproc`` are shorthands for ``--set
final_training.<key>=...``, so they are validated (and recorded) like any config key.
``--azureml-job DIR`` builds the Azure ML command job for the same configs instead of
training (written as YAML and checked with the SDK; nothing is submitted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nerp_infra.config import ExperimentArgument, SetOption, load_experiment_or_exit

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
    azureml_job: Annotated[
        Path | None,
        typer.Option(
            "--azureml-job",
            metavar="DIR",
            help="Write the Azure ML command job (YAML) for this training to DIR; no training.",
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
    if azureml_job is not None:
        from nerp_infra.azureml import AzureMLError
        from nerp_training.azureml_job import write_training_job

        try:
            written = write_training_job(cfg, azureml_job, dataset_dir=dataset)
        except (AzureMLError, *known) as exc:
            err_console.print(f"[red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        for name, path in written.items():
            typer.echo(f"{name}: {path}")
        return
    from nerp_training.final import run_final_training

    try:
        outcome = run_final_training(
            cfg, output_root=output_root, progress=progress, dataset_dir=dataset
        )
    except known as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    verb = {"reuse": "reused", "resume": "resumed", "new": "trained"}[outcome.action]
    typer.echo(f"{verb} {outcome.artifact_id}: {outcome.artifact_dir}")
    metric = str(outcome.manifest.config.get("train", {}).get("metric_for_best", ""))
    if metric in outcome.metrics:
        typer.echo(f"validation {metric} {outcome.metrics[metric]:.4f}")
    if outcome.mlflow_run_id:
        typer.echo(f"mlflow run {outcome.mlflow_run_id}")

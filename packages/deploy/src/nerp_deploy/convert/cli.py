"""``nerp convert``: export a model artifact to a parity-checked ONNX package.

This module imports no torch at import time, so the command is listed (and explains
the ``[convert]`` extra when run) even in a slim serving image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nerp_infra.config import (
    DryRunOption,
    ExperimentConfig,
    SetOption,
    TargetOption,
    check_target,
    load_experiment_or_exit,
)
from nerp_infra.config.cli import fail

if TYPE_CHECKING:
    from nerp_deploy.convert.core import ConversionResult

__all__ = ["convert"]


def _missing_extra() -> typer.Exit:
    return fail(
        "`nerp convert` needs the convert extra (torch, transformers, onnx): "
        "pip install 'nerp-deploy[convert]'"
    )


def _azureml(
    cfg: ExperimentConfig, checkpoint: Path, *, dry_run: bool, job_dir: Path | None
) -> None:
    """Build (and unless ``dry_run``, submit) the Azure ML conversion job; no torch needed."""
    from nerp_deploy.azureml_job import submit_conversion_job, write_conversion_job
    from nerp_infra.azureml import AzureMLError

    root = cfg.paths.resolve_root()
    out = job_dir or root / "azureml-jobs"
    try:
        if dry_run:
            for name, path in write_conversion_job(cfg, out, model=checkpoint).items():
                typer.echo(f"{name}: {path}")
            return
        finished, recorded = submit_conversion_job(cfg, checkpoint, out, output_root=root)
    except ImportError as exc:
        raise fail(f"{exc}; Azure ML jobs need pip install 'nerp-deploy[azure]'") from None
    except AzureMLError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"Azure ML job {finished.name} completed: {finished.studio_url or ''}")
    for package in recorded:
        typer.echo(str(package.path))


def convert(
    checkpoint: Annotated[
        Path,
        typer.Argument(help="Model artifact directory, or its model/ checkpoint folder."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Write the package into this new folder (default: the output root)."),
    ] = None,
    experiment: Annotated[
        Path | None,
        typer.Option(
            "--experiment", "-e", help="Experiment YAML (default: the one shipped with nerp)."
        ),
    ] = None,
    overrides: SetOption = None,
    target: TargetOption = "local",
    dry_run: DryRunOption = False,
    job_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the Azure ML job YAML (default: <output root>/azureml-jobs)."
        ),
    ] = None,
    samples: Annotated[
        Path | None,
        typer.Option(
            help="Parity sample texts: a .jsonl/.json documents file (default: built-in)."
        ),
    ] = None,
    champion: Annotated[
        bool,
        typer.Option(
            "--champion",
            help="Point the registered model's @champion alias at this package "
            "(the pipeline does it for the selected champion).",
        ),
    ] = False,
) -> None:
    """Export to ONNX fp32, quantise to int8 and check parity against PyTorch.

    Settings come from the experiment's `conversion` section (`--set conversion.opset=17`,
    `--set conversion.parity.fp32_max_abs_diff=1e-4`, ...). A failed parity check exits
    with status 1 and prints the figures.
    """
    check_target(target, dry_run)
    cfg = load_experiment_or_exit(experiment, overrides)
    if target == "azureml":
        _azureml(cfg, checkpoint, dry_run=dry_run, job_dir=job_dir)
        return
    try:
        import torch  # noqa: F401  (only to report a missing extra clearly)

        from nerp_deploy.convert.core import convert_checkpoint, run_conversion
    except ImportError:
        raise _missing_extra() from None
    from nerp_deploy.errors import DeployError
    from nerp_infra.documents import DocumentError, read_documents

    conversion = cfg.conversion
    console = Console(stderr=True)
    try:
        texts = None
        if samples is not None:
            texts = [doc.text for doc in read_documents(samples)][: conversion.parity.n_samples]
            if not texts:
                raise DeployError(f"{samples}: holds no documents to use as parity samples")
        root = cfg.paths.resolve_root()
        if out is not None:
            result = convert_checkpoint(
                checkpoint,
                out,
                opset=conversion.opset,
                quantize=conversion.quantize,
                parity=conversion.parity,
                sample_texts=texts,
                console=console,
            )
        else:
            result = run_conversion(
                checkpoint,
                output_root=root,
                config=conversion,
                layout=cfg.paths.layout,
                sample_texts=texts,
                console=console,
            )
        _track(cfg, result, root=root, console=console, into_root=out is None, champion=champion)
    except (DeployError, DocumentError) as exc:
        raise fail(exc) from None
    if result.report is not None:
        console.print(
            f"[green]parity passed:[/] {escape(result.report.summary())}", highlight=False
        )
    typer.echo(str(result.package_dir))


def _track(
    cfg: ExperimentConfig,
    result: ConversionResult,
    *,
    root: Path,
    console: Console,
    into_root: bool,
    champion: bool,
) -> None:
    """Register the package (into the output root only) and log the run, as configured."""
    from nerp_deploy.convert.tracking import log_package
    from nerp_deploy.errors import DeployError
    from nerp_deploy.registry import CHAMPION_ALIAS, set_alias

    conversion = cfg.conversion
    register = conversion.register_model and into_root
    log_files = conversion.log_to_mlflow and result.report is not None
    if champion and not register:
        why = "--out packages are not registered" if not into_root else "conversion.register_model"
        raise DeployError(f"--champion needs a registered package ({why})")
    if not (register or log_files):
        return
    if not cfg.tracking.enabled:
        console.print("tracking.enabled is false: not registering or logging to MLflow")
        if champion:
            raise DeployError("--champion needs tracking.enabled (the MLflow registry)")
        return
    try:
        logged = log_package(
            result,
            output_root=root,
            tracking=cfg.tracking,
            naming=cfg.naming,
            register_as=cfg.name if register else None,
            log_files=log_files,
        )
    except ImportError as exc:
        if conversion.log_to_mlflow or champion:
            raise DeployError(
                f"MLflow is needed ({exc}); pip install 'nerp-deploy[convert,mlflow]'"
            ) from None
        console.print(f"not registered: MLflow is not installed ({exc})", highlight=False)
        return
    if logged.run_id is not None:
        console.print(f"logged to MLflow run {logged.run_id}", highlight=False)
    version = logged.version
    if version is not None:
        state = "registered" if version.created else "already registered"
        console.print(f"{state} as {version.uri}", highlight=False)
        if champion:
            set_alias(version.name, version.version, CHAMPION_ALIAS)
            console.print(f"models:/{version.name}@{CHAMPION_ALIAS} -> version {version.version}")

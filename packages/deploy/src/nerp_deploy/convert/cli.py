"""``nerp convert``: export a model artifact to a parity-checked ONNX package.

This module imports no torch at import time, so the command is listed (and explains
the ``[convert]`` extra when run) even in a slim serving image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nerp_infra.config import SetOption, load_experiment_or_exit

__all__ = ["convert"]

err = Console(stderr=True)


def _missing_extra() -> typer.Exit:
    message = (
        "`nerp convert` needs the convert extra (torch, transformers, onnx): "
        "pip install 'nerp-deploy[convert]'"
    )
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(1)


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
    samples: Annotated[
        Path | None,
        typer.Option(
            help="Parity sample texts: a .jsonl/.json documents file (default: built-in)."
        ),
    ] = None,
) -> None:
    """Export to ONNX fp32, quantise to int8 and check parity against PyTorch.

    Settings come from the experiment's `conversion` section (`--set conversion.opset=17`,
    `--set conversion.parity.fp32_max_abs_diff=1e-4`, ...). A failed parity check exits
    with status 1 and prints the figures.
    """
    try:
        import torch  # noqa: F401  (only to report a missing extra clearly)

        from nerp_deploy.convert.core import convert_checkpoint, run_conversion
        from nerp_deploy.convert.tracking import log_package
    except ImportError:
        raise _missing_extra() from None
    from nerp_deploy.errors import DeployError
    from nerp_infra.documents import DocumentError, read_documents

    cfg = load_experiment_or_exit(experiment, overrides)
    conversion = cfg.conversion
    console = Console(stderr=True)
    try:
        texts = None
        if samples is not None:
            texts = [doc.text for doc in read_documents(samples)][: conversion.parity.n_samples]
            if not texts:
                raise DeployError(f"{samples}: holds no documents to use as parity samples")
        root = cfg.paths.resolve_root(_platform())
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
        if conversion.log_to_mlflow and result.report is not None:
            if not cfg.tracking.enabled:
                console.print("tracking.enabled is false: not logging to MLflow", highlight=False)
            else:
                try:
                    run_id = log_package(
                        result, output_root=root, tracking=cfg.tracking, naming=cfg.naming
                    )
                except ImportError as exc:
                    raise DeployError(
                        f"conversion.log_to_mlflow needs MLflow ({exc}); "
                        "pip install 'nerp-deploy[convert,mlflow]'"
                    ) from None
                console.print(f"logged to MLflow run {run_id}", highlight=False)
    except (DeployError, DocumentError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    if result.report is not None:
        console.print(
            f"[green]parity passed:[/] {escape(result.report.summary())}", highlight=False
        )
    typer.echo(str(result.package_dir))


def _platform() -> str:
    from nerp_infra.platform import detect_platform

    return detect_platform()

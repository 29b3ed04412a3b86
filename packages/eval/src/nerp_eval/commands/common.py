"""Options and error handling shared by nerp-eval's commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nerp_eval.errors import EvalError
from nerp_infra.artifacts import ArtifactIndexError, ManifestError
from nerp_infra.config import ExperimentConfig, load_experiment_or_exit
from nerp_infra.config.cli import exit_on
from nerp_infra.pipeline import StageContext
from nerp_infra.pipeline.runner import open_context

__all__ = [
    "ExperimentOption",
    "ForceOption",
    "OutputRootOption",
    "err",
    "failures",
    "open_stage_context",
]

err = Console(stderr=True)

ExperimentOption = Annotated[
    Path | None,
    typer.Option(
        "--experiment", "-e", help="Experiment YAML (default: the one shipped with nerp)."
    ),
]
OutputRootOption = Annotated[
    Path | None, typer.Option("--output-root", help="Override paths.root (the output root).")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Run again as a new variant (run mode force_new).")
]


def open_stage_context(
    experiment: Path | None,
    overrides: list[str] | None,
    output_root: Path | None,
    *,
    force: bool = False,
    console: Console | None = None,
) -> tuple[ExperimentConfig, StageContext]:
    """The config and the context a stage would get (index, layout, console)."""
    config = load_experiment_or_exit(experiment, overrides)
    context = open_context(config, console=console or Console(), output_root=output_root)
    context.force = force
    return config, context


@contextmanager
def failures() -> Iterator[None]:
    """Turn nerp's own errors into ``error: …`` on stderr and exit status 1."""
    # DeployError, DataError, DocumentError are ValueErrors
    with exit_on(EvalError, ManifestError, ArtifactIndexError, FileNotFoundError, ValueError):
        yield

"""Typer building blocks so every nerp command takes an experiment and ``--set`` alike.

Usage in a command of any nerp distribution::

    def train(experiment: ExperimentArgument = None, overrides: SetOption = None) -> None:
        cfg = load_experiment_or_exit(experiment, overrides)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nerp_infra.config.errors import ConfigError
from nerp_infra.config.experiment import ExperimentConfig
from nerp_infra.config.loader import load_experiment

__all__ = [
    "DryRunOption",
    "ExperimentArgument",
    "SetOption",
    "TargetOption",
    "check_target",
    "exit_on",
    "fail",
    "load_experiment_or_exit",
]

TARGETS = ("local", "azureml")

ExperimentArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Experiment YAML (default: the experiment shipped with nerp).",
        show_default=False,
    ),
]

TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        help="Where it runs: local, or azureml (an Azure ML job, recorded locally when done).",
    ),
]

DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="With --target azureml: write the job YAML, submit none."),
]

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Override a config key, e.g. --set train.epochs=2 (repeatable; YAML values).",
        show_default=False,
    ),
]


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the exit to raise: a known failure
    is one readable line (tracebacks are for bugs). One line however narrow the terminal
    (soft wrap), and field paths such as "[0].text" printed as they are, not as markup."""
    err = Console(stderr=True)
    err.print(f"[red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def exit_on(*errors: type[Exception], code: int = 1) -> Iterator[None]:
    """Turn ``errors`` raised in the block into :func:`fail` with exit status ``code``."""
    try:
        yield
    except errors as exc:
        raise fail(exc, code) from None


def load_experiment_or_exit(
    experiment: Path | None, overrides: Sequence[str] | None = None
) -> ExperimentConfig:
    """Load the experiment, or print the ConfigError to stderr and exit with status 1."""
    try:
        return load_experiment(experiment, overrides or ())
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def check_target(target: str, dry_run: bool) -> None:
    """Exit with status 2 (a usage error) on an unknown ``--target`` or a ``--dry-run``
    that has no job to write."""
    if target not in TARGETS:
        typer.echo(f"error: --target {target!r}: must be {' or '.join(TARGETS)}", err=True)
        raise typer.Exit(2)
    if dry_run and target != "azureml":
        typer.echo("error: --dry-run only applies with --target azureml", err=True)
        raise typer.Exit(2)

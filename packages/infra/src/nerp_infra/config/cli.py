"""Typer building blocks so every nerp command takes an experiment and ``--set`` alike.

Usage in a command of any nerp distribution::

    def train(experiment: ExperimentArgument = None, overrides: SetOption = None) -> None:
        cfg = load_experiment_or_exit(experiment, overrides)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from nerp_infra.config.errors import ConfigError
from nerp_infra.config.experiment import ExperimentConfig
from nerp_infra.config.loader import load_experiment

__all__ = ["ExperimentArgument", "SetOption", "load_experiment_or_exit"]

ExperimentArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Experiment YAML (default: the experiment shipped with nerp).",
        show_default=False,
    ),
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


def load_experiment_or_exit(
    experiment: Path | None, overrides: Sequence[str] | None = None
) -> ExperimentConfig:
    """Load the experiment, or print the ConfigError to stderr and exit with status 1."""
    try:
        return load_experiment(experiment, overrides or ())
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None

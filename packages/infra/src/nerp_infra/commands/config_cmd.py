"""``nerp config show|validate``: see the config a stage would run with, or why it is wrong."""

from __future__ import annotations

import typer

from nerp_infra.config import (
    ExperimentArgument,
    SetOption,
    default_experiment_path,
    dump_config,
    load_experiment_or_exit,
)
from nerp_infra.config.loader import input_problems

app = typer.Typer(
    name="config",
    help="Show or validate an experiment config (files, references and --set resolved).",
    no_args_is_help=True,
)


@app.command()
def show(experiment: ExperimentArgument = None, overrides: SetOption = None) -> None:
    """Print the resolved experiment as YAML (every key, defaults filled in)."""
    cfg = load_experiment_or_exit(experiment, overrides)
    typer.echo(dump_config(cfg), nl=False)


@app.command()
def validate(experiment: ExperimentArgument = None, overrides: SetOption = None) -> None:
    """Check an experiment and the data files it reads; print "ok: <file>" or every
    problem (exit status 1)."""
    cfg = load_experiment_or_exit(experiment, overrides)
    problems = input_problems(cfg, experiment)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {experiment if experiment is not None else default_experiment_path()}")

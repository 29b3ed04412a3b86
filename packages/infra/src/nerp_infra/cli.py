"""The ``nerp`` command host.

nerp-infra owns only the host: subcommands come from the ``nerp.commands`` entry points
of whichever nerp distributions are installed. An entry point names either a
``typer.Typer`` (mounted as a command group) or a function (mounted as one command).
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from nerp_infra.console import setup_console
from nerp_infra.plugins import COMMANDS_GROUP, PluginError, installed_nerp_distributions, load_group

err_console = Console(stderr=True)


def _print_versions(value: bool) -> None:
    if not value:
        return
    for name, version in installed_nerp_distributions().items():
        typer.echo(f"{name} {version}")
    raise typer.Exit()


def build_app() -> tuple[typer.Typer, list[PluginError]]:
    """Assemble the CLI from the installed plugins; returns the app and load failures."""
    app = typer.Typer(
        name="nerp",
        help="Train, tune, convert and serve NER models for resumes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        version: bool = typer.Option(
            False,
            "--version",
            callback=_print_versions,
            is_eager=True,
            help="List every installed nerp distribution and its version.",
        ),
        verbose: bool = typer.Option(
            False,
            "--verbose",
            "-v",
            envvar="NERP_VERBOSE",
            help="Also show library logs and warnings (transformers, MLflow, Optuna, torch) "
            "on the console; they always go to <output root>/logs/.",
        ),
    ) -> None:
        """nerp: named-entity recognition for resumes, from annotations to a served model."""
        setup_console(verbose=verbose, command=ctx.invoked_subcommand)

    commands, errors = load_group(COMMANDS_GROUP)
    for name, target in commands.items():
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        elif callable(target):
            app.command(name=name)(target)
        else:
            errors.append(
                PluginError(
                    group=COMMANDS_GROUP,
                    name=name,
                    target=repr(target),
                    distribution="unknown",
                    error="entry point is neither a typer.Typer nor a function",
                )
            )
    return app, errors


def main() -> None:
    app, errors = build_app()
    for error in errors:
        err_console.print(f"[yellow]warning:[/] {error.describe()}", highlight=False)
    app(prog_name="nerp", args=sys.argv[1:])

"""``nerp init DIR``: start a project from the shipped, commented config folder."""

from __future__ import annotations

from pathlib import Path

import typer

from nerp_infra.config import write_starter


def init(
    directory: Path = typer.Argument(..., help="Folder for the config files (created)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing config files."),
) -> None:
    """Write experiment.yaml and one commented YAML file per section into DIRECTORY."""
    try:
        written = write_starter(directory, force=force)
    except (FileExistsError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"next: nerp config validate {directory / 'experiment.yaml'}")

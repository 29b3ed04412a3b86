"""``nerp backup push|pull|status``: keep notebook-session artifacts on persistent storage."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nerp_infra.backup import (
    BackupError,
    BackupReport,
    BackupStore,
    FileState,
    default_backup_root,
)
from nerp_infra.config.cli import fail
from nerp_infra.paths import resolve_output_root

app = typer.Typer(
    help="Back up chosen artifacts (study DB, checkpoints, ONNX packages) and restore them.",
    no_args_is_help=True,
)

RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="NERP_OUTPUT_ROOT",
        help="Output root the paths live under. Default: the platform's output root "
        "(./outputs locally).",
        show_default=False,
    ),
]
BackupRootOption = Annotated[
    Path | None,
    typer.Option(
        "--backup-root",
        envvar="NERP_BACKUP_ROOT",
        help="Backup folder. Default: Google Drive on Colab, /kaggle/working on Kaggle; "
        "required elsewhere.",
    ),
]
PathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Files or folders under the output root (relative to it, to the current "
        "directory, or absolute). Default: everything pushed before.",
        show_default=False,
    ),
]

_STATE_STYLE = {
    FileState.CURRENT: "green",
    FileState.NOT_BACKED_UP: "yellow",
    FileState.LOCAL_MISSING: "cyan",
    FileState.LOCAL_CHANGED: "yellow",
    FileState.BACKUP_NEWER: "cyan",
    FileState.BACKUP_MISSING: "red",
}


def _store(root: Path | None, backup_root: Path | None) -> BackupStore:
    local_root = root if root is not None else resolve_output_root(Path("outputs"))
    chosen = backup_root or default_backup_root()
    if chosen is None:
        raise fail(
            "this platform has no default backup folder (only Colab and Kaggle do); "
            "pass --backup-root DIR or set NERP_BACKUP_ROOT"
        )
    return BackupStore(chosen, local_root)


def _resolve(paths: list[Path] | None, store: BackupStore) -> list[Path] | None:
    """A relative path that lands inside the root from the current directory (as shell
    completion writes it) is taken from there; otherwise it is relative to the root."""
    if not paths:
        return None
    resolved = []
    for path in paths:
        from_cwd = Path(os.path.abspath(path))
        inside = not path.is_absolute() and from_cwd.is_relative_to(store.local_root)
        resolved.append(from_cwd if inside else path)
    return resolved


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _print_report(report: BackupReport, store: BackupStore) -> None:
    console = Console()
    direction = (
        f"{store.local_root} → {store.backup_root}"
        if report.action == "push"
        else f"{store.backup_root} → {store.local_root}"
    )
    table = Table(title=f"nerp backup {report.action}: {direction}")
    table.add_column("path")
    table.add_column("result")
    rows = [
        (report.copied, "[green]copied[/]"),
        (report.skipped, "[dim]current, skipped[/]"),
        (report.kept, "[yellow]kept (changed locally; --force to overwrite)[/]"),
        (report.missing, "[red]not found[/]"),
    ]
    for paths, label in rows:
        for path in paths:
            table.add_row(path, label)
    console.print(table)
    console.print(
        f"{len(report.copied)} copied ({_size(report.bytes_copied)}), "
        f"{len(report.skipped)} current, {len(report.kept)} kept, "
        f"{len(report.missing)} not found"
    )
    if report.action == "pull":
        console.print(
            f"artifact index: {len(report.registered)} registered, "
            f"{len(report.refreshed)} refreshed"
        )
        for error in report.index_errors:
            console.print(f"[red]not registered:[/] {error}", highlight=False)


@app.command()
def push(
    paths: PathsArgument = None,
    root: RootOption = None,
    backup_root: BackupRootOption = None,
) -> None:
    """Copy new or changed files to the backup folder (SQLite databases as safe snapshots)."""
    store = _store(root, backup_root)
    chosen = _resolve(paths, store)
    try:
        if chosen is None and not store.load_manifest().tracked:
            raise fail("nothing is tracked yet: name the files or folders to back up")
        report = store.push(chosen)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    _print_report(report, store)
    if report.missing:
        raise typer.Exit(code=1)


@app.command()
def pull(
    paths: PathsArgument = None,
    root: RootOption = None,
    backup_root: BackupRootOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also overwrite files changed locally.")
    ] = False,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex/--no-reindex",
            help="Register restored artifacts (their nerp.json) in the output root's "
            "artifact index, so stages reuse or resume them.",
        ),
    ] = True,
) -> None:
    """Restore files that are missing or older locally; current files are skipped.

    Restored artifacts are registered in the artifact index, so an interrupted study or
    training resumes where its backup left off.
    """
    store = _store(root, backup_root)
    try:
        report = store.pull(_resolve(paths, store), force=force, reindex=reindex)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    _print_report(report, store)
    if report.missing or report.index_errors:
        raise typer.Exit(code=1)


@app.command()
def status(
    paths: PathsArgument = None,
    root: RootOption = None,
    backup_root: BackupRootOption = None,
) -> None:
    """List backed-up and tracked files and whether local and backup copies differ."""
    store = _store(root, backup_root)
    try:
        entries = store.status(_resolve(paths, store))
    except BackupError as exc:
        raise fail(str(exc)) from exc
    console = Console()
    table = Table(title=f"nerp backup status: {store.local_root} ↔ {store.backup_root}")
    table.add_column("path")
    table.add_column("state")
    table.add_column("local", justify="right")
    table.add_column("backup", justify="right")
    for entry in entries:
        style = _STATE_STYLE[entry.state]
        table.add_row(
            entry.path,
            f"[{style}]{entry.state.value}[/]",
            _size(entry.local_size),
            _size(entry.backup_size),
        )
    console.print(table)
    if not entries:
        console.print("nothing backed up or tracked yet")

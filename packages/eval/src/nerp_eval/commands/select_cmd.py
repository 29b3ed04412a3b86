"""``nerp select``: the champion across HPO studies and backbones."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nerp_eval.commands.common import (
    ExperimentOption,
    ForceOption,
    OutputRootOption,
    failures,
    open_stage_context,
)
from nerp_infra.config import SetOption

__all__ = ["select"]


def select(
    experiment: ExperimentOption = None,
    overrides: SetOption = None,
    study: Annotated[
        list[str] | None,
        typer.Option("--study", help="Study artifact id to consider (repeatable; default: all)."),
    ] = None,
    output_root: OutputRootOption = None,
    force: ForceOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print selection.json.")] = False,
) -> None:
    """Pick the champion backbone and settings from the HPO studies (accuracy vs latency).

    Per backbone the score is the median of its top-k trials; across backbones the
    `selection` config's trade-off decides, on latencies measured on each candidate.

    Settings: `--set selection.strategy=composite`, `--set selection.accuracy_tolerance=0.02`,
    `--set selection.tolerance_mode=relative`, `--set selection.latency_backend=torch`.
    Re-running with the same studies and settings returns the saved selection (use --force
    to decide again).
    """
    from nerp_eval.stages import selection_run

    console = Console()
    with failures():
        _, ctx = open_stage_context(experiment, overrides, output_root, force=force)
        result = selection_run(ctx, study_ids=study or (), console=None if as_json else console)
    if as_json:
        typer.echo(json.dumps(result.report, indent=1))
        return
    decision = result.report["decision"]
    table = Table(title=f"Selection ({decision['strategy']})")
    for column in ("backbone", "score", "latency ms", "within tolerance", "composite", ""):
        table.add_column(column, justify="left" if column == "backbone" else "right")
    for c in decision["candidates"]:
        table.add_row(
            c["backbone"],
            f"{c['score']:.4f}",
            "" if c.get("latency_ms") is None else f"{c['latency_ms']:.2f}",
            "" if c.get("within_tolerance") is None else ("yes" if c["within_tolerance"] else "no"),
            "" if c.get("composite") is None else f"{c['composite']:.3f}",
            "[bold green]champion[/]" if c["backbone"] == decision["winner"] else "",
        )
    console.print(table)
    console.print(f"[bold]{decision['rule']}[/]: {decision['reason']}", highlight=False)
    verb = "reused" if result.action == "reuse" else "wrote"
    console.print(
        f"{verb} selection artifact {result.artifact_dir}", highlight=False, soft_wrap=True
    )

"""``nerp report``: the HTML page and Markdown summary of a pipeline output root."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nerp_eval.commands.common import (
    ExperimentOption,
    ForceOption,
    err,
    failures,
    open_stage_context,
)
from nerp_infra.config import SetOption

__all__ = ["report"]


def report(
    root: Annotated[
        Path | None,
        typer.Argument(help="Pipeline output root (default: paths.root of the experiment)."),
    ] = None,
    experiment: ExperimentOption = None,
    overrides: SetOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Also copy report.html and report.md into this folder.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Render the page in headless Chromium and check its figures drew."
        ),
    ] = False,
    force: ForceOption = False,
) -> None:
    """Write the HTML report and a Markdown summary of a pipeline output root.

    report.html is self-contained (opens offline): dataset, HPO history and importances,
    selection decision, evaluation per type, latency per backend, lineage of the served
    model. With --check it is rendered in headless Chromium.
    """
    from nerp_eval.errors import EvalError
    from nerp_eval.inputs import served_input
    from nerp_eval.report.chromium import render_dom
    from nerp_eval.report.run import write_report

    console = Console()
    with failures():
        if root is not None and not root.is_dir():
            raise EvalError(f"{root}: output root does not exist")
        config, ctx = open_stage_context(experiment, overrides, root, force=force)
        result = write_report(
            ctx.index,
            ctx.layout,
            served=served_input(ctx),
            tracking=config.tracking,
            run_mode=ctx.run_mode("reuse_if_exists"),
            title=f"nerp report: {config.name}",
            copy_to=out,
        )
        if check:
            dom = render_dom(result.html)
            drawn = dom.count('class="main-svg"')
            if drawn == 0 and "fig-" in dom:
                raise EvalError(f"{result.html}: Chromium rendered no figure")
            console.print(
                f"rendered in Chromium: {drawn} figure layer(s) drawn",
                highlight=False,
                soft_wrap=True,
            )
    verb = "reused" if result.action == "reuse" else "wrote"
    console.print(f"{verb} {result.html}", highlight=False, soft_wrap=True)
    console.print(f"{verb} {result.markdown}", highlight=False, soft_wrap=True)
    if out is not None:
        err.print(f"copied to {out}", highlight=False, soft_wrap=True)

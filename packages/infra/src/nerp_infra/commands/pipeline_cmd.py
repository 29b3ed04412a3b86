"""``nerp pipeline``: the main job, every configured stage in order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nerp_infra.config import (
    DryRunOption,
    ExperimentArgument,
    SetOption,
    TargetOption,
    check_target,
    load_experiment_or_exit,
)
from nerp_infra.console import current_log_file
from nerp_infra.pipeline import PipelineError, PipelineReport, run_pipeline
from nerp_infra.pipeline.runner import open_context


def _print_summary(console: Console, report: PipelineReport) -> None:
    lines = [
        (key, value) for result in report.results.values() for key, value in result.details.items()
    ]
    log_file = current_log_file()
    if log_file is not None:
        lines.append(("log (library messages; nerp --verbose shows them)", str(log_file)))
    if not lines:
        return
    console.print("\n[bold]Summary[/]")
    for key, value in lines:
        console.print(f"  [bold]{key}[/]: {value}", highlight=False, soft_wrap=True)


def pipeline(
    experiment: ExperimentArgument = None,
    overrides: SetOption = None,
    from_stage: Annotated[
        str | None, typer.Option("--from", help="Start at this stage (earlier ones are not run).")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this stage (repeatable).")
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="Re-run this stage as a new variant (repeatable)."),
    ] = None,
    output_root: Annotated[
        Path | None, typer.Option("--output-root", help="Override paths.root.")
    ] = None,
    target: TargetOption = "local",
    dry_run: DryRunOption = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the job YAML of --dry-run.")
    ] = None,
) -> None:
    """Run the experiment's stages in order; with no EXPERIMENT, the built-in default job.

    Re-running reuses every finished stage; after an interruption it continues from what
    finished.

    Examples:

        nerp pipeline

        nerp pipeline examples/dataturks-minilm/experiment.yaml --set hpo.n_trials=8

        nerp pipeline --only convert --force convert
    """
    check_target(target, dry_run)
    config = load_experiment_or_exit(experiment, overrides)
    console = Console()
    context = open_context(
        config,
        console=console,
        output_root=output_root,
        target=target,  # type: ignore[arg-type]
        dry_run=dry_run,
        job_dir=out,
    )
    try:
        report = run_pipeline(context, from_stage=from_stage, only=only or (), force=force or ())
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        context.index.close()
    _print_summary(console, report)

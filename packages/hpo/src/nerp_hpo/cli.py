"""``nerp hpo run | worker | status | report | trial``.

Thin wrappers over :mod:`nerp_hpo.study`; errors print one ``error: …`` line (the
file, setting or study at fault and why) and exit with status 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from nerp_hpo.errors import HpoError, SearchSpaceError

if TYPE_CHECKING:
    from nerp_hpo.status import StudyStatus
from nerp_infra.artifacts.kinds import HPO_STAGE
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import (
    ConfigError,
    DryRunOption,
    ExperimentArgument,
    SetOption,
    TargetOption,
    check_target,
    load_experiment_or_exit,
)
from nerp_infra.config.cli import exit_on
from nerp_infra.console import log_to

app = typer.Typer(
    name="hpo",
    help="Tune hyper-parameters with Optuna: k-fold CV, pruning, refit, shared workers.",
    no_args_is_help=True,
)

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")

OutputRootOption = Annotated[
    Path | None, typer.Option("--output-root", help="Override paths.root.", show_default=False)
]
BackboneOption = Annotated[
    str | None,
    typer.Option("--backbone", help="Only the study of this backbone (one of hpo.backbones)."),
]
TrialsOption = Annotated[
    int | None,
    typer.Option("--n-trials", min=1, help="Trial budget (overrides hpo.n_trials)."),
]
StudyOption = Annotated[
    str | None, typer.Option("--study", help="Optuna study name (as `nerp hpo status` shows).")
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage", help="Study storage URL (sqlite:///…, postgresql://…, journal:///…)."
    ),
]


@contextmanager
def _errors() -> Iterator[None]:
    """Known failures as one readable line and exit status 1 (tracebacks are for bugs)."""
    from nerp_infra.azureml.errors import AzureMLError
    from nerp_training.data.records import DataError

    with exit_on(HpoError, SearchSpaceError, ConfigError, DataError, AzureMLError):
        yield


def _run(func: Callable[[], T]) -> T:
    with _errors():
        return func()


def _root(config: Any, output_root: Path | None) -> Path:
    root = Path(output_root or config.paths.resolve_root()).absolute()
    log_to(root)  # library messages of this command go to <root>/logs/
    return root


def _named_study(study: str | None, storage: str | None) -> tuple[str, str] | None:
    """The study named by --study and --storage, None when neither is given (the study is
    then found from the experiment); exit status 2 when only one is given."""
    if (study is None) != (storage is None):
        err_console.print("[red]error:[/] --study and --storage go together")
        raise typer.Exit(2)
    return (study, storage) if study is not None and storage is not None else None


@app.command()
def run(
    experiment: ExperimentArgument = None,
    overrides: SetOption = None,
    backbone: BackboneOption = None,
    n_trials: TrialsOption = None,
    output_root: OutputRootOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Start a new study version (run mode force_new).")
    ] = False,
    backup_root: Annotated[
        Path | None,
        typer.Option(
            "--backup-root",
            help="Copy the study database, folds, best checkpoint, refit, dataset and a local "
            "MLflow database here after every trial; `nerp backup pull` restores them "
            "(default on Colab/Kaggle: the platform's persistent folder).",
        ),
    ] = None,
    target: TargetOption = "local",
    dry_run: DryRunOption = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the job YAML of --dry-run.")
    ] = None,
    max_concurrent: Annotated[
        int, typer.Option("--max-concurrent", min=1, help="Azure ML: trials at the same time.")
    ] = 4,
    progress: Annotated[bool, typer.Option(help="Print one line per trial.")] = True,
) -> None:
    """Run the configured studies to their budget, refit the best trial, write reports.

    One study per backbone (or one over all, as configured). Re-running resumes an
    interrupted study or reuses a finished one; --force starts the next version.

    Examples:

        nerp hpo run --set hpo.n_trials=8

        nerp hpo run experiment.yaml --backbone minilm --set hpo.storage=postgresql://db/hpo

        nerp hpo run --target azureml --dry-run --out jobs/
    """
    check_target(target, dry_run)
    config = load_experiment_or_exit(experiment, overrides)
    root = _root(config, output_root)
    if target == "azureml":
        from nerp_hpo.azure import submit_sweep, write_sweep_dry_run
        from nerp_infra.pipeline.runner import open_context

        ctx = open_context(config, output_root=root, console=console, stage=HPO_STAGE)
        index, layout = ctx.index, ctx.layout
        if dry_run:
            folder = out or root / "azureml-jobs"
            written = _run(
                lambda: write_sweep_dry_run(
                    config,
                    index=index,
                    layout=layout,
                    out_dir=folder,
                    budget=n_trials,
                    max_concurrent_trials=max_concurrent,
                )
            )
            console.print(f"wrote {written['hpo_sweep']} (validated with azure.ai.ml.load_job)")
            return
        submitted = _run(
            lambda: submit_sweep(
                config,
                index=index,
                layout=layout,
                work_dir=root / "azureml-jobs",
                budget=n_trials,
                max_concurrent_trials=max_concurrent,
                run_mode="force_new" if force else None,
                console=console,
            )
        )
        study = submitted.study
        best = f"{study.best_value:.4f}" if study.best_value is not None else "-"
        console.print(
            f"sweep {submitted.name or '-'}: {submitted.status} {submitted.studio_url or ''}\n"
            f"[bold]{study.study_name}[/] ({study.action}): best "
            f"{config.hpo.objective_metric} {best}"
            + (f", refit {study.refit_checkpoint}" if study.refit_checkpoint else "")
            + f"\n  artifact {study.artifact_id} at {study.artifact_dir}",
            highlight=False,
        )
        return
    from nerp_hpo.study import run_studies, run_study
    from nerp_infra.backup import default_backup_root

    backup = backup_root or default_backup_root()
    kwargs: dict[str, Any] = {
        "output_root": root,
        "n_trials": n_trials,
        "progress": progress,
        "backup_root": backup,
        "console": console,
        "run_mode": "force_new" if force else None,
    }
    if backbone is not None:
        outcomes = [_run(lambda: run_study(config, backbone=backbone, **kwargs))]
    else:
        outcomes = _run(lambda: run_studies(config, **kwargs))
    for outcome in outcomes:
        refit = f", refit {outcome.refit_checkpoint}" if outcome.refit_checkpoint else ""
        console.print(
            f"[bold]{outcome.study_name}[/] ({outcome.action}): best "
            f"{config.hpo.objective_metric} {outcome.best_value:.4f}{refit}\n"
            f"  artifact {outcome.artifact_id} at {outcome.artifact_dir}",
            highlight=False,
        )


@app.command()
def worker(
    experiment: ExperimentArgument = None,
    overrides: SetOption = None,
    study: StudyOption = None,
    storage: StorageOption = None,
    backbone: BackboneOption = None,
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", min=1, help="Run at most this many trials in this worker."),
    ] = None,
    output_root: OutputRootOption = None,
    progress: Annotated[bool, typer.Option(help="Print one line per trial.")] = True,
) -> None:
    """Join a running study as one more worker.

    Use a PostgreSQL or MySQL storage for workers on other hosts.

    With --study and --storage the worker needs nothing else: the study holds its config.
    Without them it joins the running study of EXPERIMENT under the output root.

    Example:

        nerp hpo worker --study resume-ner-tiny-v1 --storage postgresql://db-host/hpo
    """
    from nerp_hpo.study import run_study
    from nerp_hpo.workers import run_worker

    if (named := _named_study(study, storage)) is not None:
        study, storage = named
        outcome = _run(
            lambda: run_worker(
                study,
                storage,
                n_trials=n_trials,
                output_root=output_root,
                progress=progress,
                console=console,
            )
        )
    else:
        config = load_experiment_or_exit(experiment, overrides)
        outcome = _run(
            lambda: run_study(
                config,
                output_root=_root(config, output_root),
                backbone=backbone,
                n_trials=n_trials,
                worker=True,
                progress=progress,
                console=console,
            )
        )
    console.print(
        f"worker done: study {outcome.study_name} has {outcome.n_complete} complete, "
        f"{outcome.n_pruned} pruned, {outcome.n_failed} failed trials"
    )


def _status_table(rows: list[StudyStatus]) -> Table:
    from nerp_hpo.progress import format_params

    table = Table(title="HPO studies")
    for column in ("study", "artifact", "trials", "pruned", "failed", "running", "best"):
        table.add_column(column)
    for row in rows:
        counts = row.counts
        trials = f"{counts.finished}/{row.budget}" if row.budget else str(counts.finished)
        best = (
            f"{row.best_value:.4f} (#{row.best_trial}) {format_params(row.best_params)}"
            if row.best_value is not None and row.best_trial is not None
            else "-"
        )
        table.add_row(
            row.study_name,
            row.artifact_status or "-",
            trials,
            str(counts.pruned),
            str(counts.failed),
            str(counts.running + counts.waiting),
            row.error or best,
        )
    return table


def _status_dict(row: StudyStatus) -> dict[str, Any]:
    return {
        "study_name": row.study_name,
        "storage": row.storage,
        "artifact_id": row.artifact_id,
        "artifact_status": row.artifact_status,
        "version": row.version,
        "budget": row.budget,
        "complete": row.counts.complete,
        "pruned": row.counts.pruned,
        "failed": row.counts.failed,
        "running": row.counts.running,
        "waiting": row.counts.waiting,
        "best_value": row.best_value,
        "best_trial": row.best_trial,
        "best_params": row.best_params,
        "error": row.error,
    }


@app.command()
def status(
    experiment: ExperimentArgument = None,
    overrides: SetOption = None,
    study: StudyOption = None,
    storage: StorageOption = None,
    backbone: BackboneOption = None,
    output_root: OutputRootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Trials per state against the budget and the best trial of each study.

    Lists every study version of EXPERIMENT, or the one named by --study and --storage.
    """
    from nerp_hpo.status import describe_study, studies_status

    if (named := _named_study(study, storage)) is not None:
        study, storage = named
        rows = [_run(lambda: describe_study(study, storage))]
    else:
        config = load_experiment_or_exit(experiment, overrides)
        rows = _run(
            lambda: studies_status(
                config, output_root=_root(config, output_root), backbone=backbone
            )
        )
    if as_json:
        typer.echo(json.dumps([_status_dict(r) for r in rows], indent=2, default=str))
        return
    if not rows:
        console.print("no studies yet; start one with `nerp hpo run`")
        return
    console.print(_status_table(rows))


@app.command()
def report(
    experiment: ExperimentArgument = None,
    overrides: SetOption = None,
    study: StudyOption = None,
    storage: StorageOption = None,
    backbone: BackboneOption = None,
    output_root: OutputRootOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report folder (default: the study artifact's report/)."),
    ] = None,
) -> None:
    """Write the trials table, best trial and plots of a study (mid-study too).

    Trials as CSV and JSON, the best trial as JSON, and optimisation history, parameter
    importances and parallel coordinates as HTML, for the newest study version of
    EXPERIMENT (or the study named by --study and --storage).
    """
    from nerp_hpo.plan import storage_for
    from nerp_hpo.reports import write_study_report
    from nerp_hpo.session import open_study
    from nerp_hpo.study import find_study_artifacts

    if (named := _named_study(study, storage)) is not None:
        study, storage = named
        if out is None:
            err_console.print("[red]error:[/] --out is needed with --study/--storage")
            raise typer.Exit(2)
        target = [(study, storage, out)]
    else:
        config = load_experiment_or_exit(experiment, overrides)
        found = _run(
            lambda: find_study_artifacts(
                config, output_root=_root(config, output_root), backbone=backbone
            )
        )
        latest: dict[str, tuple[str, str, Path]] = {}
        for directory, manifest in found:
            name = StudyPayload.of(manifest, directory).study_name
            if name:
                url = storage_for(config, manifest.extra, directory)
                folder = (out / str(name)) if out is not None else directory / "report"
                latest[manifest.key] = (str(name), url, folder)
        if not latest:
            err_console.print("[red]error:[/] no study of this experiment yet; run `nerp hpo run`")
            raise typer.Exit(1)
        target = list(latest.values())
    for name, url, folder in target:
        with _errors():
            written = write_study_report(open_study(name, url), folder)
        console.print(f"{name}: report in {written.directory}")
        for plot, why in written.skipped_plots.items():
            console.print(f"  [yellow]skipped[/] {plot}: {why}")


@app.command()
def trial(
    experiment: Annotated[Path, typer.Argument(help="Resolved experiment YAML.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="NAME=VALUE", help="Value of a search dimension."),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option("--dataset", help="Dataset artifact folder (default: prepare it)."),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("--output", help="Folder for trial.json and the fold training scratch."),
    ] = Path("outputs/hpo-trial"),
) -> None:
    """Cross-validate one configuration; log its score to MLflow and write trial.json.

    This is what each trial of an Azure ML sweep runs (the sweep's record reads every
    child's trial.json); locally it answers "how good is this exact configuration"
    without a study.
    """
    from nerp_hpo.azure import prepare_sweep_dataset
    from nerp_hpo.single_trial import evaluate_params
    from nerp_hpo.sweep import parse_param
    from nerp_infra.pipeline.runner import open_context
    from nerp_infra.tracking import tracked_stage

    config = load_experiment_or_exit(experiment)
    params = dict(_run(lambda: [parse_param(p) for p in param or []]))
    output = output.absolute()
    scratch = open_context(config, output_root=output, console=console, stage=HPO_STAGE)
    data = _run(lambda: prepare_sweep_dataset(config, scratch.index, scratch.layout, dataset))
    name = f"hpo-{config.hpo.study_name}-trial"
    with tracked_stage(config.tracking, output, stage=HPO_STAGE, name=name) as run_id:
        result = _run(
            lambda: evaluate_params(
                config,
                params,
                dataset=data,
                output_dir=output,
                log_to_mlflow=run_id is not None,
                result_dir=output,
            )
        )
    console.print(
        f"{config.hpo.objective_metric} {result.value:.4f} "
        f"(folds {', '.join(f'{s:.4f}' for s in result.fold_scores)})"
    )

"""Study reports: the trials table (CSV and JSON), the best trial, and Optuna's plots as HTML.

Plots are written with ``include_plotlyjs="directory"``: the HTML files share one
``plotly.min.js`` next to them, so the report opens offline (no CDN) without
embedding 3 MB of JavaScript in every file. A plot that cannot be drawn yet (parameter
importances need two finished trials with different values) is listed under
``skipped_plots`` with the reason instead of failing the report.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nerp_hpo.objective import CV_MEAN_ATTR, CV_STD_ATTR, EPOCHS_ATTR, FOLD_SCORES_ATTR
from nerp_hpo.trials import ERROR_ATTR, RETRY_OF_ATTR, SKIPPED_ATTR, count_trials
from nerp_infra.files import atomic_file, atomic_write

__all__ = [
    "PLOTS",
    "StudyReport",
    "best_trial_summary",
    "trial_rows",
    "write_study_report",
]

PLOTS: tuple[str, ...] = ("optimization_history", "param_importances", "parallel_coordinate")

_BASE_COLUMNS = (
    "number",
    "state",
    "value",
    "cv_std",
    "fold_scores",
    "epochs_trained",
    "pruned_at_step",
    "duration_s",
    "datetime_start",
    "retry_of",
    "error",
)


@dataclass(frozen=True)
class StudyReport:
    """Where a study report was written."""

    directory: Path
    trials_csv: Path
    trials_json: Path
    best_trial_json: Path
    plots: dict[str, Path] = field(default_factory=dict)
    skipped_plots: dict[str, str] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial (budget stand-downs left out), params as ``param.<name>``."""
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SKIPPED_ATTR)]
    names = sorted({name for t in trials for name in t.params})
    rows = []
    for trial in trials:
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        row: dict[str, Any] = {
            "number": trial.number,
            "state": trial.state.name,
            "value": _number(trial.value) if trial.state == TrialState.COMPLETE else None,
            "cv_std": _number(trial.user_attrs.get(CV_STD_ATTR)),
            "fold_scores": list(trial.user_attrs.get(FOLD_SCORES_ATTR, [])),
            "epochs_trained": trial.user_attrs.get(EPOCHS_ATTR),
            "pruned_at_step": trial.user_attrs.get("pruned_at_step"),
            "duration_s": duration,
            "datetime_start": (
                trial.datetime_start.isoformat() if trial.datetime_start is not None else None
            ),
            "retry_of": trial.user_attrs.get(RETRY_OF_ATTR),
            "error": trial.user_attrs.get(ERROR_ATTR),
        }
        for name in names:
            row[f"param.{name}"] = trial.params.get(name)
        rows.append(row)
    return rows


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def best_trial_summary(study: optuna.Study) -> dict[str, Any] | None:
    """The best complete trial: number, value, params and fold scores (None if none)."""
    best = _best(study)
    if best is None:
        return None
    return {
        "number": best.number,
        "value": best.value,
        "params": dict(best.params),
        "fold_scores": list(best.user_attrs.get(FOLD_SCORES_ATTR, [])),
        "cv_mean": best.user_attrs.get(CV_MEAN_ATTR, best.value),
        "cv_std": best.user_attrs.get(CV_STD_ATTR),
    }


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    params = sorted({key for row in rows for key in row if key.startswith("param.")})
    columns = [*_BASE_COLUMNS, *params]
    with atomic_file(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            out = dict(row)
            out["fold_scores"] = json.dumps(row.get("fold_scores", []))
            writer.writerow({key: out.get(key) for key in columns})


def _plot(study: optuna.Study, name: str) -> Any:
    import optuna.visualization as vis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "optimization_history":
            return vis.plot_optimization_history(study)
        if name == "param_importances":
            return vis.plot_param_importances(study)
        if name == "parallel_coordinate":
            return vis.plot_parallel_coordinate(study)
    raise ValueError(f"unknown plot {name!r}; one of {', '.join(PLOTS)}")


def _plot_problem(study: optuna.Study, name: str) -> str | None:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        return "no complete trials yet"
    if name == "param_importances":
        if len(complete) < 2:
            return "needs at least 2 complete trials"
        varied = [
            p for p in complete[0].params if len({repr(t.params.get(p)) for t in complete}) > 1
        ]
        if not varied:
            return "no parameter took different values in the complete trials"
    return None


def write_study_report(
    study: optuna.Study, directory: Path, *, plots: Sequence[str] = PLOTS
) -> StudyReport:
    """Write ``trials.csv``, ``trials.json``, ``best_trial.json`` and ``<plot>.html``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study)
    counts = count_trials(study)
    trials_json = directory / "trials.json"
    atomic_write(
        trials_json,
        json.dumps(
            {
                "study_name": study.study_name,
                "direction": study.direction.name.lower(),
                "counts": {
                    "complete": counts.complete,
                    "pruned": counts.pruned,
                    "failed": counts.failed,
                    "running": counts.running,
                    "waiting": counts.waiting,
                },
                "trials": rows,
            },
            indent=1,
            default=str,
        )
        + "\n",
    )
    trials_csv = directory / "trials.csv"
    _write_csv(trials_csv, rows)
    best_json = directory / "best_trial.json"
    atomic_write(best_json, json.dumps(best_trial_summary(study), indent=2, default=str) + "\n")
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for name in plots:
        problem = _plot_problem(study, name)
        if problem is not None:
            skipped[name] = problem
            continue
        path = directory / f"{name}.html"
        try:
            figure = _plot(study, name)
        except (ValueError, RuntimeError) as exc:
            skipped[name] = str(exc)
            continue
        figure.write_html(str(path), include_plotlyjs="directory", full_html=True)
        written[name] = path
    return StudyReport(
        directory=directory,
        trials_csv=trials_csv,
        trials_json=trials_json,
        best_trial_json=best_json,
        plots=written,
        skipped_plots=skipped,
    )

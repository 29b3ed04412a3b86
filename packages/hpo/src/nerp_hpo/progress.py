"""One line per finished trial: number, parameters, value or pruned, elapsed time and ETA.

Optuna's own per-trial log lines are silenced while nerp runs a study (they repeat the
full parameter dict at INFO level); this callback says the same in one short line and
adds what a user waiting on a laptop wants to know: how long until the budget is done.
"""

from __future__ import annotations

import math
import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape

from nerp_hpo.trials import FINISHED_STATES, count_trials

__all__ = ["TrialProgress", "format_params", "format_seconds"]


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={_short(value)}" for name, value in params.items())


class TrialProgress:
    """Study callback printing a line per trial; the ETA uses this process's pace."""

    def __init__(self, console: Console, *, budget: int | None, enabled: bool = True) -> None:
        self.console = console
        self.budget = budget
        self.enabled = enabled
        self.started = time.monotonic()
        self.done_here = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not self.enabled:
            return
        if trial.state in FINISHED_STATES:
            self.done_here += 1
        elapsed = trial.duration.total_seconds() if trial.duration is not None else 0.0
        if trial.state == TrialState.COMPLETE:
            outcome = f"[green]{trial.value:.4f}[/]"
        elif trial.state == TrialState.PRUNED:
            step = trial.last_step
            outcome = f"[yellow]pruned[/] at step {step}" if step is not None else "pruned"
        else:
            error = trial.user_attrs.get("nerp_error", "")
            outcome = f"[red]failed[/] {escape(str(error))[:80]}"
        counts = count_trials(study)
        position = f"{counts.finished}/{self.budget}" if self.budget else str(counts.finished)
        eta = ""
        if self.budget and self.done_here:
            pace = (time.monotonic() - self.started) / self.done_here
            remaining = max(self.budget - counts.finished, 0)
            eta = f"  ETA {format_seconds(pace * remaining)}"
        self.console.print(
            f"trial {trial.number:>3} [{position}]  {escape(format_params(trial.params))}  "
            f"{outcome}  {format_seconds(elapsed)}{eta}",
            highlight=False,
        )

"""One line per finished trial under a rich progress bar of the study's budget.

Optuna's own per-trial log lines are silenced while nerp runs a study (they repeat the
full parameter dict at INFO level); this callback says the same in one short line
(number, parameters, value or pruned, duration) and keeps a ``rich.progress`` bar below
the lines: trials finished of the budget, time elapsed and time left. The bar counts
every finished trial of the study, other workers' too, so its estimate is the pace of
the whole study.
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nerp_hpo.trials import count_trials

__all__ = ["TrialProgress", "format_params"]

_PACE_WINDOW_S = 7 * 24 * 3600.0
"""How far back rich's speed estimate looks: the whole run (trials take minutes, and
rich's default of 30 s would forget every trial but the last)."""


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={_short(value)}" for name, value in params.items())


class TrialProgress:
    """Study callback printing a line per trial above a progress bar of the budget.

    Use it as a context manager around the trials (the bar shows on a terminal while
    they run);
    ``finished`` is how many trials the study held before, so the bar starts there.
    """

    def __init__(
        self,
        console: Console,
        *,
        budget: int | None,
        enabled: bool = True,
        finished: int = 0,
    ) -> None:
        self.console = console
        self.budget = budget
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("  trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            speed_estimate_period=_PACE_WINDOW_S,
        )
        self.task: TaskID = self.progress.add_task("trials", total=budget, completed=finished)

    def __enter__(self) -> TrialProgress:
        if self.enabled and self.console.is_terminal:  # a log file gets the lines only
            self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not self.enabled:
            return
        elapsed = trial.duration or timedelta()
        if trial.state == TrialState.COMPLETE:
            outcome = f"[green]{trial.value:.4f}[/]"
        elif trial.state == TrialState.PRUNED:
            step = trial.last_step
            outcome = f"[yellow]pruned[/] at step {step}" if step is not None else "pruned"
        else:
            error = trial.user_attrs.get("nerp_error", "")
            outcome = f"[red]failed[/] {escape(str(error))[:80]}"
        finished = count_trials(study).finished
        self.progress.update(self.task, completed=finished)
        position = f"{finished}/{self.budget}" if self.budget else str(finished)
        self.progress.console.print(
            f"trial {trial.number:>3} [{position}]  {escape(format_params(trial.params))}  "
            f"{outcome}  {timedelta(seconds=round(elapsed.total_seconds()))}",
            highlight=False,
        )

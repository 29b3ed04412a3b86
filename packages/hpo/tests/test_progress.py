"""The per-trial lines and the rich progress bar of a study's budget, on a real study."""

from __future__ import annotations

import io
import time

import optuna
from rich.console import Console

from nerp_hpo.progress import TrialProgress


def _objective(trial: optuna.Trial) -> float:
    time.sleep(0.05)  # rich's pace needs measurable time between trials
    lr = trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True)
    if trial.number == 1:
        trial.report(0.1, step=2)
        raise optuna.TrialPruned()
    if trial.number == 2:
        trial.set_user_attr("nerp_error", "CUDA out of memory")
        raise RuntimeError("CUDA out of memory")
    return 0.5 + lr


def test_a_line_per_trial_and_a_bar_over_the_whole_budget() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.optimize(_objective, n_trials=1)  # a trial from an earlier session
    with TrialProgress(console, budget=6, finished=1) as shown:
        study.optimize(_objective, n_trials=3, callbacks=[shown], catch=(RuntimeError,))
        (task,) = shown.progress.tasks
        assert (task.completed, task.total) == (3, 6)  # a failed trial is retried: not counted
        assert task.time_remaining is not None and task.time_remaining > 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("trial   1 [2/6]  learning_rate=")
    assert "pruned at step 2" in lines[0]
    assert lines[1].startswith("trial   2 [2/6]") and "failed CUDA out of memory" in lines[1]
    assert lines[2].startswith("trial   3 [3/6]") and lines[2].endswith("0:00:00")
    value = study.trials[3].value
    assert value is not None and f"{value:.4f}" in lines[2]


def test_disabled_progress_prints_nothing() -> None:
    out = io.StringIO()
    study = optuna.create_study()
    with TrialProgress(Console(file=out), budget=2, enabled=False) as shown:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, callbacks=[shown])
    assert out.getvalue() == ""


def test_a_terminal_shows_the_bar_with_the_time_left() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    study = optuna.create_study()
    with TrialProgress(console, budget=4) as shown:
        study.optimize(_objective, n_trials=1, callbacks=[shown])
        shown.progress.refresh()
    shown_text = out.getvalue()
    assert "trials" in shown_text and "1/4" in shown_text and "left" in shown_text

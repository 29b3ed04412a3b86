"""Pruners: the bandit policy's semantics, and that every configured pruner really prunes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nerp_hpo.errors import SearchSpaceError
from nerp_hpo.pruners import BanditPruner, build_pruner, reporting_mode
from nerp_infra.config import PrunerConfig


def _finished(study: optuna.Study, curve: Sequence[float]) -> None:
    """A complete trial that reported ``curve`` (one value per step)."""
    trial = study.ask()
    for step, value in enumerate(curve):
        trial.report(value, step)
    study.tell(trial, curve[-1])


def _prune_steps(study: optuna.Study, curve: Sequence[float]) -> list[int]:
    """Steps at which a new trial reporting ``curve`` would be pruned."""
    trial = study.ask()
    pruned = []
    for step, value in enumerate(curve):
        trial.report(value, step)
        if trial.should_prune():
            pruned.append(step)
    study.tell(trial, state=TrialState.FAIL)
    return pruned


def test_bandit_slack_factor_compares_with_the_best_value_at_the_same_step() -> None:
    study = optuna.create_study(direction="maximize", pruner=BanditPruner(slack_factor=0.25))
    _finished(study, [0.2, 0.8])
    _finished(study, [0.4, 0.5])
    # best at step 0 is 0.4 (limit 0.32), at step 1 0.8 (limit 0.64)
    assert _prune_steps(study, [0.33, 0.65]) == []
    assert _prune_steps(study, [0.31, 0.9]) == [0]
    assert _prune_steps(study, [0.35, 0.6]) == [1]


def test_bandit_slack_amount_and_minimize() -> None:
    study = optuna.create_study(direction="minimize", pruner=BanditPruner(slack_amount=0.1))
    _finished(study, [1.0, 0.5])
    assert _prune_steps(study, [1.05, 0.55]) == []
    assert _prune_steps(study, [1.2, 0.55]) == [0]
    factor = optuna.create_study(direction="minimize", pruner=BanditPruner(slack_factor=0.5))
    _finished(factor, [2.0])
    assert _prune_steps(factor, [2.9]) == []  # limit 2.0 * 1.5 = 3.0
    assert _prune_steps(factor, [3.1]) == [0]


def test_bandit_delay_and_interval_decide_which_steps_are_checked() -> None:
    pruner = BanditPruner(slack_amount=0.01, evaluation_interval=2, delay_evaluation=1)
    assert [s for s in range(7) if pruner.is_checked_step(s)] == [1, 3, 5]
    study = optuna.create_study(direction="maximize", pruner=pruner)
    _finished(study, [0.9] * 6)
    assert _prune_steps(study, [0.0] * 6) == [1, 3, 5]


def test_bandit_needs_exactly_one_slack() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        BanditPruner()
    with pytest.raises(ValueError, match="exactly one"):
        BanditPruner(slack_factor=0.1, slack_amount=0.1)
    with pytest.raises(ValueError, match="positive"):
        BanditPruner(slack_amount=-1.0)


def test_bandit_without_competitors_at_a_step_does_not_prune() -> None:
    study = optuna.create_study(direction="maximize", pruner=BanditPruner(slack_amount=0.01))
    _finished(study, [0.9])
    assert _prune_steps(study, [0.9, 0.0, 0.0]) == []  # nobody else reached steps 1 and 2


def _quadratic_study(pruner: optuna.pruners.BasePruner) -> optuna.Study:
    return optuna.create_study(direction="maximize", pruner=pruner)


@pytest.mark.parametrize(
    ("settings", "curve_good", "curve_bad"),
    [
        ({"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0}, [0.5, 0.6], [0.1, 0.2]),
        ({"type": "bandit", "slack_factor": 0.1}, [0.5, 0.6], [0.1, 0.2]),
        ({"type": "wilcoxon", "n_warmup_steps": 2}, [0.8, 0.7, 0.9, 0.85, 0.8], [0.1] * 5),
    ],
)
def test_configured_pruners_prune_a_clearly_worse_trial(
    settings: dict[str, Any], curve_good: list[float], curve_bad: list[float]
) -> None:
    pruner = build_pruner(PrunerConfig.model_validate(settings), k_folds=len(curve_good))
    study = _quadratic_study(pruner)

    def objective(curve: list[float]) -> Callable[[optuna.Trial], float]:
        def run(trial: optuna.Trial) -> float:
            for step, value in enumerate(curve):
                trial.report(value, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return sum(curve) / len(curve)

        return run

    study.optimize(objective(curve_good), n_trials=1)
    study.optimize(objective(curve_bad), n_trials=1)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED]
    assert len(study.trials[1].intermediate_values) < len(curve_bad)  # it really stopped early


def test_none_never_prunes_and_wilcoxon_reports_per_fold() -> None:
    nop = build_pruner(PrunerConfig(type="none"), k_folds=2)
    assert isinstance(nop, optuna.pruners.NopPruner)
    assert reporting_mode(PrunerConfig(type="wilcoxon")) == "fold"
    assert reporting_mode(PrunerConfig(type="median")) == "epoch"
    with pytest.raises(SearchSpaceError, match=r"hpo\.pruner\.type: 'wilcoxon'.*k_folds >= 2"):
        build_pruner(PrunerConfig(type="wilcoxon"), k_folds=1)

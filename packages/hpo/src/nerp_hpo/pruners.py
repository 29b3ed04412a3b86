"""Pruners from the config: ``median``, ``wilcoxon``, ``bandit`` (Azure ML's policy) or ``none``.

Two ways of reporting intermediate values follow from the pruner:

- per epoch (median, bandit, none): step ``fold * max_epochs + epoch``, so a trial can
  stop in the middle of a fold as soon as it falls behind;
- per fold (wilcoxon): step = fold index and value = that fold's score. Optuna's
  WilcoxonPruner pairs the steps of two trials as the same "problem instance"; folds are
  exactly that, while epochs of one fold are not independent instances.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from nerp_hpo.errors import SearchSpaceError
from nerp_infra.config import PrunerConfig

__all__ = [
    "WILCOXON_P_THRESHOLD",
    "BanditPruner",
    "ReportingMode",
    "build_pruner",
    "reporting_mode",
]

ReportingMode = Literal["epoch", "fold"]

WILCOXON_P_THRESHOLD = 0.1
"""p-value under which WilcoxonPruner prunes (Optuna's default; not configurable yet)."""


class BanditPruner(optuna.pruners.BasePruner):
    """Azure ML's bandit early-termination policy as an Optuna pruner.

    At a checked step, a trial is pruned when its value is outside the slack of the best
    value any other trial reported *at the same step* (Azure compares runs at the same
    interval, not against final scores):

    - ``slack_factor`` f: maximize prunes below ``best / (1 + f)``, minimize above
      ``best * (1 + f)``;
    - ``slack_amount`` a: maximize prunes below ``best - a``, minimize above ``best + a``.

    Steps are checked from ``delay_evaluation`` on, every ``evaluation_interval`` steps
    (step ``s`` is checked when ``s >= delay`` and ``(s - delay) % interval == 0``); with
    nerp's step numbering one step is one evaluation (epoch), like one Azure interval is
    one logged value of the primary metric. Trials of every state count as competitors
    (finished, pruned and still running), as in Azure where a running run can be the best.
    """

    def __init__(
        self,
        *,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
    ) -> None:
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("BanditPruner needs exactly one of slack_factor or slack_amount")
        for name, slack in (("slack_factor", slack_factor), ("slack_amount", slack_amount)):
            if slack is not None and not (slack > 0 and math.isfinite(slack)):
                raise ValueError(f"BanditPruner {name} must be a positive number, got {slack}")
        if evaluation_interval < 1:
            raise ValueError(f"evaluation_interval must be >= 1, got {evaluation_interval}")
        if delay_evaluation < 0:
            raise ValueError(f"delay_evaluation must be >= 0, got {delay_evaluation}")
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation

    def is_checked_step(self, step: int) -> bool:
        """Whether the policy is applied at ``step``."""
        offset = step - self.delay_evaluation
        return offset >= 0 and offset % self.evaluation_interval == 0

    def threshold(self, best: float, direction: StudyDirection) -> float:
        """The worst value a trial may have at a step whose best value is ``best``."""
        maximize = direction == StudyDirection.MAXIMIZE
        if self.slack_factor is not None:
            factor = 1.0 + self.slack_factor
            return best / factor if maximize else best * factor
        assert self.slack_amount is not None
        return best - self.slack_amount if maximize else best + self.slack_amount

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or not self.is_checked_step(step):
            return False
        value = trial.intermediate_values[step]
        if not math.isfinite(value):
            return False
        direction = study.direction
        others = [
            t.intermediate_values[step]
            for t in study.get_trials(
                deepcopy=False,
                states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING),
            )
            if t.number != trial.number
            and step in t.intermediate_values
            and math.isfinite(t.intermediate_values[step])
        ]
        if not others:
            return False
        best = max(others) if direction == StudyDirection.MAXIMIZE else min(others)
        limit = self.threshold(best, direction)
        return value < limit if direction == StudyDirection.MAXIMIZE else value > limit


def reporting_mode(pruner: PrunerConfig) -> ReportingMode:
    """How intermediate values are reported for this pruner (see the module doc)."""
    return "fold" if pruner.type == "wilcoxon" else "epoch"


def build_pruner(pruner: PrunerConfig, *, k_folds: int) -> optuna.pruners.BasePruner:
    """The configured pruner; ``k_folds`` lets wilcoxon refuse a single split."""
    if pruner.type == "none":
        return optuna.pruners.NopPruner()
    if pruner.type == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner.n_startup_trials,
            n_warmup_steps=pruner.n_warmup_steps,
            interval_steps=1,
        )
    if pruner.type == "wilcoxon":
        if k_folds < 2:
            raise SearchSpaceError(
                "hpo.pruner.type",
                "'wilcoxon' compares per-fold scores and needs hpo.k_folds >= 2; "
                "use median or bandit with a single split",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(
                p_threshold=WILCOXON_P_THRESHOLD, n_startup_steps=pruner.n_warmup_steps
            )
    if pruner.type == "bandit":
        return BanditPruner(
            slack_factor=pruner.slack_factor,
            slack_amount=pruner.slack_amount,
            evaluation_interval=pruner.evaluation_interval,
            delay_evaluation=pruner.delay_evaluation,
        )
    raise SearchSpaceError("hpo.pruner.type", f"unknown pruner {pruner.type!r}")  # pragma: no cover

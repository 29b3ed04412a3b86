"""The selection rules, as pure functions over trial values and measured latencies.

Two steps, both recorded in the selection artifact:

1. **Champion per backbone.** Each study is a group of trials. A group with fewer than
   ``min_trials_per_group`` complete trials is left out (one lucky trial is not evidence).
   A group's score is the **median of its top-k trial values**: the single best trial of
   a noisy search overstates what its settings reliably give, the median of the best few
   does not. When a backbone has several studies, the group with the best score speaks
   for it; its best trial (the one the study refitted) is the backbone's candidate.

2. **Across backbones**, with latency measured on each candidate's refit checkpoint:

   - ``tolerance``: every candidate whose score is within ``accuracy_tolerance`` of the
     best score (``absolute``: score points; ``relative``: a fraction of the best score)
     is good enough; the fastest of those wins (ties: the higher score). Outside the
     tolerance, accuracy wins however fast the other model is.
   - ``composite``: scores and latencies are min-max normalised over the candidates
     (best score → 1, fastest → 1) and ``f1_weight * score + latency_weight * speed``
     decides (ties: the higher score, then the faster).

A lone candidate wins without a latency measurement (there is nothing to trade off).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Literal

from nerp_eval.errors import SelectionError
from nerp_eval.selection.studies import TrialRecord
from nerp_infra.config import SelectionConfig
from nerp_infra.paths import backbone_component

__all__ = [
    "Candidate",
    "Decision",
    "GroupScore",
    "champion_per_backbone",
    "decide",
    "score_group",
    "stable_score",
]

_EPS = 1e-12


def _trial_dict(trial: TrialRecord) -> dict[str, Any]:
    return {
        "number": trial.number,
        "value": trial.value,
        "params": dict(trial.params),
        "run_id": trial.run_id,
    }


def stable_score(values: Sequence[float], top_k: int, *, maximize: bool = True) -> float:
    """Median of the ``top_k`` best values (all of them when there are fewer)."""
    if not values:
        raise SelectionError("a group without complete trials has no score")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    ordered = sorted(values, reverse=maximize)
    return float(statistics.median(ordered[:top_k]))


@dataclass
class GroupScore:
    """One study's trials summarised for selection, and whether it may compete."""

    study_artifact_id: str
    study_name: str
    backbone: str
    n_complete: int
    top_values: list[float]
    score: float | None
    eligible: bool
    reason: str
    best_trial: TrialRecord | None = None
    maximize: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["best_trial"] = _trial_dict(self.best_trial) if self.best_trial else None
        return data


def score_group(
    *,
    study_artifact_id: str,
    study_name: str,
    backbone: str,
    trials: Sequence[TrialRecord],
    config: SelectionConfig,
    maximize: bool = True,
) -> GroupScore:
    """Score one study's complete trials, or say why it cannot compete."""
    values = [t.value for t in trials if math.isfinite(t.value)]
    finite = [t for t in trials if math.isfinite(t.value)]
    ordered = sorted(values, reverse=maximize)
    top = ordered[: config.top_k]
    group = partial(
        GroupScore,
        study_artifact_id=study_artifact_id,
        study_name=study_name,
        backbone=backbone,
        n_complete=len(finite),
        top_values=top,
        maximize=maximize,
    )
    if len(finite) < config.min_trials_per_group:
        return group(
            score=None,
            eligible=False,
            reason=(
                f"{len(finite)} complete trial(s), fewer than min_trials_per_group "
                f"{config.min_trials_per_group}"
            ),
        )
    best = (max if maximize else min)(finite, key=lambda t: t.value)
    score = stable_score(values, config.top_k, maximize=maximize)
    return group(
        score=score,
        eligible=True,
        reason=f"median of top {len(top)} of {len(finite)} complete trials = {score:.4f}",
        best_trial=best,
    )


def champion_per_backbone(groups: Sequence[GroupScore]) -> dict[str, GroupScore]:
    """The best eligible group of each backbone (ties: more complete trials)."""
    best: dict[str, GroupScore] = {}
    for group in groups:
        if not group.eligible or group.score is None:
            continue
        current = best.get(group.backbone)
        if current is None or _group_key(group) > _group_key(current):
            best[group.backbone] = group
    return best


def _group_key(group: GroupScore) -> tuple[float, int]:
    score = group.score if group.score is not None else -math.inf
    return (score if group.maximize else -score, group.n_complete)


@dataclass
class Candidate:
    """A backbone's champion with its score and measured latency."""

    backbone: str
    score: float
    study_artifact_id: str
    trial: TrialRecord
    latency_ms: float | None = None
    benchmark_id: str | None = None
    # filled in by decide():
    normalised_score: float | None = None
    normalised_speed: float | None = None
    composite: float | None = None
    within_tolerance: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trial"] = _trial_dict(self.trial)
        return data


@dataclass
class Decision:
    """Which candidate won, under which rule, and a sentence saying why."""

    strategy: str
    winner: Candidate
    rule: Literal[
        "only_candidate",
        "faster_within_tolerance",
        "most_accurate_outside_tolerance",
        "most_accurate_and_fastest",
        "composite",
    ]
    reason: str
    candidates: list[Candidate] = field(default_factory=list)
    threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "winner": self.winner.backbone,
            "rule": self.rule,
            "reason": self.reason,
            "threshold": self.threshold,
            "candidates": [c.as_dict() for c in self.candidates],
        }


def _latency(candidate: Candidate) -> float:
    if candidate.latency_ms is None or not math.isfinite(candidate.latency_ms):
        raise SelectionError(
            f"candidate {candidate.backbone!r} has no measured latency; selection between "
            "backbones needs a benchmark of each candidate"
        )
    return candidate.latency_ms


def _normalise(value: float, low: float, high: float) -> float:
    return 1.0 if high - low <= _EPS else (value - low) / (high - low)


def _name(c: Candidate) -> str:
    return backbone_component(c.backbone)


def _describe(c: Candidate) -> str:
    latency = "n/a" if c.latency_ms is None else f"{c.latency_ms:.2f} ms"
    return f"{_name(c)} (score {c.score:.4f}, latency {latency})"


def decide(
    candidates: Sequence[Candidate], config: SelectionConfig, *, latency_label: str = "latency"
) -> Decision:
    """Apply the configured strategy to the backbone champions (see module doc)."""
    if not candidates:
        raise SelectionError("no candidates to select from")
    pool = list(candidates)
    if len(pool) == 1:
        only = pool[0]
        return Decision(
            strategy=config.strategy,
            winner=only,
            rule="only_candidate",
            reason=f"{_describe(only)} is the only candidate backbone",
            candidates=pool,
        )
    latencies = {c.backbone: _latency(c) for c in pool}
    best_score = max(c.score for c in pool)
    low_score = min(c.score for c in pool)
    fast, slow = min(latencies.values()), max(latencies.values())
    for c in pool:
        c.normalised_score = _normalise(c.score, low_score, best_score)
        c.normalised_speed = _normalise(slow - latencies[c.backbone], 0.0, slow - fast)
    most_accurate = max(pool, key=lambda c: (c.score, -latencies[c.backbone]))
    if config.strategy == "composite":
        for c in pool:
            c.composite = config.f1_weight * (c.normalised_score or 0.0) + config.latency_weight * (
                c.normalised_speed or 0.0
            )
        winner = max(
            pool, key=lambda c: (round(c.composite or 0.0, 12), c.score, -latencies[c.backbone])
        )
        table = "; ".join(
            f"{_name(c)}: {config.f1_weight:g}×{c.normalised_score:.3f} + "
            f"{config.latency_weight:g}×{c.normalised_speed:.3f} = {c.composite:.3f}"
            for c in pool
        )
        return Decision(
            strategy="composite",
            winner=winner,
            rule="composite",
            reason=(
                f"composite score (f1_weight {config.f1_weight:g}, latency_weight "
                f"{config.latency_weight:g}; score and speed min-max normalised over the "
                f"candidates, {latency_label}): {table}; {_name(winner)} has the highest"
            ),
            candidates=pool,
        )
    if config.tolerance_mode == "absolute":
        threshold = best_score - config.accuracy_tolerance
        tolerance_text = f"absolute tolerance {config.accuracy_tolerance:g}"
    else:
        threshold = best_score * (1.0 - config.accuracy_tolerance)
        tolerance_text = f"relative tolerance {config.accuracy_tolerance:g} of the best score"
    for c in pool:
        c.within_tolerance = c.score >= threshold - _EPS
    within = [c for c in pool if c.within_tolerance]
    winner = min(within, key=lambda c: (latencies[c.backbone], -c.score))
    outside = [c for c in pool if not c.within_tolerance]
    head = (
        f"best score {best_score:.4f} ({_name(most_accurate)}); {tolerance_text} admits "
        f"scores >= {threshold:.4f}: {', '.join(_describe(c) for c in within)}"
    )
    if outside:
        head += f"; outside: {', '.join(_describe(c) for c in outside)}"
    rule: Literal[
        "faster_within_tolerance", "most_accurate_outside_tolerance", "most_accurate_and_fastest"
    ]
    if winner is not most_accurate:
        rule = "faster_within_tolerance"
        tail = (
            f"{_name(winner)} is the fastest within the tolerance ({latency_label} "
            f"{latencies[winner.backbone]:.2f} ms vs {latencies[most_accurate.backbone]:.2f} ms "
            f"for {_name(most_accurate)}), so the faster model wins"
        )
    elif len(within) == 1:
        rule = "most_accurate_outside_tolerance"
        faster = [c for c in outside if latencies[c.backbone] < latencies[winner.backbone]]
        tail = (
            "no other backbone is within the tolerance"
            + (
                f" ({', '.join(c.backbone for c in faster)} would be faster but is too inaccurate)"
                if faster
                else ""
            )
            + f", so the most accurate model {_name(winner)} wins"
        )
    else:
        rule = "most_accurate_and_fastest"
        tail = f"{_name(winner)} is both the most accurate and the fastest within the tolerance"
    return Decision(
        strategy="tolerance",
        winner=winner,
        rule=rule,
        reason=f"{head}; {tail}",
        candidates=pool,
        threshold=threshold,
    )

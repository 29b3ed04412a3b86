"""A quick screen of which HPO parameters mattered, from the trials alone.

nerp-eval cannot run Optuna's fANOVA (it never imports optuna; the study's own
``param_importances`` plot is linked from the report when nerp-hpo wrote one). This
screen answers a simpler question, transparently: how much of the objective's variance
does each parameter explain *on its own*? Numbers use the squared Spearman correlation
(monotone effects, robust to log scales), choices the correlation ratio η² (between-group
share of variance). Shares are normalised to sum to 1. With fewer than three complete
trials, or no variation, there is nothing to screen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MIN_TRIALS", "parameter_importance"]

MIN_TRIALS = 3


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's correlation needs."""
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def _spearman_squared(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1] ** 2)


def _eta_squared(groups: Sequence[Any], y: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = 0.0
    labels = [repr(g) for g in groups]
    for label in set(labels):
        members = y[[i for i, g in enumerate(labels) if g == label]]
        between += len(members) * float((members.mean() - y.mean()) ** 2)
    return between / total


def parameter_importance(
    trials: Sequence[Mapping[str, Any]], *, value_key: str = "value"
) -> dict[str, float]:
    """Normalised importance per parameter; ``trials`` are dicts with ``params``.

    Returns ``{}`` when there are fewer than :data:`MIN_TRIALS` trials with a value or
    nothing varies.
    """
    rows = [t for t in trials if isinstance(t.get(value_key), int | float)]
    if len(rows) < MIN_TRIALS:
        return {}
    y = np.asarray([float(t[value_key]) for t in rows])
    names = sorted({name for t in rows for name in t.get("params", {})})
    raw: dict[str, float] = {}
    for name in names:
        values = [t.get("params", {}).get(name) for t in rows]
        if len({repr(v) for v in values}) < 2:
            continue
        numbers = [_number(v) for v in values]
        if all(n is not None for n in numbers):
            raw[name] = _spearman_squared(np.asarray(numbers, dtype=float), y)
        else:
            raw[name] = _eta_squared(values, y)
    total = sum(raw.values())
    if total <= 0:
        return {}
    return dict(sorted(((k, v / total) for k, v in raw.items()), key=lambda kv: -kv[1]))

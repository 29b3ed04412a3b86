"""Samplers from the config: ``tpe``, ``random`` or ``grid``, seeded.

A study's first process uses the configured seed, so a single-process study is
reproducible. Every further worker derives its own seed from the configured one and its
process token: workers seeded alike would draw the same parameters in the same order and
evaluate the same configurations twice. For the same reason a study that resumes (after a
crash, a kill or a finished run extended) seeds its sampler from the configured seed and
the number of trials it already holds: reseeded with the configured seed alone, the
sampler would draw trial 0's parameters again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from nerp_hpo.errors import SearchSpaceError
from nerp_infra.config import HpoConfig

__all__ = ["build_sampler", "grid_size", "grid_values", "worker_seed"]


def worker_seed(seed: int | None, worker: str | None, trials_so_far: int = 0) -> int | None:
    """The configured seed for the study's own process (``worker`` None) starting a new
    study, else a seed derived from it, the worker's token and the number of trials the
    study already holds; ``None`` stays ``None`` (unseeded)."""
    if seed is None or (worker is None and trials_so_far == 0):
        return seed
    key = f"{seed}:{worker}" if trials_so_far == 0 else f"{seed}:{worker or ''}:{trials_so_far}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big")


def grid_values(distributions: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every value of every dimension, for Optuna's GridSampler."""
    grid: dict[str, list[Any]] = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            grid[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            count = round((dist.high - dist.low) / dist.step) + 1
            grid[name] = [round(dist.low + i * dist.step, 12) for i in range(count)]
        else:
            raise SearchSpaceError(
                f"hpo.search_space.{name}",
                "sampler 'grid' needs finite dimensions (choice, int without log, or uniform "
                "with step)",
            )
    return grid


def grid_size(distributions: Mapping[str, BaseDistribution]) -> int:
    """How many configurations a grid search has."""
    size = 1
    for values in grid_values(distributions).values():
        size *= len(values)
    return size


def build_sampler(
    hpo: HpoConfig,
    distributions: Mapping[str, BaseDistribution],
    *,
    worker: str | None = None,
    trials_so_far: int = 0,
) -> optuna.samplers.BaseSampler:
    """The configured sampler; ``worker`` is the token of a joining worker and
    ``trials_so_far`` the number of trials the study holds already (see module doc)."""
    seed = worker_seed(hpo.sampler.seed, worker, trials_so_far)
    kind = hpo.sampler.type
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "grid":
        grid = hpo.grid_points()  # the config's own enumeration of each dimension
        grid.update({k: v for k, v in grid_values(distributions).items() if k not in grid})
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise SearchSpaceError("hpo.sampler.type", f"unknown sampler {kind!r}")  # pragma: no cover

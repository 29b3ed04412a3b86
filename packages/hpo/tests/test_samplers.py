"""Samplers: seeded and reproducible, distinct per worker, grid exhaustive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest

from nerp_hpo import plan_study
from nerp_hpo.samplers import build_sampler, grid_size, worker_seed
from nerp_hpo.space import build_distributions, suggest_params


def _draws(config: Any, n: int, *, worker: str | None = None) -> list[dict[str, Any]]:
    dists = build_distributions(config.hpo)
    study = optuna.create_study(sampler=build_sampler(config.hpo, dists, worker=worker))
    draws = []
    for _ in range(n):
        trial = study.ask()
        params = suggest_params(trial, dists)
        draws.append(params)
        study.tell(trial, float(sum(hash(str(v)) % 97 for v in params.values())))
    return draws


@pytest.mark.parametrize("kind", ["random", "tpe"])
def test_same_seed_same_draws_and_workers_draw_differently(
    tiny_experiment: Callable[..., Any], kind: str
) -> None:
    config = tiny_experiment({"hpo": {"sampler": {"type": kind, "seed": 11}}})
    first, again = _draws(config, 6), _draws(config, 6)
    assert first == again
    other = _draws(config, 6, worker="host:123")
    assert other != first
    assert _draws(config, 6, worker="host:456") != other


def test_worker_seed_keeps_unseeded_studies_unseeded() -> None:
    assert worker_seed(None, "host:1") is None
    assert worker_seed(5, None) == 5
    assert worker_seed(5, "host:1") != worker_seed(5, "host:2")


def test_grid_visits_every_point_once_and_caps_the_budget(
    tiny_experiment: Callable[..., Any],
) -> None:
    config = tiny_experiment(
        {
            "hpo": {
                "n_trials": 50,
                "sampler": {"type": "grid", "seed": 1},
                "search_space": {
                    "batch_size": {"type": "choice", "values": [8, 16]},
                    "dropout": {"type": "uniform", "low": 0.0, "high": 0.2, "step": 0.1},
                    "epochs": {"type": "int", "low": 1, "high": 2},
                },
            }
        }
    )
    dists = build_distributions(config.hpo)
    assert grid_size(dists) == 12
    assert plan_study(config).budget == 12
    study = optuna.create_study(sampler=build_sampler(config.hpo, dists))
    study.optimize(lambda t: float(len(suggest_params(t, dists))), n_trials=50)
    assert len(study.trials) == 12  # GridSampler stops the study when the grid is done
    seen = {
        (t.params["batch_size"], round(t.params["dropout"], 6), t.params["epochs"])
        for t in study.trials
    }
    assert len(seen) == 12

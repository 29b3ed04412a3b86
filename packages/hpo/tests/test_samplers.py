"""Samplers: seeded and reproducible, distinct per worker, grid exhaustive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from nerp_hpo import plan_study
from nerp_hpo.samplers import build_sampler, grid_size, worker_seed
from nerp_hpo.session import open_study
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


_HOLD_TRIAL_0 = """
import json, os, sys, time
from nerp_hpo.session import open_study
from nerp_hpo.space import build_distributions, suggest_params
from nerp_infra.config import ExperimentConfig

config = ExperimentConfig.model_validate_json(sys.argv[3])
study = open_study("s", sys.argv[1], config=config, create=True)
trial = study.ask()
params = suggest_params(trial, build_distributions(config.hpo))
with open(sys.argv[2], "w") as handle:
    json.dump({"number": trial.number, "params": params}, handle)
time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["random", "tpe"])
def test_a_study_resumed_after_a_kill_never_redraws_the_parameters_it_tried(
    tmp_path: Path, tiny_experiment: Callable[..., Any], kind: str
) -> None:
    """kill -9 during trial 0, then resume: every trial the new process samples has
    parameters no earlier trial had (the sampler used to restart from the same seed)."""
    config = tiny_experiment({"hpo": {"sampler": {"type": kind, "seed": 7}}})
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    marker = tmp_path / "trial0.json"
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD_TRIAL_0, url, str(marker), config.model_dump_json()]
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            assert process.poll() is None, "the trial-0 process exited early"
            assert time.monotonic() < deadline, "trial 0 never started"
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    first = json.loads(marker.read_text())["params"]

    dists = build_distributions(config.hpo)
    tried = [first]
    for _ in range(3):  # three more resumes, each drawing two trials
        study = open_study("s", url, config=config)
        for _ in range(2):
            trial = study.ask()
            params = suggest_params(trial, dists)
            assert params["learning_rate"] not in [p["learning_rate"] for p in tried]
            tried.append(params)
            study.tell(trial, 0.5)
    assert len(study.trials) == 7


def test_resumed_seeds_differ_by_trial_count_and_stay_reproducible() -> None:
    assert worker_seed(5, None, 0) == 5
    assert worker_seed(5, None, 3) == worker_seed(5, None, 3) != worker_seed(5, None, 4) != 5
    assert worker_seed(5, "host:1", 3) != worker_seed(5, None, 3)

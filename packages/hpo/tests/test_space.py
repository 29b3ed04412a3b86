"""Search space: config dimensions as Optuna distributions, trial configs from draws."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from nerp_hpo.errors import SearchSpaceError
from nerp_hpo.space import (
    BACKBONE_PARAM,
    build_distributions,
    max_epochs,
    suggest_params,
    trial_model_config,
    trial_train_config,
)


def test_each_dimension_type_becomes_its_optuna_distribution(
    tiny_experiment: Callable[..., Any],
) -> None:
    config = tiny_experiment(
        {
            "hpo": {
                "search_space": {
                    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
                    "dropout": {"type": "uniform", "low": 0.0, "high": 0.3, "step": 0.1},
                    "weight_decay": {"type": "uniform", "low": 0.0, "high": 0.1},
                    "epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
                    "gradient_accumulation_steps": {
                        "type": "int",
                        "low": 1,
                        "high": 8,
                        "log": True,
                    },
                    "batch_size": {"type": "choice", "values": [8, 16]},
                }
            }
        }
    )
    dists = build_distributions(config.hpo)
    assert dists["learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["dropout"] == FloatDistribution(0.0, 0.3, step=0.1)
    assert dists["weight_decay"] == FloatDistribution(0.0, 0.1)
    assert dists["epochs"] == IntDistribution(1, 5, step=2)
    assert dists["gradient_accumulation_steps"] == IntDistribution(1, 8, log=True)
    assert dists["batch_size"] == CategoricalDistribution([8, 16])
    assert list(dists) == list(config.hpo.search_space)  # config order kept


def test_a_step_that_does_not_divide_the_range_names_the_key(
    tiny_experiment: Callable[..., Any],
) -> None:
    config = tiny_experiment(
        {
            "hpo": {
                "search_space": {
                    "dropout": {"type": "uniform", "low": 0.0, "high": 0.3, "step": 0.07}
                }
            }
        }
    )
    with pytest.raises(SearchSpaceError, match=r"hpo\.search_space\.dropout: step 0\.07"):
        build_distributions(config.hpo)
    config = tiny_experiment(
        {"hpo": {"search_space": {"epochs": {"type": "int", "low": 1, "high": 6, "step": 2}}}}
    )
    with pytest.raises(SearchSpaceError, match=r"search_space\.epochs: step 2 does not divide"):
        build_distributions(config.hpo)


def test_backbone_is_a_dimension_only_when_one_study_covers_several(
    tiny_experiment: Callable[..., Any],
) -> None:
    per_backbone = tiny_experiment({"hpo": {"backbones": ["tiny", "minilm"]}})
    assert BACKBONE_PARAM not in build_distributions(per_backbone.hpo)
    shared = tiny_experiment(
        {"hpo": {"backbones": ["tiny", "minilm"], "study_per_backbone": False}}
    )
    assert build_distributions(shared.hpo)[BACKBONE_PARAM] == CategoricalDistribution(
        ["tiny", "minilm"]
    )


def test_suggest_params_draws_inside_the_space_and_fixed_trials_get_their_values(
    tiny_experiment: Callable[..., Any],
) -> None:
    config = tiny_experiment(
        {"hpo": {"backbones": ["tiny", "minilm"], "study_per_backbone": False}}
    )
    dists = build_distributions(config.hpo)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        trial = study.ask()
        params = suggest_params(trial, dists)
        assert 5e-3 <= params["learning_rate"] <= 3e-2
        assert params["batch_size"] in (8, 16)
        assert params[BACKBONE_PARAM] in ("tiny", "minilm")
        study.tell(trial, 0.0)
    fixed = {"learning_rate": 0.01, "batch_size": 16, BACKBONE_PARAM: "minilm"}
    assert suggest_params(optuna.trial.FixedTrial(fixed), dists) == fixed


def test_trial_configs_apply_the_draw_and_validate_it(tiny_experiment: Callable[..., Any]) -> None:
    config = tiny_experiment(
        {"hpo": {"backbones": ["tiny", "minilm"], "study_per_backbone": False}}
    )
    params = {"learning_rate": 0.02, "batch_size": 16, BACKBONE_PARAM: "minilm"}
    train = trial_train_config(config.train, params)
    assert (train.learning_rate, train.batch_size, train.epochs) == (0.02, 16, 1)
    assert trial_model_config(config.model, params, "tiny").backbone == "minilm"
    assert trial_model_config(config.model, {"learning_rate": 0.1}, "tiny").backbone == "tiny"
    with pytest.raises(SearchSpaceError, match="learning_rate"):
        trial_train_config(config.train, {"learning_rate": 2.0})


def test_max_epochs_follows_a_searched_epochs_dimension(
    tiny_experiment: Callable[..., Any],
) -> None:
    assert max_epochs(tiny_experiment().hpo, tiny_experiment().train) == 1
    searched = tiny_experiment(
        {"hpo": {"search_space": {"epochs": {"type": "choice", "values": [2, 5, 3]}}}}
    )
    assert max_epochs(searched.hpo, searched.train) == 5
    ranged = tiny_experiment(
        {"hpo": {"search_space": {"epochs": {"type": "int", "low": 1, "high": 4}}}}
    )
    assert max_epochs(ranged.hpo, ranged.train) == 4


def test_log_uniform_draws_spread_over_orders_of_magnitude(
    tiny_experiment: Callable[..., Any],
) -> None:
    config = tiny_experiment(
        {
            "hpo": {
                "search_space": {"learning_rate": {"type": "loguniform", "low": 1e-6, "high": 1e-2}}
            }
        }
    )
    dists = build_distributions(config.hpo)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    draws = []
    for _ in range(200):
        trial = study.ask()
        draws.append(suggest_params(trial, dists)["learning_rate"])
        study.tell(trial, 0.0)
    below = sum(1 for d in draws if d < 1e-4)  # half the log range lies below 1e-4
    assert 0.35 < below / len(draws) < 0.65
    assert all(math.isfinite(d) and 1e-6 <= d <= 1e-2 for d in draws)

"""Azure ML sweep job from the same search space; the dry-run YAML loads with load_job.

Azure ML cannot run here: the job is built with the real SDK, written as YAML and loaded
back with ``azure.ai.ml.load_job``, which applies the service's own schema.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nerp_hpo.cli import app
from nerp_hpo.sweep import plan_sweep, trial_command
from nerp_infra.config import load_experiment

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]


def test_search_space_translation_uses_azure_log_space_bounds(
    tiny_experiment: Callable[..., Any],
) -> None:
    config = tiny_experiment(
        {
            "hpo": {
                "sampler": {"type": "random"},
                "search_space": {
                    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 3e-3},
                    "dropout": {"type": "uniform", "low": 0.0, "high": 0.3, "step": 0.1},
                    "weight_decay": {"type": "uniform", "low": 0.0, "high": 0.1},
                    "epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
                    "batch_size": {"type": "choice", "values": [8, 16]},
                },
            }
        }
    )
    plan = plan_sweep(config)
    space = plan.search_space
    lr = space["learning_rate"]
    assert type(lr).__name__ == "LogUniform"
    assert lr.min_value == pytest.approx(math.log(1e-4))
    assert lr.max_value == pytest.approx(math.log(3e-3))
    assert math.exp(lr.min_value) == pytest.approx(1e-4)
    assert (type(space["dropout"]).__name__, space["dropout"].q) == ("QUniform", 0.1)
    assert type(space["weight_decay"]).__name__ == "Uniform"
    assert space["epochs"].values == [1, 3, 5]
    assert space["batch_size"].values == [8, 16]
    assert plan.sampling_algorithm == "random"
    assert (plan.primary_metric, plan.goal) == ("f1_micro", "Maximize")


def test_sampler_and_pruner_mapping(tiny_experiment: Callable[..., Any]) -> None:
    bayes = plan_sweep(
        tiny_experiment(
            {
                "hpo": {
                    "sampler": {"type": "tpe"},
                    "search_space": {"dropout": {"type": "uniform", "low": 0.0, "high": 0.3}},
                }
            }
        )
    )
    assert (bayes.sampling_algorithm, bayes.early_termination, bayes.warnings) == (
        "bayesian",
        None,
        [],
    )
    logspace = plan_sweep(tiny_experiment({"hpo": {"sampler": {"type": "tpe"}}}))
    assert logspace.sampling_algorithm == "random"
    assert "learning_rate" in logspace.warnings[0]
    bandit = plan_sweep(
        tiny_experiment(
            {
                "hpo": {
                    "pruner": {
                        "type": "bandit",
                        "slack_amount": 0.02,
                        "evaluation_interval": 2,
                        "delay_evaluation": 3,
                    }
                }
            }
        )
    )
    policy = bandit.early_termination
    assert type(policy).__name__ == "BanditPolicy"
    assert (policy.slack_amount, policy.evaluation_interval, policy.delay_evaluation) == (
        0.02,
        2,
        3,
    )
    median = plan_sweep(
        tiny_experiment({"hpo": {"pruner": {"type": "median", "n_warmup_steps": 4}}})
    )
    assert type(median.early_termination).__name__ == "MedianStoppingPolicy"
    assert median.early_termination.delay_evaluation == 4
    wilcoxon = plan_sweep(tiny_experiment({"hpo": {"pruner": {"type": "wilcoxon"}}}))
    assert wilcoxon.early_termination is None
    assert "wilcoxon" in wilcoxon.warnings[0]


def test_grid_sweeps_enumerate_choices_and_limit_trials(
    tiny_experiment: Callable[..., Any],
) -> None:
    plan = plan_sweep(
        tiny_experiment(
            {
                "hpo": {
                    "n_trials": 100,
                    "sampler": {"type": "grid"},
                    "search_space": {
                        "dropout": {"type": "uniform", "low": 0.0, "high": 0.2, "step": 0.1},
                        "batch_size": {"type": "choice", "values": [8, 16]},
                    },
                }
            }
        )
    )
    assert plan.sampling_algorithm == "grid"
    assert plan.search_space["dropout"].values == [0.0, 0.1, 0.2]
    assert plan.max_total_trials == 6
    assert plan.max_concurrent_trials == 4


def test_trial_command_passes_every_dimension(tiny_experiment: Callable[..., Any]) -> None:
    command = trial_command(
        tiny_experiment({"hpo": {"backbones": ["tiny", "minilm"], "study_per_backbone": False}})
    )
    assert command.startswith("nerp hpo trial experiment.yaml --dataset ${{inputs.dataset}}")
    for name in ("learning_rate", "batch_size", "backbone"):
        assert f"--param {name}=${{{{inputs.{name}}}}}" in command


def test_dry_run_writes_a_sweep_yaml_that_load_job_accepts(
    tmp_path: Path, write_experiment: Callable[..., Path]
) -> None:
    from azure.ai.ml import load_job

    experiment = write_experiment(
        {
            "hpo": {
                "sampler": {"type": "random"},
                "pruner": {"type": "bandit", "slack_factor": 0.2, "delay_evaluation": 1},
                "timeout_s": 3600,
            }
        }
    )
    out = tmp_path / "jobs"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(experiment),
            "--target",
            "azureml",
            "--dry-run",
            "--out",
            str(out),
            "--output-root",
            str(tmp_path / "outputs"),
            "--max-concurrent",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    job: Any = load_job(source=out / "hpo_sweep.yml")
    assert type(job).__name__ == "SweepJob"
    assert job.objective.primary_metric == "f1_micro"
    assert job.objective.goal.lower() == "maximize"
    assert job.sampling_algorithm == "random"
    assert (job.limits.max_total_trials, job.limits.max_concurrent_trials) == (2, 2)
    assert job.limits.timeout == 3600
    lr = job.search_space["learning_rate"]
    assert (lr.min_value, lr.max_value) == pytest.approx((math.log(5e-3), math.log(3e-2)))
    assert job.early_termination.slack_factor == 0.2
    assert job.early_termination.delay_evaluation == 1
    assert "${{search_space.learning_rate}}" in job.trial.command
    assert "path: azureml:nerp-dataset:" in (out / "hpo_sweep.yml").read_text()
    assert str(job.inputs["dataset"].path).startswith("nerp-dataset:")
    resolved = load_experiment(out / "code" / "experiment.yaml")
    assert resolved.hpo.pruner.slack_factor == 0.2
    assert resolved.model.max_length == 64


def test_dry_run_flags_are_checked(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--dry-run"])
    assert result.exit_code == 2
    assert "--dry-run only applies with --target azureml" in result.output
    result = CliRunner().invoke(app, ["run", "--target", "aws"])
    assert result.exit_code == 2
    assert "must be local or azureml" in result.output


# -- recording a finished sweep: children as Optuna trials -----------------------------


def _complete(params: dict[str, Any], value: float = 0.5) -> dict[str, Any]:
    return {
        "complete": True,
        "value": value,
        "fold_scores": [value - 0.1, value + 0.1],
        "cv_std": 0.1,
        "params": params,
        "intermediate": {0: value - 0.1, 1: value + 0.1},
    }


def test_children_become_trials_with_azure_drawn_values_in_the_study_space(
    tiny_experiment: Callable[..., Any],
) -> None:
    from optuna.trial import TrialState

    from nerp_hpo.space import build_distributions
    from nerp_hpo.sweep_children import AZUREML_CHILD_ATTR, ChildResult, child_trial

    space = build_distributions(tiny_experiment().hpo)
    # Azure draws loguniform as exp(uniform(ln low, ln high)): the top can overshoot by an ulp.
    high = math.exp(math.log(3e-2))
    drawn = {"learning_rate": high, "batch_size": 16.0}  # a QUniform-style float for an int
    done = child_trial(ChildResult("sweep_0", "Completed", drawn, _complete(drawn)), space)
    assert done.state == TrialState.COMPLETE and done.value == 0.5
    assert done.params == {"learning_rate": pytest.approx(3e-2), "batch_size": 16}
    assert done.params["learning_rate"] <= 3e-2
    assert done.user_attrs[AZUREML_CHILD_ATTR] == "sweep_0"
    assert done.user_attrs["fold_scores"] == [0.4, 0.6]
    assert done.intermediate_values == {0: 0.4, 1: 0.6}

    partial = {**_complete({"learning_rate": 0.01, "batch_size": 8}), "complete": False}
    partial["value"] = None
    partial["intermediate"] = {0: 0.2}
    cancelled = child_trial(ChildResult("sweep_1", "Canceled", partial["params"], partial), space)
    assert cancelled.state == TrialState.PRUNED and cancelled.value is None
    assert cancelled.intermediate_values == {0: 0.2}
    assert cancelled.user_attrs["pruned_at_step"] == 0

    failed = child_trial(
        ChildResult("sweep_2", "Failed", {"learning_rate": 0.01, "batch_size": 8}, None, "boom"),
        space,
    )
    assert failed.state == TrialState.FAIL and failed.user_attrs["nerp_error"] == "boom"
    assert failed.params == {"learning_rate": 0.01, "batch_size": 8}

    # A value the study's space cannot hold is not silently clipped: the trial fails.
    wrong = {"learning_rate": 0.5, "batch_size": 8}
    outside = child_trial(ChildResult("sweep_3", "Completed", wrong, _complete(wrong)), space)
    assert outside.state == TrialState.FAIL and outside.params == {}
    assert "learning_rate" in outside.user_attrs["nerp_error"]
    assert outside.user_attrs["azureml_params"]["learning_rate"] == "0.5"


def test_one_sweep_is_one_study(tiny_experiment: Callable[..., Any]) -> None:
    from nerp_hpo.errors import HpoError
    from nerp_hpo.sweep_record import sweep_study_plan

    with pytest.raises(HpoError, match="submit one sweep per backbone"):
        sweep_study_plan(tiny_experiment({"hpo": {"backbones": ["tiny", "minilm"]}}))
    searched = sweep_study_plan(
        tiny_experiment({"hpo": {"backbones": ["tiny", "minilm"], "study_per_backbone": False}})
    )
    assert searched.backbone == "all" and "backbone" in searched.distributions

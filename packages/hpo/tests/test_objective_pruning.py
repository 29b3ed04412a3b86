"""The CV objective with the real trainer: pruning stops a bad trial in its first fold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nerp_hpo.folds import cv_documents, study_folds
from nerp_hpo.objective import CvObjective
from nerp_hpo.pruners import build_pruner, reporting_mode
from nerp_hpo.runs import StudyTracker
from nerp_hpo.space import build_distributions, max_epochs
from nerp_hpo.storage import default_storage_url
from nerp_hpo.trials import run_trials
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.paths import OutputLayout
from nerp_infra.tracking import setup_mlflow
from nerp_training.data import prepare_dataset


@pytest.mark.slow
def test_a_trial_under_a_pruning_config_stops_early_and_is_recorded_pruned(
    tmp_path: Path, tiny_experiment: Callable[..., Any]
) -> None:
    config = tiny_experiment(
        {
            "train": {"epochs": 2},
            "hpo": {
                "search_space": {
                    "learning_rate": {"type": "loguniform", "low": 1e-7, "high": 5e-2}
                },
                "pruner": {"type": "bandit", "slack_amount": 0.02},
            },
        }
    )
    dataset = prepare_dataset(
        config.data, index=ArtifactIndex(tmp_path), layout=OutputLayout(tmp_path)
    )
    folds = study_folds(dataset, k=2, seed=config.data.split.seed, directory=tmp_path)
    setup_mlflow(output_root=tmp_path)
    tracker = StudyTracker(
        enabled=True,
        naming=config.naming,
        prefix="nerp",
        study_base="t",
        backbone="tiny",
        version=1,
        study_name="prune",
    )
    objective = CvObjective(
        hpo=config.hpo,
        model=config.model,
        train=config.train,
        backbone="tiny",
        distributions=build_distributions(config.hpo),
        folds=folds,
        documents=cv_documents(dataset),
        entity_types=dataset.labels,
        work_dir=tmp_path / "trials",
        reporting=reporting_mode(config.hpo.pruner),
        max_epochs=max_epochs(config.hpo, config.train),
        tracker=tracker,
    )
    study = optuna.create_study(
        study_name="prune",
        storage=default_storage_url(tmp_path),
        direction="maximize",
        pruner=build_pruner(config.hpo.pruner, k_folds=2),
    )
    study.enqueue_trial({"learning_rate": 1e-2})  # learns: a clear best at every step
    study.enqueue_trial({"learning_rate": 1e-7})  # cannot learn anything in two epochs
    with tracker.parent():
        counts = run_trials(study, objective, budget=2)
    assert (counts.complete, counts.pruned) == (1, 1)
    good, bad = study.trials
    assert good.state == TrialState.COMPLETE
    assert good.user_attrs["epochs_trained"] == 4  # 2 folds x 2 epochs
    assert sorted(good.intermediate_values) == [0, 1, 2, 3]  # fold * max_epochs + epoch
    assert bad.state == TrialState.PRUNED
    assert bad.user_attrs["epochs_trained"] == 1  # stopped after its first evaluation
    assert list(bad.intermediate_values) == [0]
    assert bad.user_attrs["pruned_at_step"] == 0
    assert bad.intermediate_values[0] < good.intermediate_values[0] - 0.02
    assert not (tmp_path / "trials").exists() or not any((tmp_path / "trials").rglob("*.bin"))

    import mlflow

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    bad_run = next(
        r
        for r in runs
        if r.data.tags.get("nerp.role") == "trial" and r.data.tags["nerp.trial_number"] == "1"
    )
    assert bad_run.info.status == "FINISHED"
    assert bad_run.data.tags["nerp.status_reason"] == "pruned"

"""One trial with given values, outside any study: what an Azure ML sweep trial runs.

The CV objective is the same as in a local study; Optuna's role is played by a
``FixedTrial`` that answers every ``suggest_*`` with the given value and turns each
intermediate report into an MLflow metric (the objective metric at that step), which is
what Azure ML's early-termination policies read. The CV mean is logged last under the
same name, so it is the trial's final value.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nerp_hpo.errors import SearchSpaceError
from nerp_hpo.folds import cv_documents, study_folds
from nerp_hpo.objective import FOLD_SCORES_ATTR, CvObjective, FoldTrainer
from nerp_hpo.pruners import reporting_mode
from nerp_hpo.runs import StudyTracker
from nerp_hpo.space import BACKBONE_PARAM, build_distributions, max_epochs
from nerp_infra.config import ExperimentConfig
from nerp_training.data import PreparedDataset

__all__ = ["ReportingTrial", "TrialResult", "check_params", "evaluate_params"]


class ReportingTrial(optuna.trial.FixedTrial):
    """A FixedTrial whose ``report`` calls ``on_report(value, step)``; it never prunes
    (on Azure the sweep's policy cancels the job instead)."""

    def __init__(self, params: Mapping[str, Any], on_report: Callable[[float, int], None]) -> None:
        super().__init__(dict(params))
        self._on_report = on_report
        self.reports: dict[int, float] = {}

    def report(self, value: float, step: int) -> None:
        self.reports[step] = float(value)
        self._on_report(float(value), step)


@dataclass(frozen=True)
class TrialResult:
    value: float
    fold_scores: list[float]
    params: dict[str, Any]
    intermediate: dict[int, float]


def check_params(config: ExperimentConfig, params: Mapping[str, Any]) -> None:
    """Every dimension of the study gets exactly one value (names checked, not ranges:
    a value outside the range is a legitimate "what if")."""
    expected = set(build_distributions(config.hpo))
    unknown = sorted(set(params) - expected)
    missing = sorted(expected - set(params))
    if unknown:
        raise SearchSpaceError(
            f"--param {unknown[0]}",
            f"not a dimension of hpo.search_space ({', '.join(sorted(expected))})",
        )
    if missing:
        raise SearchSpaceError(
            "--param", f"no value for {', '.join(missing)} (every dimension needs one)"
        )


def evaluate_params(
    config: ExperimentConfig,
    params: Mapping[str, Any],
    *,
    dataset: PreparedDataset,
    output_dir: Path,
    log_to_mlflow: bool = True,
    trainer: FoldTrainer | None = None,
) -> TrialResult:
    """Cross-validate one configuration; with ``log_to_mlflow`` the objective metric is
    logged on the active MLflow run (started here when none is) at every step."""
    check_params(config, params)
    hpo = config.hpo
    metric = hpo.objective_metric

    def on_report(value: float, step: int) -> None:
        if log_to_mlflow:
            import mlflow

            mlflow.log_metric(metric, value, step=step)

    trial = ReportingTrial(params, on_report)
    backbone = str(params.get(BACKBONE_PARAM) or config.model.backbone)
    tracker = StudyTracker(
        enabled=False,
        naming=config.naming,
        prefix=config.tracking.experiment_prefix,
        study_base=hpo.study_name,
        backbone=backbone,
        version=1,
        study_name=hpo.study_name,
    )
    objective = CvObjective(
        hpo=hpo,
        model=config.model,
        train=config.train,
        backbone=backbone,
        distributions=build_distributions(hpo),
        folds=study_folds(dataset, k=hpo.k_folds, seed=config.data.split.seed, directory=None),
        documents=cv_documents(dataset),
        entity_types=dataset.labels,
        work_dir=output_dir,
        reporting=reporting_mode(hpo.pruner),
        max_epochs=max_epochs(hpo, config.train),
        tracker=tracker,
        keep_checkpoints=False,
        trainer=trainer,
    )
    value = objective(trial)
    scores = [float(s) for s in trial.user_attrs.get(FOLD_SCORES_ATTR, [])]
    if log_to_mlflow:
        import mlflow

        last = max(trial.reports, default=-1) + 1
        mlflow.log_metric(metric, value, step=last)
        mlflow.log_metrics(
            {
                "cv_mean": value,
                "cv_std": statistics.pstdev(scores) if len(scores) > 1 else 0.0,
            }
        )
    return TrialResult(
        value=value, fold_scores=scores, params=dict(params), intermediate=dict(trial.reports)
    )

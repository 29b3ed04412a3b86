"""The CV objective: one trial trains every fold on its training part, scores it on its
held-out part, and returns the mean score.

Intermediate values go to Optuna as they happen (see :mod:`nerp_hpo.pruners` for the
step numbering), so a bad trial stops in the middle of a fold: ``train_model`` lets the
``TrialPruned`` raised from its ``on_evaluate`` hook unwind the Trainer. The last
evaluation of the last fold is reported but never pruned: stopping there saves nothing
and would throw away a finished CV score.

Per-fold scores, mean and standard deviation are trial user attributes (``fold_scores``,
``cv_mean``, ``cv_std``), and ``epochs_trained`` counts the epochs a trial paid for,
which is what the pruning benchmark adds up.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from nerp_hpo.pruners import ReportingMode
from nerp_hpo.runs import StudyTracker, mirror_tags
from nerp_hpo.space import suggest_params, trial_model_config, trial_train_config
from nerp_infra.config import HpoConfig, ModelConfig, TrainConfig
from nerp_infra.documents import Document
from nerp_training.data import Fold

__all__ = [
    "CV_MEAN_ATTR",
    "CV_STD_ATTR",
    "EPOCHS_ATTR",
    "FOLD_SCORES_ATTR",
    "RUN_ID_ATTR",
    "CvObjective",
    "FoldTrainer",
    "trial_dir_name",
]

FOLD_SCORES_ATTR = "fold_scores"
CV_MEAN_ATTR = "cv_mean"
CV_STD_ATTR = "cv_std"
EPOCHS_ATTR = "epochs_trained"
PRUNED_STEP_ATTR = "pruned_at_step"
RUN_ID_ATTR = "nerp_mlflow_run_id"

FoldTrainer = Callable[..., Any]
"""``nerp_training.trainer.train_model`` or a stand-in with the same keyword arguments."""


def trial_dir_name(number: int) -> str:
    return f"trial-{number:04d}"


def _default_trainer() -> FoldTrainer:
    from nerp_training.trainer import train_model

    return train_model


@dataclass
class CvObjective:
    """Callable objective over fixed folds; see the module doc.

    ``work_dir`` holds each fold's training output (``trial-NNNN/fold-K``); it is
    removed after the fold unless ``keep_checkpoints``.
    """

    hpo: HpoConfig
    model: ModelConfig
    train: TrainConfig
    backbone: str
    distributions: Mapping[str, BaseDistribution]
    folds: Sequence[Fold]
    documents: Sequence[Document]
    entity_types: Sequence[str]
    work_dir: Path
    reporting: ReportingMode
    max_epochs: int
    tracker: StudyTracker
    keep_checkpoints: bool = False
    progress: bool = False
    trainer: FoldTrainer | None = None

    def __post_init__(self) -> None:
        self._by_id = {doc.id: doc for doc in self.documents}

    def _select(self, fold: Fold) -> tuple[list[Document], list[Document]]:
        return fold.select(self._by_id.values())

    def __call__(self, trial: optuna.Trial | optuna.trial.FixedTrial) -> float:
        params = suggest_params(trial, self.distributions)
        train_config = trial_train_config(self.train, params)
        model_config = trial_model_config(self.model, params, self.backbone)
        train_model = self.trainer or _default_trainer()
        metric = self.hpo.objective_metric
        scores: list[float] = []
        epochs = 0
        started = time.monotonic()
        with self.tracker.trial(trial.number, params) as run_id:
            if run_id is not None:
                trial.set_user_attr(RUN_ID_ATTR, run_id)
            try:
                last_fold = len(self.folds) - 1
                for position, fold in enumerate(self.folds):
                    train_docs, eval_docs = self._select(fold)
                    seen = 0
                    final_fold = position == last_fold

                    def on_evaluate(
                        _epoch: int,
                        metrics: Mapping[str, float],
                        fold: Fold = fold,
                        final_fold: bool = final_fold,
                    ) -> None:
                        nonlocal seen, epochs
                        step_in_fold = seen
                        seen += 1
                        epochs += 1
                        value = float(metrics[metric])
                        self.tracker.log_metrics(dict(metrics), step=step_in_fold + 1)
                        if self.reporting != "epoch":
                            return
                        step = fold.index * self.max_epochs + step_in_fold
                        trial.report(value, step)
                        if final_fold and seen >= train_config.epochs:
                            return  # nothing left to save: keep the finished CV value
                        if trial.should_prune():
                            trial.set_user_attr(PRUNED_STEP_ATTR, step)
                            raise optuna.TrialPruned(
                                f"{metric} {value:.4f} at fold {fold.index} epoch "
                                f"{step_in_fold + 1} (step {step})"
                            )

                    out = self.work_dir / trial_dir_name(trial.number) / f"fold-{fold.index}"
                    try:
                        with self.tracker.fold(trial.number, fold.index, run_id):
                            result = train_model(
                                train_docs=train_docs,
                                eval_docs=eval_docs,
                                entity_types=self.entity_types,
                                model_config=model_config,
                                train_config=train_config,
                                output_dir=out,
                                on_evaluate=on_evaluate,
                                save_model=self.keep_checkpoints,
                                progress=self.progress,
                            )
                    finally:
                        trial.set_user_attr(EPOCHS_ATTR, epochs)
                        if not self.keep_checkpoints:
                            shutil.rmtree(out, ignore_errors=True)
                    score = _fold_score(result, metric)
                    scores.append(score)
                    trial.set_user_attr(FOLD_SCORES_ATTR, scores)
                    self.tracker.log_metrics({f"fold_{metric}": score}, step=fold.index)
                    if self.reporting == "fold":
                        trial.report(score, fold.index)
                        if not final_fold and trial.should_prune():
                            trial.set_user_attr(PRUNED_STEP_ATTR, fold.index)
                            raise optuna.TrialPruned(
                                f"fold scores {[round(s, 4) for s in scores]} are worse than "
                                "the best trial's (Wilcoxon signed-rank test)"
                            )
            finally:
                self._finish(trial, scores, time.monotonic() - started)
        return statistics.fmean(scores)

    def _finish(
        self, trial: optuna.Trial | optuna.trial.FixedTrial, scores: list[float], seconds: float
    ) -> None:
        attrs: dict[str, Any] = {FOLD_SCORES_ATTR: scores}
        if scores and len(scores) == len(self.folds):  # a pruned trial has no CV value
            attrs[CV_MEAN_ATTR] = statistics.fmean(scores)
            attrs[CV_STD_ATTR] = statistics.pstdev(scores) if len(scores) > 1 else 0.0
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        summary = {k: v for k, v in attrs.items() if k != FOLD_SCORES_ATTR}
        self.tracker.log_metrics({**summary, "folds_done": len(scores), "trial_seconds": seconds})
        self.tracker.set_tags(mirror_tags("optuna.trial", {**trial.user_attrs, **attrs}))


def _fold_score(result: Any, metric: str) -> float:
    """The fold's score: the kept (best) epoch's metric, else the best epoch in history."""
    metrics: Mapping[str, float] = getattr(result, "metrics", {}) or {}
    if metric in metrics:
        return float(metrics[metric])
    values = [float(r[metric]) for r in getattr(result, "history", []) if metric in r]
    if not values:
        raise RuntimeError(f"training reported no {metric!r}; the fold had no evaluation documents")
    return max(values)

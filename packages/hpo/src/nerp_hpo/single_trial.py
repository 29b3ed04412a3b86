"""One trial with given values, outside any study: what an Azure ML sweep trial runs.

The CV objective is the same as in a local study; Optuna's role is played by a
``FixedTrial`` that answers every ``suggest_*`` with the given value and turns each
intermediate report into an MLflow metric (the objective metric at that step), which is
what Azure ML's early-termination policies read. The CV mean is logged last under the
same name, so it is the trial's final value.

The result is also written to ``trial.json`` in the trial's output folder (after every
intermediate report, then once complete): the local side of an Azure ML sweep downloads
each child's output and reads it back (:func:`read_trial_file`) to record the sweep as a
local study. A child that Azure's early termination cancelled leaves its curve so far.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nerp_hpo.errors import HpoError, SearchSpaceError
from nerp_hpo.folds import cv_documents, study_folds
from nerp_hpo.objective import FOLD_SCORES_ATTR, CvObjective, FoldTrainer
from nerp_hpo.pruners import reporting_mode
from nerp_hpo.runs import StudyTracker
from nerp_hpo.space import BACKBONE_PARAM, build_distributions, max_epochs
from nerp_infra.config import ExperimentConfig
from nerp_infra.files import atomic_write
from nerp_training.data import PreparedDataset

__all__ = [
    "TRIAL_FILE",
    "ReportingTrial",
    "TrialResult",
    "check_params",
    "evaluate_params",
    "read_trial_file",
    "trial_backbone",
    "trial_record",
    "write_trial_file",
]

TRIAL_FILE = "trial.json"
"""The trial's result in its output folder (see the module doc)."""
TRIAL_FORMAT = 1


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


def trial_record(
    *,
    metric: str,
    params: Mapping[str, Any],
    intermediate: Mapping[int, float],
    value: float | None = None,
    fold_scores: Sequence[float] = (),
) -> dict[str, Any]:
    """What ``trial.json`` holds; ``complete`` is false until the CV value is known."""
    scores = [float(s) for s in fold_scores]
    return {
        "format": TRIAL_FORMAT,
        "objective_metric": metric,
        "complete": value is not None,
        "value": value,
        "fold_scores": scores,
        "cv_std": statistics.pstdev(scores) if len(scores) > 1 else (0.0 if scores else None),
        "params": dict(params),
        "intermediate": {str(step): float(v) for step, v in sorted(intermediate.items())},
    }


def write_trial_file(directory: Path, record: Mapping[str, Any]) -> Path:
    """Write ``directory/trial.json`` atomically (a cancelled job never leaves half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    return atomic_write(directory / TRIAL_FILE, json.dumps(record, indent=2, default=str) + "\n")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_trial_file(path: Path) -> dict[str, Any]:
    """``trial.json`` read back and checked; errors name the file and the field.

    ``intermediate`` comes back with integer steps; ``value`` is None unless complete.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise HpoError(f"{path}: cannot read the trial result: {exc}") from exc
    if not isinstance(data, dict):
        raise HpoError(f"{path}: not a JSON object")
    if data.get("format") != TRIAL_FORMAT:
        raise HpoError(
            f"{path}: field 'format' is {data.get('format')!r}; this nerp-hpo reads format "
            f"{TRIAL_FORMAT} (was the trial run by another nerp-hpo version?)"
        )
    if not isinstance(data.get("params"), dict):
        raise HpoError(f"{path}: field 'params' is missing or not an object")
    raw = data.get("intermediate") or {}
    if not isinstance(raw, dict):
        raise HpoError(f"{path}: field 'intermediate' is not an object")
    try:
        intermediate = {int(step): float(v) for step, v in raw.items()}
    except (TypeError, ValueError) as exc:
        raise HpoError(f"{path}: field 'intermediate' is not step -> number: {exc}") from None
    scores = data.get("fold_scores") or []
    if not isinstance(scores, list) or not all(_finite(s) for s in scores):
        raise HpoError(f"{path}: field 'fold_scores' is not a list of numbers")
    complete = data.get("complete") is True
    value = data.get("value")
    if complete and not (isinstance(value, int | float) and _finite(value)):
        raise HpoError(f"{path}: field 'value' is {value!r}; a complete trial needs a number")
    return {
        **data,
        "complete": complete,
        "value": float(value) if complete and value is not None else None,
        "fold_scores": [float(s) for s in scores],
        "intermediate": intermediate,
    }


def trial_backbone(config: ExperimentConfig, params: Mapping[str, Any]) -> str:
    """The backbone a trial trains: the drawn one, else the study's own (the one
    ``hpo.backbones`` names when it names one, as in a local study), else ``model.backbone``."""
    drawn = params.get(BACKBONE_PARAM)
    if drawn:
        return str(drawn)
    if len(config.hpo.backbones) == 1:
        return config.hpo.backbones[0]
    return config.model.backbone


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
    result_dir: Path | None = None,
) -> TrialResult:
    """Cross-validate one configuration; with ``log_to_mlflow`` the objective metric is
    logged on the active MLflow run (started here when none is) at every step; with
    ``result_dir`` the result goes to ``result_dir/trial.json`` (see the module doc)."""
    check_params(config, params)
    hpo = config.hpo
    metric = hpo.objective_metric

    def on_report(value: float, step: int) -> None:
        if log_to_mlflow:
            import mlflow

            mlflow.log_metric(metric, value, step=step)
        if result_dir is not None:
            write_trial_file(
                result_dir,
                trial_record(metric=metric, params=params, intermediate=trial.reports),
            )

    trial = ReportingTrial(params, on_report)
    backbone = trial_backbone(config, params)
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
    if result_dir is not None:
        write_trial_file(
            result_dir,
            trial_record(
                metric=metric,
                params=params,
                intermediate=trial.reports,
                value=value,
                fold_scores=scores,
            ),
        )
    return TrialResult(
        value=value, fold_scores=scores, params=dict(params), intermediate=dict(trial.reports)
    )

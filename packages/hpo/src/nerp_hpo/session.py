"""One process's hold on a study: opening it with the configured sampler and pruner, the
user attributes that let workers join, and the MLflow tracker and CV objective it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from nerp_hpo.errors import HpoError, StudyNotFoundError
from nerp_hpo.folds import cv_documents
from nerp_hpo.objective import CvObjective, FoldTrainer
from nerp_hpo.plan import StudyPlan
from nerp_hpo.pruners import build_pruner, reporting_mode
from nerp_hpo.runs import HPO_STAGE, StudyTracker
from nerp_hpo.samplers import build_sampler
from nerp_hpo.space import build_distributions, max_epochs
from nerp_hpo.storage import open_storage, redact_url, supports_heartbeat
from nerp_hpo.trials import retry_trial
from nerp_infra.config import ExperimentConfig
from nerp_infra.tracking import experiment_name, fail_stale_runs, setup_mlflow
from nerp_training.data import PreparedDataset

__all__ = [
    "ATTR_ARTIFACT_DIR",
    "ATTR_ARTIFACT_ID",
    "ATTR_BACKBONE",
    "ATTR_BUDGET",
    "ATTR_CONFIG",
    "ATTR_DATASET_DIR",
    "ATTR_DATA_FP",
    "ATTR_FOLDS_FP",
    "ATTR_OUTPUT_ROOT",
    "ATTR_PARENT_RUN",
    "ATTR_SPACE_FP",
    "ATTR_TRACKING_URI",
    "ATTR_VERSION",
    "StudySession",
    "check_owner",
    "make_objective",
    "make_tracker",
    "open_study",
    "set_missing_attrs",
    "setup_tracking",
    "study_attrs",
]

# Study user attributes: what a joining worker reads.
ATTR_CONFIG = "nerp_config"
ATTR_BACKBONE = "nerp_backbone"
ATTR_ARTIFACT_ID = "nerp_artifact_id"
ATTR_ARTIFACT_DIR = "nerp_artifact_dir"
ATTR_OUTPUT_ROOT = "nerp_output_root"
ATTR_DATASET_DIR = "nerp_dataset_dir"
ATTR_DATA_FP = "nerp_data_fp"
ATTR_SPACE_FP = "nerp_space_fp"
ATTR_FOLDS_FP = "nerp_folds_fp"
ATTR_BUDGET = "nerp_budget"
ATTR_VERSION = "nerp_version"
ATTR_TRACKING_URI = "nerp_tracking_uri"
ATTR_PARENT_RUN = "nerp_mlflow_parent_run_id"


def study_attrs(
    config: ExperimentConfig,
    plan: StudyPlan,
    *,
    artifact_id: str,
    artifact_dir: Path,
    output_root: Path,
    dataset: PreparedDataset,
    folds_fp: str,
    version: int,
) -> dict[str, Any]:
    """The attributes that tie an Optuna study to its artifact, data and search space;
    local studies and recorded Azure ML sweeps carry the same ones, so workers, status
    and reports read either."""
    return {
        ATTR_CONFIG: config.model_dump(mode="json"),
        ATTR_BACKBONE: plan.train_backbone if config.hpo.study_per_backbone else None,
        ATTR_ARTIFACT_ID: artifact_id,
        ATTR_ARTIFACT_DIR: str(artifact_dir),
        ATTR_OUTPUT_ROOT: str(output_root),
        ATTR_DATASET_DIR: str(dataset.artifact_dir),
        ATTR_DATA_FP: dataset.data_fp,
        ATTR_SPACE_FP: plan.space_fp,
        ATTR_FOLDS_FP: folds_fp,
        ATTR_BUDGET: plan.budget,
        ATTR_VERSION: version,
    }


def open_study(
    study_name: str,
    storage_url: str,
    *,
    config: ExperimentConfig | None = None,
    distributions: Mapping[str, BaseDistribution] | None = None,
    create: bool = False,
    worker: str | None = None,
) -> optuna.Study:
    """Open (or with ``create``, create) a study with the sampler and pruner of ``config``.

    Without ``config`` the study is opened for reading (status, reports).
    """
    heartbeat = None
    if config is not None and supports_heartbeat(storage_url):
        heartbeat = config.hpo.heartbeat_interval_s
    storage = open_storage(
        storage_url,
        heartbeat_interval_s=heartbeat,
        stale_trial_callback=retry_trial if heartbeat else None,
        must_exist=not create,
    )
    sampler = pruner = None
    dists: Mapping[str, BaseDistribution] = {}
    if config is not None:
        dists = distributions if distributions is not None else build_distributions(config.hpo)
        sampler = build_sampler(config.hpo, dists, worker=worker)
        pruner = build_pruner(config.hpo.pruner, k_folds=config.hpo.k_folds)
    try:
        if create:
            assert config is not None
            study = optuna.create_study(
                study_name=study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                direction=config.hpo.direction,
                load_if_exists=True,
            )
        else:
            study = optuna.load_study(
                study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
            )
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise StudyNotFoundError(
            f"no study {study_name!r} in {redact_url(storage_url)}; it holds "
            + (", ".join(sorted(names)) if names else "no studies")
        ) from None
    if config is not None:
        trials_so_far = len(study.get_trials(deepcopy=False))
        if trials_so_far:  # resuming: never draw again what earlier processes drew
            study.sampler = build_sampler(
                config.hpo, dists, worker=worker, trials_so_far=trials_so_far
            )
    return study


def set_missing_attrs(study: optuna.Study, attrs: Mapping[str, Any]) -> None:
    current = study.user_attrs
    for key, value in attrs.items():
        if current.get(key) != value:
            study.set_user_attr(key, value)


def check_owner(study: optuna.Study, artifact_id: str, storage_url: str) -> None:
    owner = study.user_attrs.get(ATTR_ARTIFACT_ID)
    if owner is not None and owner != artifact_id:
        raise HpoError(
            f"study {study.study_name!r} in {redact_url(storage_url)} belongs to study artifact "
            f"{owner}, not {artifact_id}; another output root uses the same study name and "
            "storage (change hpo.study_name, or delete the old study)"
        )


@dataclass
class StudySession:
    """Everything one process needs to run trials of one study."""

    config: ExperimentConfig
    plan: StudyPlan
    study: optuna.Study
    study_name: str
    storage_url: str
    version: int
    dataset: PreparedDataset
    folds: list[Any]
    work_dir: Path
    tracker: StudyTracker
    output_root: Path


def make_tracker(
    config: ExperimentConfig,
    plan: StudyPlan,
    study_name: str,
    version: int,
    tags: Mapping[str, Any],
    *,
    enabled: bool | None = None,
) -> StudyTracker:
    return StudyTracker(
        enabled=config.tracking.enabled if enabled is None else enabled,
        naming=config.naming,
        prefix=config.tracking.experiment_prefix,
        study_base=config.hpo.study_name,
        backbone=plan.backbone,
        version=version,
        study_name=study_name,
        tags=dict(tags),
    )


def setup_tracking(config: ExperimentConfig, output_root: Path, uri: str | None = None) -> str:
    resolved = setup_mlflow(uri, config_uri=config.tracking.uri, output_root=output_root)
    fail_stale_runs([experiment_name(config.tracking.experiment_prefix, HPO_STAGE)])
    return resolved


def make_objective(
    session: StudySession, *, trainer: FoldTrainer | None, progress: bool
) -> CvObjective:
    config = session.config
    return CvObjective(
        hpo=config.hpo,
        model=config.model,
        train=config.train,
        backbone=session.plan.train_backbone,
        distributions=session.plan.distributions,
        folds=session.folds,
        documents=cv_documents(session.dataset),
        entity_types=session.dataset.labels,
        work_dir=session.work_dir,
        reporting=reporting_mode(config.hpo.pruner),
        max_epochs=max_epochs(config.hpo, config.train),
        tracker=session.tracker,
        keep_checkpoints=config.hpo.keep_trial_checkpoints,
        progress=progress,
        trainer=trainer,
    )

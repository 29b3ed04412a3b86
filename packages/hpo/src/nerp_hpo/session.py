"""One process's hold on a study: opening it with the configured sampler and pruner, the
user attributes that let workers join, and the MLflow tracker and CV objective it runs.

A study artifact's Optuna study is set up here once for every way one comes to be (a
local study, a recorded Azure ML sweep): :func:`begin_study_artifact` decides its
artifact from :func:`study_fingerprints`, :func:`open_artifact_study` names and opens it,
saves its folds, sets its attributes and records it in the manifest;
:func:`refit_best` and :func:`completion_record` give the refit and the completed
manifest's entries. A joining worker opens the same study by name
(:mod:`nerp_hpo.workers`); both run trials through :meth:`StudySession.start`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from nerp_hpo.errors import HpoError, StudyNotFoundError
from nerp_hpo.folds import FOLDS_FILE, cv_documents, study_folds
from nerp_hpo.objective import CvObjective, FoldTrainer
from nerp_hpo.plan import REPORT_DIR, STUDY_KIND, StudyPlan
from nerp_hpo.pruners import build_pruner, reporting_mode
from nerp_hpo.refit import RefitResult, run_refit
from nerp_hpo.reports import write_study_report
from nerp_hpo.runs import HPO_STAGE, StudyTracker
from nerp_hpo.samplers import build_sampler
from nerp_hpo.space import build_distributions, max_epochs
from nerp_hpo.storage import open_storage, redact_url, supports_heartbeat
from nerp_hpo.trials import TrialCounts, count_trials, retry_trial
from nerp_infra.artifacts import (
    ArtifactDecision,
    ArtifactHandle,
    ArtifactIndex,
    ArtifactStatus,
    IndexedArtifact,
    RunMode,
    begin_artifact,
)
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import ExperimentConfig
from nerp_infra.paths import OutputLayout
from nerp_infra.tracking import experiment_name, fail_stale_runs, setup_mlflow
from nerp_training.data import PreparedDataset, folds_fingerprint

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
    "OpenedStudy",
    "StudySession",
    "begin_study_artifact",
    "check_owner",
    "completion_record",
    "find_studies",
    "make_objective",
    "make_tracker",
    "open_artifact_study",
    "open_study",
    "refit_best",
    "refit_extra",
    "set_missing_attrs",
    "setup_tracking",
    "study_attrs",
    "study_fingerprints",
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


def study_fingerprints(plan: StudyPlan, dataset: PreparedDataset) -> dict[str, str]:
    """What a study searches: its dataset and its search space (budget and storage left out)."""
    return {"data_fp": dataset.data_fp, "space_fp": plan.space_fp}


def find_studies(
    index: ArtifactIndex,
    plan: StudyPlan,
    dataset: PreparedDataset,
    *,
    status: ArtifactStatus,
) -> list[IndexedArtifact]:
    """Study artifacts of ``plan``'s key with these fingerprints and ``status``, oldest
    first (the study name is in the key, not in the fingerprints)."""
    return index.find(
        kind=STUDY_KIND,
        stage=HPO_STAGE,
        backbone=plan.backbone,
        status=status,
        fingerprints=study_fingerprints(plan, dataset),
        key=plan.key,
    )


def begin_study_artifact(
    index: ArtifactIndex,
    layout: OutputLayout,
    config: ExperimentConfig,
    plan: StudyPlan,
    dataset: PreparedDataset,
    *,
    run_mode: RunMode,
) -> ArtifactDecision:
    """Reuse, resume or start the study artifact of ``plan`` as ``run_mode`` says; its
    lineage is the dataset."""
    return begin_artifact(
        index,
        layout,
        kind=STUDY_KIND,
        stage=HPO_STAGE,
        backbone=plan.backbone,
        key=plan.key,
        fingerprints=study_fingerprints(plan, dataset),
        lineage=[dataset.artifact_id],
        config=config.model_dump(mode="json"),
        run_mode=run_mode,
    )


@dataclass(frozen=True)
class OpenedStudy:
    """An Optuna study this process opened: its name, storage, version and CV folds."""

    study: optuna.Study
    name: str
    storage_url: str
    version: int
    folds: list[Any]


def open_artifact_study(
    config: ExperimentConfig,
    plan: StudyPlan,
    handle: ArtifactHandle,
    dataset: PreparedDataset,
    *,
    storage_url: str,
    output_root: Path,
    attrs: Mapping[str, Any] | None = None,
) -> OpenedStudy:
    """Create or reopen the Optuna study of study artifact ``handle``.

    It is named ``<key>-v<variant>``, lives in ``storage_url`` with the config's sampler
    and pruner, must belong to this artifact (:func:`check_owner`), and carries
    :func:`study_attrs` plus ``attrs``; its folds are saved in (or read from) the
    artifact, and the manifest's ``extra`` records the study's name, storage, budget,
    folds and objective.
    """
    hpo = config.hpo
    version = handle.manifest.variant
    name = f"{plan.key}-v{version}"
    folds = study_folds(dataset, k=hpo.k_folds, seed=config.data.split.seed, directory=handle.dir)
    study = open_study(
        name, storage_url, config=config, distributions=plan.distributions, create=True
    )
    check_owner(study, handle.id, storage_url)
    joining = study_attrs(
        config,
        plan,
        artifact_id=handle.id,
        artifact_dir=handle.dir,
        output_root=output_root,
        dataset=dataset,
        folds_fp=folds_fingerprint(folds),
        version=version,
    )
    set_missing_attrs(study, {**joining, **(attrs or {})})
    shown = redact_url(storage_url)
    handle.update_extra(
        StudyPayload(
            study_name=name,
            storage_url=shown,
            storage_url_full=storage_url if shown == storage_url else None,
            budget=plan.budget,
            k_folds=hpo.k_folds,
            folds_file=FOLDS_FILE if hpo.k_folds > 1 else None,
            direction=hpo.direction,
            objective_metric=hpo.objective_metric,
        ).as_extra()
    )
    return OpenedStudy(study, name, storage_url, version, folds)


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

    @classmethod
    def start(
        cls,
        config: ExperimentConfig,
        plan: StudyPlan,
        opened: OpenedStudy,
        dataset: PreparedDataset,
        *,
        work_dir: Path,
        output_root: Path,
        tags: Mapping[str, Any],
        tracking: bool | None = None,
    ) -> StudySession:
        """A session on ``opened`` with its MLflow tracker (``tags`` on every run;
        ``tracking`` overrides ``config.tracking.enabled``)."""
        return cls(
            config=config,
            plan=plan,
            study=opened.study,
            study_name=opened.name,
            storage_url=opened.storage_url,
            version=opened.version,
            dataset=dataset,
            folds=opened.folds,
            work_dir=work_dir,
            tracker=make_tracker(config, plan, opened.name, opened.version, tags, enabled=tracking),
            output_root=output_root,
        )


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


def refit_best(
    config: ExperimentConfig,
    plan: StudyPlan,
    dataset: PreparedDataset,
    study_dir: Path,
    best: Mapping[str, Any],
    *,
    trainer: FoldTrainer | None,
) -> RefitResult:
    """Train the best trial's settings on all CV documents into ``study_dir/refit``."""
    return run_refit(
        study_dir=study_dir,
        trial_number=int(best["number"]),
        params=best["params"],
        base_model=config.model,
        base_train=config.train,
        backbone=plan.train_backbone,
        documents=cv_documents(dataset),
        entity_types=dataset.labels,
        data_fp=dataset.data_fp,
        trainer=trainer,
    )


def refit_extra(record: Mapping[str, Any], mlflow_run_id: str | None) -> dict[str, Any]:
    """The study manifest's refit entries from the refit's record (``refit_done``)."""
    return {
        "refit_checkpoint": record["model_dir"],
        "refit_trial_number": record["trial_number"],
        "refit_spec_fp": record["spec_fp"],
        "refit_exec_fp": record["exec_fp"],
        "refit_mlflow_run_id": mlflow_run_id,
    }


def completion_record(
    study: optuna.Study, study_dir: Path, best: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], TrialCounts]:
    """Write the study report into ``study_dir``; the completed manifest's ``report``
    entry, its metrics, and the trial counts they were taken from."""
    report = write_study_report(study, study_dir / REPORT_DIR)
    entry = {
        "trials_csv": report.trials_csv.relative_to(study_dir).as_posix(),
        "trials_json": report.trials_json.relative_to(study_dir).as_posix(),
        "best_trial": report.best_trial_json.relative_to(study_dir).as_posix(),
        "plots": {k: v.relative_to(study_dir).as_posix() for k, v in report.plots.items()},
    }
    counts = count_trials(study)
    metrics = {
        "best_value": best["value"],
        "best_cv_std": best.get("cv_std"),
        "n_complete": counts.complete,
        "n_pruned": counts.pruned,
        "n_failed": counts.failed,
    }
    return {"report": entry}, metrics, counts

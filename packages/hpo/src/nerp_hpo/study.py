"""Studies as artifacts: create or resume a study, run its trials, refit, report, complete.

A study is a ``study`` artifact (stage ``hpo``) under the output root, keyed by the
study's base name (``<hpo.study_name>-<backbone>``, or ``<hpo.study_name>`` when one
study covers several backbones). Its variant number is the study *version*: the Optuna
study is called ``<key>-v<variant>``. Run modes therefore decide the version:

- ``reuse_if_exists``: a complete study with the same fingerprints is returned as is;
  otherwise a new version starts;
- ``resume_if_incomplete`` (default): as above, and an incomplete study whose process is
  gone is continued (same version, same storage, same folds) up to its trial budget;
- ``force_new``: always the next version.

Fingerprints: ``data_fp`` (the dataset) and ``space_fp`` (search space, sampler, pruner,
CV and objective settings, the base model and train sections). The budget (``n_trials``,
``timeout_s``), storage, run mode and checkpoint keeping are left out: they say how long
and where a study runs, not what it searches.

Everything a worker needs to join is stored on the Optuna study itself as user
attributes (``nerp_*``: the experiment config, dataset, folds fingerprint, budget, MLflow
parent run), so ``nerp hpo worker --study NAME --storage URL`` needs nothing else.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution
from rich.console import Console

from nerp_hpo.errors import HpoError, StudyNotFoundError
from nerp_hpo.folds import FOLDS_FILE, cv_documents, study_folds
from nerp_hpo.objective import RUN_ID_ATTR, CvObjective, FoldTrainer, trial_dir_name
from nerp_hpo.progress import TrialProgress
from nerp_hpo.pruners import build_pruner, reporting_mode
from nerp_hpo.refit import REFIT_DIR, refit_done, run_refit
from nerp_hpo.reports import best_trial_summary, write_study_report
from nerp_hpo.runs import HPO_STAGE, StudyTracker, mirror_tags
from nerp_hpo.samplers import build_sampler, grid_size
from nerp_hpo.space import BACKBONE_PARAM, build_distributions, max_epochs
from nerp_hpo.storage import (
    STUDY_DB_NAME,
    default_storage_url,
    open_storage,
    redact_url,
    supports_heartbeat,
)
from nerp_hpo.trials import TrialCallback, TrialCounts, count_trials, retry_trial, run_trials
from nerp_infra.artifacts import (
    ArtifactHandle,
    ArtifactIndex,
    Manifest,
    begin_artifact,
    read_manifest,
)
from nerp_infra.artifacts.runs import owner_token
from nerp_infra.config import ExperimentConfig, RunMode
from nerp_infra.fingerprints import fingerprint
from nerp_infra.paths import ANY_BACKBONE, OutputLayout, slug
from nerp_infra.platform import detect_platform
from nerp_infra.tracking import experiment_name, fail_stale_runs, setup_mlflow
from nerp_training.data import PreparedDataset, folds_fingerprint, load_dataset, prepare_dataset

__all__ = [
    "REPORT_DIR",
    "SPACE_FP_FORMAT",
    "STUDY_KIND",
    "TRIALS_DIR",
    "StudyOutcome",
    "StudyPlan",
    "find_study_artifacts",
    "open_study",
    "plan_study",
    "run_studies",
    "run_study",
    "run_worker",
    "space_fingerprint",
    "storage_for",
]

logger = logging.getLogger("nerp_hpo")

STUDY_KIND = "study"
TRIALS_DIR = "trials"
REPORT_DIR = "report"
SPACE_FP_FORMAT = 1

# Study user attributes (what a joining worker reads).
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

Action = Literal["reuse", "resume", "new", "worker"]


@dataclass(frozen=True)
class StudyOutcome:
    """What a study run produced (or what a reused study holds).

    ``storage_url`` is the URL as configured (it may hold a password); the manifest
    keeps a redacted copy. ``refit_checkpoint`` is the refit's ``model/`` directory.
    """

    artifact_id: str
    artifact_dir: Path
    study_name: str
    storage_url: str
    backbone: str
    version: int
    action: Action
    status: str
    best_value: float | None
    best_trial: dict[str, Any] | None
    n_complete: int
    n_pruned: int
    n_failed: int
    refit_checkpoint: Path | None = None
    mlflow_parent_run_id: str | None = None
    report_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyPlan:
    """What a study searches, before any storage or artifact is touched."""

    config: ExperimentConfig
    backbone: str
    """Backbone name for paths and run names (``all`` when the backbone is searched)."""
    train_backbone: str
    """Backbone trained when a trial does not draw one."""
    key: str
    distributions: dict[str, BaseDistribution]
    space_fp: str
    budget: int | None


def space_fingerprint(config: ExperimentConfig, backbone: str) -> str:
    """What the study searches and how trials are scored (see the module doc)."""
    hpo = config.hpo
    searched = list(hpo.backbones) if not hpo.study_per_backbone else [backbone]
    model = config.model.model_dump(mode="json")
    model["backbone"] = backbone if hpo.study_per_backbone else None
    return fingerprint(
        {
            "fp": "hpo-space",
            "format": SPACE_FP_FORMAT,
            "search_space": {k: v.model_dump(mode="json") for k, v in hpo.search_space.items()},
            "backbones": searched,
            "study_per_backbone": hpo.study_per_backbone,
            "sampler": hpo.sampler.model_dump(mode="json"),
            "pruner": hpo.pruner.model_dump(mode="json"),
            "k_folds": hpo.k_folds,
            "fold_seed": config.data.split.seed,
            "objective_metric": hpo.objective_metric,
            "direction": hpo.direction,
            "refit": hpo.refit,
            "model": model,
            "train": config.train.model_dump(mode="json"),
        }
    )


def _study_backbones(config: ExperimentConfig) -> list[str | None]:
    return list(config.hpo.backbones) if config.hpo.study_per_backbone else [None]


def plan_study(
    config: ExperimentConfig, backbone: str | None = None, *, n_trials: int | None = None
) -> StudyPlan:
    """Resolve which study ``config`` (and ``backbone``) means; validates the search space."""
    hpo = config.hpo
    if hpo.study_per_backbone:
        if backbone is None:
            if len(hpo.backbones) != 1:
                raise HpoError(
                    f"hpo.backbones lists {', '.join(hpo.backbones)} with one study per "
                    "backbone; name one with --backbone (or run them all with run_studies)"
                )
            backbone = hpo.backbones[0]
        elif backbone not in hpo.backbones:
            raise HpoError(
                f"backbone {backbone!r} is not in hpo.backbones ({', '.join(hpo.backbones)})"
            )
        path_backbone = slug(backbone)
        key = slug(f"{hpo.study_name}-{path_backbone}")
        train_backbone = backbone
    else:
        if backbone is not None and backbone not in hpo.backbones:
            raise HpoError(
                f"backbone {backbone!r} is not in hpo.backbones ({', '.join(hpo.backbones)})"
            )
        path_backbone = ANY_BACKBONE
        key = slug(hpo.study_name)
        train_backbone = hpo.backbones[0]
    distributions = build_distributions(hpo)
    build_pruner(hpo.pruner, k_folds=hpo.k_folds)  # fails early on an unusable pruner
    budget = n_trials if n_trials is not None else hpo.n_trials
    if hpo.sampler.type == "grid":
        size = grid_size(distributions)
        budget = size if budget is None else min(budget, size)
    return StudyPlan(
        config=config,
        backbone=path_backbone,
        train_backbone=train_backbone,
        key=key,
        distributions=distributions,
        space_fp=space_fingerprint(config, train_backbone),
        budget=budget,
    )


def _output_root(config: ExperimentConfig, output_root: Path | None) -> Path:
    root = output_root or config.paths.resolve_root(detect_platform())
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    return root


def _outcome_from_manifest(
    manifest: Manifest, directory: Path, action: Action, *, storage_url: str | None = None
) -> StudyOutcome:
    extra = dict(manifest.extra)
    refit = extra.get("refit_checkpoint")
    report = directory / REPORT_DIR
    return StudyOutcome(
        artifact_id=manifest.id,
        artifact_dir=directory,
        study_name=str(extra.get("study_name", "")),
        storage_url=storage_url or str(extra.get("storage_url", "")),
        backbone=manifest.backbone,
        version=manifest.variant,
        action=action,
        status=manifest.status,
        best_value=manifest.metrics.get("best_value"),
        best_trial=extra.get("best_trial"),
        n_complete=int(manifest.metrics.get("n_complete", 0)),
        n_pruned=int(manifest.metrics.get("n_pruned", 0)),
        n_failed=int(manifest.metrics.get("n_failed", 0)),
        refit_checkpoint=(directory / refit) if refit else None,
        mlflow_parent_run_id=extra.get("mlflow_parent_run_id"),
        report_dir=report if report.is_dir() else None,
        extra=extra,
    )


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
    if config is not None:
        dists = distributions if distributions is not None else build_distributions(config.hpo)
        sampler = build_sampler(config.hpo, dists, worker=worker)
        pruner = build_pruner(config.hpo.pruner, k_folds=config.hpo.k_folds)
    if create:
        assert config is not None
        return optuna.create_study(
            study_name=study_name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction=config.hpo.direction,
            load_if_exists=True,
        )
    try:
        return optuna.load_study(
            study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
        )
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise StudyNotFoundError(
            f"no study {study_name!r} in {redact_url(storage_url)}; it holds "
            + (", ".join(sorted(names)) if names else "no studies")
        ) from None


def _set_missing_attrs(study: optuna.Study, attrs: Mapping[str, Any]) -> None:
    current = study.user_attrs
    for key, value in attrs.items():
        if current.get(key) != value:
            study.set_user_attr(key, value)


def _check_owner(study: optuna.Study, artifact_id: str, storage_url: str) -> None:
    owner = study.user_attrs.get(ATTR_ARTIFACT_ID)
    if owner is not None and owner != artifact_id:
        raise HpoError(
            f"study {study.study_name!r} in {redact_url(storage_url)} belongs to study artifact "
            f"{owner}, not {artifact_id}; another output root uses the same study name and "
            "storage (change hpo.study_name, or delete the old study)"
        )


@dataclass
class _Session:
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


def _tracker(
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


def _setup_tracking(config: ExperimentConfig, output_root: Path, uri: str | None = None) -> str:
    resolved = setup_mlflow(uri, config_uri=config.tracking.uri, output_root=output_root)
    fail_stale_runs([experiment_name(config.tracking.experiment_prefix, HPO_STAGE)])
    return resolved


def _objective(session: _Session, *, trainer: FoldTrainer | None, progress: bool) -> CvObjective:
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


def _backup_callback(
    backup_root: Path | None, output_root: Path, artifact_dir: Path, storage_url: str
) -> TrialCallback | None:
    if backup_root is None:
        return None
    from nerp_infra.backup import BackupStore

    store = BackupStore(backup_root, output_root)

    def backup(study: optuna.Study, _trial: Any) -> None:
        paths: list[Path] = [artifact_dir / FOLDS_FILE, artifact_dir / "nerp.json"]
        if storage_url == default_storage_url(artifact_dir):
            paths.append(artifact_dir / STUDY_DB_NAME)
        best = best_trial_summary(study)
        if best is not None:
            kept = artifact_dir / TRIALS_DIR / trial_dir_name(int(best["number"]))
            if kept.is_dir():
                paths.append(kept)
        for extra in (artifact_dir / REFIT_DIR, artifact_dir / REPORT_DIR):
            if extra.is_dir():
                paths.append(extra)
        store.backup_after([p for p in paths if p.exists()])()

    return backup


def run_studies(
    config: ExperimentConfig,
    *,
    output_root: Path | None = None,
    n_trials: int | None = None,
    progress: bool = True,
    backup_root: Path | None = None,
    console: Console | None = None,
    run_mode: RunMode | None = None,
    trainer: FoldTrainer | None = None,
) -> list[StudyOutcome]:
    """Every study the config asks for: one per backbone, or one over all of them."""
    return [
        run_study(
            config,
            output_root=output_root,
            backbone=backbone,
            n_trials=n_trials,
            progress=progress,
            backup_root=backup_root,
            console=console,
            run_mode=run_mode,
            trainer=trainer,
        )
        for backbone in _study_backbones(config)
    ]


def find_study_artifacts(
    config: ExperimentConfig,
    *,
    output_root: Path | None = None,
    backbone: str | None = None,
) -> list[tuple[Path, Manifest]]:
    """Study artifacts of this config's study key(s), oldest first (any fingerprints)."""
    root = _output_root(config, output_root)
    index = ArtifactIndex(root)
    found: list[tuple[Path, Manifest]] = []
    backbones = [backbone] if backbone is not None else _study_backbones(config)
    for name in backbones:
        plan = plan_study(config, name)
        for item in index.find(kind=STUDY_KIND, stage=HPO_STAGE, backbone=plan.backbone):
            if item.manifest.key == plan.key:
                found.append((item.path, item.manifest))
    return found


def run_study(
    config: ExperimentConfig,
    *,
    output_root: Path | None = None,
    backbone: str | None = None,
    n_trials: int | None = None,
    worker: bool = False,
    progress: bool = True,
    backup_root: Path | None = None,
    console: Console | None = None,
    run_mode: RunMode | None = None,
    trainer: FoldTrainer | None = None,
) -> StudyOutcome:
    """Create, resume or reuse the study ``config`` describes, run it to its budget,
    refit the best trial and complete the study artifact (see the module doc).

    ``worker``: join the incomplete study with the same fingerprints as one more
    worker (no refit, no completion; the study's own process does those). ``n_trials``
    overrides ``hpo.n_trials``. ``backup_root`` copies the study database, folds, best
    checkpoint and refit to that folder after every trial. ``trainer`` replaces
    ``train_model`` (same keyword arguments), for tests and benchmarks.
    """
    console = console or Console(quiet=not progress)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = _output_root(config, output_root)
    index = ArtifactIndex(root)
    layout = OutputLayout(root, config.paths.layout)
    plan = plan_study(config, backbone, n_trials=n_trials)
    dataset = prepare_dataset(config.data, index=index, layout=layout, run_mode="reuse_if_exists")
    fingerprints = {"data_fp": dataset.data_fp, "space_fp": plan.space_fp}

    if worker:
        candidates = [
            item
            for item in index.find(
                kind=STUDY_KIND,
                stage=HPO_STAGE,
                backbone=plan.backbone,
                status="incomplete",
                fingerprints=fingerprints,
            )
            if item.manifest.key == plan.key and item.manifest.extra.get("study_name")
        ]
        if not candidates:
            raise StudyNotFoundError(
                f"no running study {plan.key} with these settings under {root} to join; "
                "start it with `nerp hpo run` first"
            )
        joined = candidates[-1]
        return run_worker(
            str(joined.manifest.extra["study_name"]),
            storage_for(config, joined.manifest.extra, joined.path),
            n_trials=n_trials,
            output_root=root,
            progress=progress,
            console=console,
            trainer=trainer,
        )

    mode: RunMode = run_mode or config.hpo.run_mode
    decision = begin_artifact(
        index,
        layout,
        kind=STUDY_KIND,
        stage=HPO_STAGE,
        backbone=plan.backbone,
        key=plan.key,
        fingerprints=fingerprints,
        lineage=[dataset.artifact_id],
        config=config.model_dump(mode="json"),
        run_mode=mode,
    )
    handle = decision.handle
    if decision.action == "reuse":
        console.print(f"[bold]hpo[/] reusing study {handle.manifest.extra.get('study_name')}")
        return _outcome_from_manifest(handle.manifest, handle.dir, "reuse")
    return _run_owned_study(
        config,
        plan,
        handle,
        dataset,
        root=root,
        index=index,
        action=decision.action,
        progress=progress,
        console=console,
        backup_root=backup_root,
        trainer=trainer,
    )


def storage_for(config: ExperimentConfig, extra: Mapping[str, Any], directory: Path) -> str:
    """The study's storage: as recorded when the study started (a resumed study stays
    where its trials are), else as configured, else the SQLite file in the artifact.
    URLs with a password are not recorded; they come from the config every time."""
    recorded = extra.get("storage_url_full")
    if isinstance(recorded, str) and recorded:
        return recorded
    return config.hpo.storage or default_storage_url(directory)


def _run_owned_study(
    config: ExperimentConfig,
    plan: StudyPlan,
    handle: ArtifactHandle,
    dataset: PreparedDataset,
    *,
    root: Path,
    index: ArtifactIndex,
    action: Action,
    progress: bool,
    console: Console,
    backup_root: Path | None,
    trainer: FoldTrainer | None,
) -> StudyOutcome:
    hpo = config.hpo
    version = handle.manifest.variant
    study_name = f"{plan.key}-v{version}"
    storage_url = storage_for(config, handle.manifest.extra, handle.dir)
    folds = study_folds(dataset, k=hpo.k_folds, seed=config.data.split.seed, directory=handle.dir)
    study = open_study(
        study_name, storage_url, config=config, distributions=plan.distributions, create=True
    )
    _check_owner(study, handle.id, storage_url)
    tracking_uri = _setup_tracking(config, root) if config.tracking.enabled else None
    attrs = {
        ATTR_CONFIG: config.model_dump(mode="json"),
        ATTR_BACKBONE: plan.train_backbone if hpo.study_per_backbone else None,
        ATTR_ARTIFACT_ID: handle.id,
        ATTR_ARTIFACT_DIR: str(handle.dir),
        ATTR_OUTPUT_ROOT: str(root),
        ATTR_DATASET_DIR: str(dataset.artifact_dir),
        ATTR_DATA_FP: dataset.data_fp,
        ATTR_SPACE_FP: plan.space_fp,
        ATTR_FOLDS_FP: folds_fingerprint(folds),
        ATTR_BUDGET: plan.budget,
        ATTR_VERSION: version,
        ATTR_TRACKING_URI: tracking_uri,
    }
    _set_missing_attrs(study, attrs)
    handle.update_extra(
        {
            "study_name": study_name,
            "storage_url": redact_url(storage_url),
            "storage_url_full": storage_url if redact_url(storage_url) == storage_url else None,
            "budget": plan.budget,
            "k_folds": hpo.k_folds,
            "folds_file": FOLDS_FILE if hpo.k_folds > 1 else None,
            "direction": hpo.direction,
            "objective_metric": hpo.objective_metric,
        }
    )
    tracker = _tracker(
        config,
        plan,
        study_name,
        version,
        {
            "data_fp": dataset.data_fp,
            "artifact_id": handle.id,
            "artifact_kind": STUDY_KIND,
            "variant": version,
            "lineage": [dataset.artifact_id],
        },
    )
    session = _Session(
        config=config,
        plan=plan,
        study=study,
        study_name=study_name,
        storage_url=storage_url,
        version=version,
        dataset=dataset,
        folds=folds,
        work_dir=handle.dir / TRIALS_DIR,
        tracker=tracker,
        output_root=root,
    )
    verb = {"new": "starting", "resume": "resuming"}.get(action, action)
    console.print(
        f"[bold]hpo[/] {verb} study {study_name} ({redact_url(storage_url)}): "
        f"budget {plan.budget or 'by time'}, {hpo.k_folds} fold(s), sampler "
        f"{hpo.sampler.type}, pruner {hpo.pruner.type}"
    )
    callbacks: list[TrialCallback] = [TrialProgress(console, budget=plan.budget, enabled=progress)]
    backup = _backup_callback(backup_root, root, handle.dir, storage_url)
    if backup is not None:
        callbacks.append(backup)
    with tracker.parent(
        index=index,
        params={
            "study_name": study_name,
            "budget": plan.budget,
            "k_folds": hpo.k_folds,
            "sampler": hpo.sampler.type,
            "pruner": hpo.pruner.type,
            "objective_metric": hpo.objective_metric,
            "direction": hpo.direction,
            "search_space": {k: v.model_dump(mode="json") for k, v in hpo.search_space.items()},
        },
    ) as parent_run_id:
        if parent_run_id is not None:
            _set_missing_attrs(study, {ATTR_PARENT_RUN: parent_run_id})
            handle.update_extra({"mlflow_parent_run_id": parent_run_id})
        counts = run_trials(
            study,
            _objective(session, trainer=trainer, progress=False),
            budget=plan.budget,
            timeout_s=hpo.timeout_s,
            callbacks=callbacks,
            wait_for_others=True,
        )
        return _finish_study(
            session,
            handle,
            counts,
            action=action,
            parent_run_id=parent_run_id,
            console=console,
            trainer=trainer,
            backup=backup,
        )


def _finish_study(
    session: _Session,
    handle: ArtifactHandle,
    counts: TrialCounts,
    *,
    action: Action,
    parent_run_id: str | None,
    console: Console,
    trainer: FoldTrainer | None,
    backup: TrialCallback | None,
) -> StudyOutcome:
    config = session.config
    hpo = config.hpo
    study = session.study
    best = best_trial_summary(study)
    if best is None:
        reason = (
            f"no trial of study {session.study_name} completed ({counts.pruned} pruned, "
            f"{counts.failed} failed)"
        )
        handle.fail(reason)
        raise HpoError(reason)
    best_trial = next(t for t in study.get_trials(deepcopy=False) if t.number == best["number"])
    extra: dict[str, Any] = {"best_trial": best}
    drawn = best["params"].get(BACKBONE_PARAM)
    extra["best_backbone"] = drawn or session.plan.train_backbone
    extra["best_trial_run_id"] = best_trial.user_attrs.get(RUN_ID_ATTR)
    if hpo.refit:
        record = refit_done(handle.dir)
        if record is None or record.get("trial_number") != best["number"]:
            console.print(f"[bold]hpo[/] refitting trial {best['number']} on all CV documents")
            spec, execution = _refit_spec_preview(session, best["params"])
            with session.tracker.refit(
                best["number"],
                trial_run_id=best_trial.user_attrs.get(RUN_ID_ATTR),
                spec_fp=spec,
                exec_fp=execution,
                params=best["params"],
            ) as refit_run_id:
                result = run_refit(
                    study_dir=handle.dir,
                    trial_number=int(best["number"]),
                    params=best["params"],
                    base_model=config.model,
                    base_train=config.train,
                    backbone=session.plan.train_backbone,
                    documents=cv_documents(session.dataset),
                    entity_types=session.dataset.labels,
                    data_fp=session.dataset.data_fp,
                    trainer=trainer,
                )
                session.tracker.log_metrics(
                    {"train_seconds": result.train_seconds, "global_step": result.global_step}
                )
            record = refit_done(handle.dir)
            assert record is not None
            record["mlflow_run_id"] = refit_run_id
        extra.update(
            {
                "refit_checkpoint": record["model_dir"],
                "refit_trial_number": record["trial_number"],
                "refit_spec_fp": record["spec_fp"],
                "refit_exec_fp": record["exec_fp"],
                "refit_mlflow_run_id": record.get("mlflow_run_id"),
            }
        )
    if not hpo.keep_trial_checkpoints:
        shutil.rmtree(session.work_dir, ignore_errors=True)
    report = write_study_report(study, handle.dir / REPORT_DIR)
    extra["report"] = {
        "trials_csv": report.trials_csv.relative_to(handle.dir).as_posix(),
        "trials_json": report.trials_json.relative_to(handle.dir).as_posix(),
        "best_trial": report.best_trial_json.relative_to(handle.dir).as_posix(),
        "plots": {k: v.relative_to(handle.dir).as_posix() for k, v in report.plots.items()},
    }
    final = count_trials(study)
    metrics = {
        "best_value": best["value"],
        "best_cv_std": best.get("cv_std"),
        "n_complete": final.complete,
        "n_pruned": final.pruned,
        "n_failed": final.failed,
    }
    session.tracker.set_run_tags(
        parent_run_id,
        {
            **mirror_tags(
                "optuna.study",
                {k: v for k, v in study.user_attrs.items() if k != ATTR_CONFIG},
            ),
            "optuna.study.best_trial": str(best["number"]),
            "optuna.study.best_value": str(best["value"]),
            "optuna.study.direction": hpo.direction,
        },
    )
    if parent_run_id is not None:
        session.tracker.log_metrics({k: v for k, v in metrics.items() if v is not None})
    manifest = handle.complete(metrics=metrics, extra=extra)
    if backup is not None:
        backup(study, best_trial)
    console.print(
        f"[bold]hpo[/] study {session.study_name}: best {hpo.objective_metric} "
        f"{best['value']:.4f} (trial {best['number']}); {final.complete} complete, "
        f"{final.pruned} pruned, {final.failed} failed"
    )
    return _outcome_from_manifest(manifest, handle.dir, action, storage_url=session.storage_url)


def _refit_spec_preview(session: _Session, params: Mapping[str, Any]) -> tuple[str, str]:
    from nerp_hpo.refit import refit_fingerprints
    from nerp_hpo.space import trial_model_config, trial_train_config
    from nerp_training.trainer import device_type

    return refit_fingerprints(
        data_fp=session.dataset.data_fp,
        model=trial_model_config(session.config.model, params, session.plan.train_backbone),
        train=trial_train_config(session.config.train, params),
        device=device_type(),
    )


# -- workers -------------------------------------------------------------------------


def _worker_dataset(attrs: Mapping[str, Any], config: ExperimentConfig, root: Path) -> Any:
    recorded = attrs.get(ATTR_DATASET_DIR)
    if isinstance(recorded, str) and (Path(recorded) / "nerp.json").is_file():
        dataset = load_dataset(recorded)
    else:
        index = ArtifactIndex(root)
        layout = OutputLayout(root, config.paths.layout)
        dataset = prepare_dataset(
            config.data, index=index, layout=layout, run_mode="reuse_if_exists"
        )
    if dataset.data_fp != attrs.get(ATTR_DATA_FP):
        raise HpoError(
            f"the study was made on dataset {attrs.get(ATTR_DATA_FP, '?')[:12]}…, but this "
            f"worker has {dataset.data_fp[:12]}… ({dataset.artifact_dir}); workers must see "
            "the same data"
        )
    return dataset


def run_worker(
    study_name: str,
    storage_url: str,
    *,
    n_trials: int | None = None,
    output_root: Path | None = None,
    progress: bool = True,
    console: Console | None = None,
    trainer: FoldTrainer | None = None,
) -> StudyOutcome:
    """Join a running study as one more worker and run trials until its budget is covered.

    The study's own attributes say what to train (config, dataset, folds, MLflow parent
    run); the worker trains in the study artifact's ``trials/`` folder when it can see
    it, else under ``<output_root>/hpo-workers/<study>``. It neither refits nor completes
    the study artifact. ``n_trials`` caps this worker's share (default: the whole budget).
    """
    console = console or Console(quiet=not progress)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = open_study(study_name, storage_url)
    attrs = dict(probe.user_attrs)
    if ATTR_CONFIG not in attrs:
        raise HpoError(
            f"study {study_name!r} in {redact_url(storage_url)} was not created by nerp hpo "
            "(it has no nerp_config attribute); start studies with `nerp hpo run`"
        )
    config = ExperimentConfig.model_validate(attrs[ATTR_CONFIG])
    backbone = attrs.get(ATTR_BACKBONE)
    plan = plan_study(config, backbone)
    if plan.space_fp != attrs.get(ATTR_SPACE_FP):
        raise HpoError(
            f"study {study_name!r}: its search space fingerprint does not match its stored "
            "config (made by another nerp-hpo version?); start a new study version"
        )
    me = owner_token()
    study = open_study(
        study_name, storage_url, config=config, distributions=plan.distributions, worker=me
    )
    recorded_root = Path(str(attrs.get(ATTR_OUTPUT_ROOT, "")))
    if output_root is not None:
        root = Path(output_root).absolute()
    elif str(recorded_root) and recorded_root.is_dir():
        root = recorded_root  # same machine or shared disk: use the study's own root
    else:
        root = _output_root(config, None)
    dataset = _worker_dataset(attrs, config, root)
    artifact_dir = Path(str(attrs.get(ATTR_ARTIFACT_DIR, "")))
    shared = artifact_dir.is_dir() and (artifact_dir / "nerp.json").is_file()
    folds = study_folds(
        dataset,
        k=config.hpo.k_folds,
        seed=config.data.split.seed,
        directory=artifact_dir if shared else None,
    )
    if folds_fingerprint(folds) != attrs.get(ATTR_FOLDS_FP):
        raise HpoError(f"study {study_name!r}: this worker's folds differ from the study's")
    version = int(attrs.get(ATTR_VERSION, 1))
    parent_run_id = attrs.get(ATTR_PARENT_RUN)
    tracking = config.tracking.enabled and parent_run_id is not None
    if tracking:
        _setup_tracking(config, root, uri=attrs.get(ATTR_TRACKING_URI))
    tracker = _tracker(
        config.model_copy(
            update={"tracking": config.tracking.model_copy(update={"enabled": tracking})}
        ),
        plan,
        study_name,
        version,
        {
            "data_fp": dataset.data_fp,
            "artifact_id": attrs.get(ATTR_ARTIFACT_ID),
            "artifact_kind": STUDY_KIND,
            "variant": version,
        },
        enabled=tracking,
    )
    tracker.parent_run_id = parent_run_id
    work_dir = artifact_dir / TRIALS_DIR if shared else root / "hpo-workers" / slug(study_name)
    session = _Session(
        config=config,
        plan=plan,
        study=study,
        study_name=study_name,
        storage_url=storage_url,
        version=version,
        dataset=dataset,
        folds=folds,
        work_dir=work_dir,
        tracker=tracker,
        output_root=root,
    )
    budget = attrs.get(ATTR_BUDGET)
    budget = int(budget) if budget is not None else None
    if n_trials is not None:
        have = count_trials(study).finished
        budget = min(budget, have + n_trials) if budget is not None else have + n_trials
    console.print(
        f"[bold]hpo[/] worker {me} joining study {study_name} ({redact_url(storage_url)})"
    )
    counts = run_trials(
        study,
        _objective(session, trainer=trainer, progress=False),
        budget=budget,
        timeout_s=config.hpo.timeout_s,
        callbacks=[TrialProgress(console, budget=budget, enabled=progress)],
        wait_for_others=False,
    )
    best = best_trial_summary(study)
    return StudyOutcome(
        artifact_id=str(attrs.get(ATTR_ARTIFACT_ID, "")),
        artifact_dir=artifact_dir,
        study_name=study_name,
        storage_url=storage_url,
        backbone=plan.backbone,
        version=version,
        action="worker",
        status=_artifact_status(artifact_dir),
        best_value=None if best is None else best["value"],
        best_trial=best,
        n_complete=counts.complete,
        n_pruned=counts.pruned,
        n_failed=counts.failed,
        mlflow_parent_run_id=parent_run_id,
    )


def _artifact_status(directory: Path) -> str:
    try:
        return read_manifest(directory).status
    except Exception:
        return "unknown"

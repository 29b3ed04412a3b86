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
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console

from nerp_hpo.errors import HpoError, StudyNotFoundError
from nerp_hpo.folds import FOLDS_FILE
from nerp_hpo.objective import RUN_ID_ATTR, FoldTrainer, trial_dir_name
from nerp_hpo.plan import (
    REPORT_DIR,
    STUDY_KIND,
    TRIALS_DIR,
    Action,
    StudyOutcome,
    StudyPlan,
    outcome_from_manifest,
    plan_study,
    storage_for,
    study_backbones,
    study_output_root,
)
from nerp_hpo.progress import TrialProgress
from nerp_hpo.refit import REFIT_DIR, refit_done
from nerp_hpo.reports import best_trial_summary
from nerp_hpo.runs import HPO_STAGE, mirror_tags, parent_run_key
from nerp_hpo.session import (
    ATTR_CONFIG,
    ATTR_PARENT_RUN,
    ATTR_TRACKING_URI,
    StudySession,
    begin_study_artifact,
    completion_record,
    find_studies,
    make_objective,
    open_artifact_study,
    refit_best,
    refit_extra,
    set_missing_attrs,
    setup_tracking,
)
from nerp_hpo.space import BACKBONE_PARAM
from nerp_hpo.storage import STUDY_DB_NAME, default_storage_url, redact_url
from nerp_hpo.trials import TrialCallback, TrialCounts, count_trials, run_trials
from nerp_hpo.workers import run_worker
from nerp_infra.artifacts import (
    MANIFEST_NAME,
    ArtifactHandle,
    ArtifactIndex,
    Manifest,
)
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.config import ExperimentConfig, RunMode
from nerp_infra.paths import OutputLayout
from nerp_training.data import PreparedDataset, load_or_prepare_dataset

__all__ = [
    "find_study_artifacts",
    "run_studies",
    "run_study",
]

logger = logging.getLogger("nerp_hpo")


def _backup_callback(
    backup_root: Path | None,
    output_root: Path,
    artifact_dir: Path,
    storage_url: str,
    also: list[Path],
) -> TrialCallback | None:
    """Push what a new session needs to resume the study: its database, folds, manifest,
    best trial, refit and report, plus ``also`` (the dataset it names as lineage, a
    tracking database under the output root)."""
    if backup_root is None:
        return None
    from nerp_infra.backup import BackupStore

    store = BackupStore(backup_root, output_root)

    def backup(study: optuna.Study, _trial: Any) -> None:
        paths: list[Path] = [artifact_dir / FOLDS_FILE, artifact_dir / MANIFEST_NAME, *also]
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


def _local_tracking_db(tracking_uri: str | None, root: Path) -> list[Path]:
    """The MLflow SQLite database when it lives under the output root (the default), where
    a lost session would take the study's runs with it; a server or a database elsewhere
    keeps them already."""
    prefix = "sqlite:///"
    if tracking_uri is None or not tracking_uri.startswith(prefix):
        return []
    db = Path(tracking_uri[len(prefix) :]).absolute()
    return [db] if db.is_relative_to(root.absolute()) else []


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
    index: ArtifactIndex | None = None,
    dataset_dir: Path | None = None,
) -> list[StudyOutcome]:
    """Every study the config asks for: one per backbone, or one over all of them.
    ``index`` is the output root's artifact index when the caller holds it (the stage);
    ``dataset_dir`` the dataset artifact to tune on (default: prepared from ``config.data``)."""
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
            index=index,
            dataset_dir=dataset_dir,
        )
        for backbone in study_backbones(config)
    ]


def find_study_artifacts(
    config: ExperimentConfig,
    *,
    output_root: Path | None = None,
    backbone: str | None = None,
) -> list[tuple[Path, Manifest]]:
    """Study artifacts of this config's study key(s), oldest first (any fingerprints)."""
    root = study_output_root(config, output_root)
    index = ArtifactIndex(root)
    found: list[tuple[Path, Manifest]] = []
    backbones = [backbone] if backbone is not None else study_backbones(config)
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
    index: ArtifactIndex | None = None,
    dataset_dir: Path | None = None,
) -> StudyOutcome:
    """Create, resume or reuse the study ``config`` describes, run it to its budget,
    refit the best trial and complete the study artifact (see the module doc).

    ``worker``: join the incomplete study with the same fingerprints as one more
    worker (no refit, no completion; the study's own process does those). ``n_trials``
    overrides ``hpo.n_trials``. ``backup_root`` copies the study database, folds, best
    checkpoint, refit, the dataset and a local MLflow database to that folder after every
    trial; ``nerp backup pull`` in a new session restores them and this resumes the
    study. ``trainer`` replaces ``train_model`` (same keyword arguments), for tests and
    benchmarks. ``index``: the output root's index, when the caller holds it open;
    ``dataset_dir``: the dataset artifact this run's data stage made (default: prepared, or
    reused, from ``config.data``).
    """
    console = console or Console(quiet=not progress)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = study_output_root(config, output_root)
    index = index if index is not None else ArtifactIndex(root)
    layout = OutputLayout(root, config.paths.layout)
    plan = plan_study(config, backbone, n_trials=n_trials)
    dataset = load_or_prepare_dataset(
        config.data, index=index, layout=layout, dataset_dir=dataset_dir
    )

    if worker:
        candidates = [
            item
            for item in find_studies(index, plan, dataset, status="incomplete")
            if StudyPayload.of(item.manifest, item.path).study_name
        ]
        if not candidates:
            raise StudyNotFoundError(
                f"no running study {plan.key} with these settings under {root} to join; "
                "start it with `nerp hpo run` first"
            )
        joined = candidates[-1]
        return run_worker(
            str(StudyPayload.of(joined.manifest, joined.path).study_name),
            storage_for(config, joined.manifest.extra, joined.path),
            n_trials=n_trials,
            output_root=root,
            progress=progress,
            console=console,
            trainer=trainer,
        )

    mode: RunMode = run_mode or config.hpo.run_mode
    decision = begin_study_artifact(index, layout, config, plan, dataset, run_mode=mode)
    handle = decision.handle
    if decision.action == "reuse":
        name = StudyPayload.of(handle.manifest, handle.dir).study_name
        console.print(f"[bold]hpo[/] reusing study {name}")
        return outcome_from_manifest(handle.manifest, handle.dir, "reuse")
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
    storage_url = storage_for(config, handle.manifest.extra, handle.dir)
    opened = open_artifact_study(
        config, plan, handle, dataset, storage_url=storage_url, output_root=root
    )
    study, study_name = opened.study, opened.name
    tracking_uri = setup_tracking(config, root) if config.tracking.enabled else None
    set_missing_attrs(study, {ATTR_TRACKING_URI: tracking_uri})
    session = StudySession.start(
        config,
        plan,
        opened,
        dataset,
        work_dir=handle.dir / TRIALS_DIR,
        output_root=root,
        tags={
            "data_fp": dataset.data_fp,
            "artifact_id": handle.id,
            "artifact_kind": STUDY_KIND,
            "variant": opened.version,
            "lineage": [dataset.artifact_id],
        },
    )
    verb = {"new": "starting", "resume": "resuming"}.get(action, action)
    console.print(
        f"[bold]hpo[/] {verb} study {study_name} ({redact_url(storage_url)}): "
        f"budget {plan.budget or 'by time'}, {hpo.k_folds} fold(s), sampler "
        f"{hpo.sampler.type}, pruner {hpo.pruner.type}"
    )
    shown = TrialProgress(
        console, budget=plan.budget, enabled=progress, finished=count_trials(study).finished
    )
    callbacks: list[TrialCallback] = [shown]
    backup = _backup_callback(
        backup_root,
        root,
        handle.dir,
        storage_url,
        also=[dataset.artifact_dir, *_local_tracking_db(tracking_uri, root)],
    )
    if backup is not None:
        callbacks.append(backup)
    _remember_parent_run(index, handle, study_name)
    with session.tracker.parent(
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
            set_missing_attrs(study, {ATTR_PARENT_RUN: parent_run_id})
            handle.update_extra({"mlflow_parent_run_id": parent_run_id})
        with shown:
            counts = run_trials(
                study,
                make_objective(session, trainer=trainer, progress=False),
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


def _remember_parent_run(index: ArtifactIndex, handle: ArtifactHandle, study_name: str) -> None:
    """A study restored from a backup comes with a fresh index that has forgotten its
    MLflow parent run; the manifest still names it, so the resumed study logs to the same
    run (or starts a new one if the tracking store lost it too)."""
    run_key = parent_run_key(study_name)
    known = StudyPayload.of(handle.manifest, handle.dir).mlflow_parent_run_id
    if known and index.get_run_id(run_key) is None:
        index.set_run_id(run_key, known)


def _finish_study(
    session: StudySession,
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
        refit_run_id: str | None = None  # a refit finished before this process: no run
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
                result = refit_best(
                    config, session.plan, session.dataset, handle.dir, best, trainer=trainer
                )
                session.tracker.log_metrics(
                    {"train_seconds": result.train_seconds, "global_step": result.global_step}
                )
            record = refit_done(handle.dir)
            assert record is not None
        extra.update(refit_extra(record, refit_run_id))
    if not hpo.keep_trial_checkpoints:
        shutil.rmtree(session.work_dir, ignore_errors=True)
    report, metrics, final = completion_record(study, handle.dir, best)
    extra.update(report)
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
    manifest = handle.complete(metrics=metrics, extra=StudyPayload.model_validate(extra).as_extra())
    if backup is not None:
        backup(study, best_trial)
    console.print(
        f"[bold]hpo[/] study {session.study_name}: best {hpo.objective_metric} "
        f"{best['value']:.4f} (trial {best['number']}); {final.complete} complete, "
        f"{final.pruned} pruned, {final.failed} failed"
    )
    return outcome_from_manifest(manifest, handle.dir, action, storage_url=session.storage_url)


def _refit_spec_preview(session: StudySession, params: Mapping[str, Any]) -> tuple[str, str]:
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

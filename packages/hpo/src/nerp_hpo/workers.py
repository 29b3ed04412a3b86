"""``nerp hpo worker``: one more process running trials of a study that already exists.

The study's own attributes say what to train (config, dataset, folds, MLflow parent
run), so joining needs only the study name and its storage URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console

from nerp_hpo.errors import HpoError
from nerp_hpo.folds import study_folds
from nerp_hpo.objective import FoldTrainer
from nerp_hpo.plan import STUDY_KIND, TRIALS_DIR, StudyOutcome, plan_study, study_output_root
from nerp_hpo.progress import TrialProgress
from nerp_hpo.reports import best_trial_summary
from nerp_hpo.session import (
    ATTR_ARTIFACT_DIR,
    ATTR_ARTIFACT_ID,
    ATTR_BACKBONE,
    ATTR_BUDGET,
    ATTR_CONFIG,
    ATTR_DATA_FP,
    ATTR_DATASET_DIR,
    ATTR_FOLDS_FP,
    ATTR_OUTPUT_ROOT,
    ATTR_PARENT_RUN,
    ATTR_SPACE_FP,
    ATTR_TRACKING_URI,
    ATTR_VERSION,
    OpenedStudy,
    StudySession,
    make_objective,
    open_study,
    setup_tracking,
)
from nerp_hpo.storage import redact_url
from nerp_hpo.trials import count_trials, run_trials
from nerp_infra.artifacts import ArtifactIndex, read_manifest
from nerp_infra.artifacts.runs import owner_token
from nerp_infra.config import ExperimentConfig
from nerp_infra.paths import OutputLayout, slug
from nerp_training.data import folds_fingerprint, load_dataset, prepare_dataset

__all__ = ["run_worker"]


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
        root = study_output_root(config, None)
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
        setup_tracking(config, root, uri=attrs.get(ATTR_TRACKING_URI))
    session = StudySession.start(
        config,
        plan,
        OpenedStudy(study, study_name, storage_url, version, folds),
        dataset,
        work_dir=artifact_dir / TRIALS_DIR if shared else root / "hpo-workers" / slug(study_name),
        output_root=root,
        tags={
            "data_fp": dataset.data_fp,
            "artifact_id": attrs.get(ATTR_ARTIFACT_ID),
            "artifact_kind": STUDY_KIND,
            "variant": version,
        },
        tracking=tracking,
    )
    session.tracker.parent_run_id = parent_run_id
    budget = attrs.get(ATTR_BUDGET)
    budget = int(budget) if budget is not None else None
    if n_trials is not None:
        have = count_trials(study).finished
        budget = min(budget, have + n_trials) if budget is not None else have + n_trials
    console.print(
        f"[bold]hpo[/] worker {me} joining study {study_name} ({redact_url(storage_url)})"
    )
    with TrialProgress(
        console, budget=budget, enabled=progress, finished=count_trials(study).finished
    ) as shown:
        counts = run_trials(
            study,
            make_objective(session, trainer=trainer, progress=False),
            budget=budget,
            timeout_s=config.hpo.timeout_s,
            callbacks=[shown],
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

"""A finished Azure ML sweep recorded as a local ``study`` artifact.

Local stages (``nerp eval select``, ``nerp hpo status|report``, a re-run of ``nerp hpo
run``) know studies as artifacts in the local index; a sweep on Azure ML leaves its
results in the workspace. After the sweep ends, every child job's ``trial`` output is
downloaded and its ``trial.json`` (:mod:`nerp_hpo.single_trial`) read, and the children
become the trials of an Optuna study on SQLite inside a new study artifact, shaped as a
local study's: the same key, fingerprints (``data_fp``, ``space_fp``) and lineage (the
local dataset artifact), so a later local run with the same settings reuses it instead of
searching again.

Children become trials as :mod:`nerp_hpo.sweep_children` says (COMPLETE, PRUNED when
Azure's early termination cancelled them, FAIL); each trial's ``azureml_job`` user
attribute names its child job, and the manifest's ``azureml_job`` extra
(``nerp_infra.azureml.AZUREML_JOB_EXTRA``) names the sweep.

The refit follows ``hpo.refit`` as in a local study: the best trial is trained again
here, on all CV documents, into ``refit/model``. Selection measures latency on that
checkpoint when it compares backbones, and the fingerprints promise a refit
(``space_fp`` covers ``hpo.refit``). It trains one model locally; set ``hpo.refit:
false`` to skip it (a different study, since the fingerprint changes).

A sweep with no complete child raises :class:`~nerp_hpo.errors.HpoError` naming every
child and records nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console

from nerp_hpo.errors import HpoError
from nerp_hpo.plan import (
    StudyOutcome,
    StudyPlan,
    outcome_from_manifest,
    plan_study,
)
from nerp_hpo.refit import refit_done
from nerp_hpo.reports import best_trial_summary
from nerp_hpo.session import (
    begin_study_artifact,
    completion_record,
    find_studies,
    open_artifact_study,
    refit_best,
    refit_extra,
    study_fingerprints,
)
from nerp_hpo.space import BACKBONE_PARAM
from nerp_hpo.storage import default_storage_url
from nerp_hpo.sweep import TRIAL_OUTPUT
from nerp_hpo.sweep_children import (
    AZUREML_CHILD_ATTR,
    child_trial,
    collect_children,
    no_complete_child,
)
from nerp_infra.artifacts import MANIFEST_NAME, ArtifactIndex, IndexedArtifact
from nerp_infra.artifacts.payloads import StudyPayload
from nerp_infra.azureml.outputs import AZUREML_JOB_EXTRA, JobProvenance
from nerp_infra.config import ExperimentConfig
from nerp_infra.paths import OutputLayout
from nerp_training.data import PreparedDataset

__all__ = [
    "CHILD_RESULTS_DIR",
    "find_recorded_study",
    "record_sweep",
    "sweep_study_plan",
]

CHILD_RESULTS_DIR = "azureml"
"""Folder in the study artifact with each child's ``trial.json`` as downloaded."""


def sweep_study_plan(config: ExperimentConfig, *, budget: int | None = None) -> StudyPlan:
    """The local study a sweep of ``config`` stands for (key, fingerprints, backbone).

    One sweep is one study: the backbone is searched in it (``hpo.study_per_backbone:
    false``) or there is one backbone. Several backbones with one study each need one
    sweep each, which is refused here before anything is submitted.
    """
    hpo = config.hpo
    if hpo.study_per_backbone and len(hpo.backbones) > 1:
        raise HpoError(
            f"hpo.backbones lists {', '.join(hpo.backbones)} with hpo.study_per_backbone: "
            "one Azure ML sweep is one study; submit one sweep per backbone (--set "
            "hpo.backbones=[NAME]) or search the backbone in one sweep (--set "
            "hpo.study_per_backbone=false)"
        )
    backbone = hpo.backbones[0] if hpo.study_per_backbone else None
    return plan_study(config, backbone, n_trials=budget)


def find_recorded_study(
    index: ArtifactIndex, plan: StudyPlan, dataset: PreparedDataset
) -> IndexedArtifact | None:
    """The newest complete study with these fingerprints (recorded from a sweep or run
    locally), which ``reuse_if_exists``/``resume_if_incomplete`` reuse as a local run would."""
    wanted = study_fingerprints(plan, dataset)
    found = [
        item
        for item in find_studies(index, plan, dataset, status="complete")
        if item.manifest.fingerprints == wanted and (item.path / MANIFEST_NAME).is_file()
    ]
    return found[-1] if found else None


def record_sweep(
    config: ExperimentConfig,
    sweep_job: Any,
    ml_client: Any,
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    dataset: PreparedDataset,
    budget: int | None = None,
    trainer: Any = None,
    console: Console | None = None,
) -> StudyOutcome:
    """Record the finished ``sweep_job`` as a new complete study artifact (module doc).

    ``budget`` is the sweep's ``max_total_trials``; ``trainer`` replaces ``train_model``
    for the refit (tests).
    """
    console = console or Console(quiet=True)
    root = Path(index.root).absolute()
    plan = sweep_study_plan(config, budget=budget)
    sweep_name = str(sweep_job.name)
    with tempfile.TemporaryDirectory(prefix=".azureml-sweep-", dir=root) as tmp:
        children = collect_children(ml_client, sweep_name, Path(tmp))
        trials = [child_trial(child, plan.distributions) for child in children]
        if not any(t.state == TrialState.COMPLETE for t in trials):
            raise no_complete_child(sweep_name, children)
        decision = begin_study_artifact(index, layout, config, plan, dataset, run_mode="force_new")
        handle = decision.handle
        try:
            kept = handle.dir / CHILD_RESULTS_DIR
            for child in children:
                if child.raw_file is not None:
                    kept.mkdir(exist_ok=True)
                    shutil.copy2(child.raw_file, kept / f"{child.job_name}.json")
            return _fill_study(
                config,
                plan,
                handle,
                dataset,
                sweep_job,
                trials,
                root=root,
                trainer=trainer,
                console=console,
            )
        except BaseException as exc:
            if handle.manifest.status == "incomplete":
                handle.fail(f"recording Azure ML sweep {sweep_name}: {exc}")
            raise


def _fill_study(
    config: ExperimentConfig,
    plan: StudyPlan,
    handle: Any,
    dataset: PreparedDataset,
    sweep_job: Any,
    trials: list[optuna.trial.FrozenTrial],
    *,
    root: Path,
    trainer: Any,
    console: Console,
) -> StudyOutcome:
    hpo = config.hpo
    storage_url = default_storage_url(handle.dir)
    opened = open_artifact_study(
        config,
        plan,
        handle,
        dataset,
        storage_url=storage_url,
        output_root=root,
        attrs={"nerp_azureml_sweep": str(sweep_job.name)},
    )
    study, study_name = opened.study, opened.name
    study.add_trials(trials)
    best = best_trial_summary(study)
    assert best is not None  # record_sweep checked for a complete trial
    extra: dict[str, Any] = {
        AZUREML_JOB_EXTRA: JobProvenance.of(sweep_job, TRIAL_OUTPUT).as_extra(),
        "best_trial": best,
        "best_backbone": best["params"].get(BACKBONE_PARAM) or plan.train_backbone,
        "best_trial_run_id": None,
        "best_trial_azureml_job": study.best_trial.user_attrs.get(AZUREML_CHILD_ATTR),
    }
    if hpo.refit:
        console.print(
            f"[bold]hpo[/] refitting trial {best['number']} on all CV documents (locally)"
        )
        refit_best(config, plan, dataset, handle.dir, best, trainer=trainer)
        record = refit_done(handle.dir)
        assert record is not None
        extra.update(refit_extra(record, None))
    else:
        extra["refit_trial_number"] = None  # no checkpoint: selection must not assume one
    report, metrics, counts = completion_record(study, handle.dir, best)
    manifest = handle.complete(
        metrics=metrics, extra=StudyPayload.model_validate({**extra, **report}).as_extra()
    )
    console.print(
        f"[bold]hpo[/] recorded sweep {sweep_job.name} as study {study_name}: best "
        f"{hpo.objective_metric} {best['value']:.4f} (trial {best['number']}); "
        f"{counts.complete} complete, {counts.pruned} pruned, {counts.failed} failed"
    )
    return outcome_from_manifest(manifest, handle.dir, "new", storage_url=storage_url)

"""``--target azureml``: write (dry run) or submit the study as an Azure ML sweep job.

The dataset is prepared locally first, so the sweep trains on exactly the dataset
artifact a local study would (uploaded once as a data asset versioned by its data_fp).
When the sweep ends it is recorded as a local study artifact
(:mod:`nerp_hpo.sweep_record`); a complete study with the same fingerprints already in
the index is reused instead of submitting (unless the run mode is ``force_new``), as a
local ``nerp hpo run`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_hpo.plan import StudyOutcome, outcome_from_manifest
from nerp_hpo.sweep import (
    DATASET_ASSET,
    DEFAULT_MAX_CONCURRENT_TRIALS,
    build_sweep_job,
    dataset_asset,
    default_environment,
    write_code_dir,
    write_sweep_job,
)
from nerp_hpo.sweep_children import sweep_failure
from nerp_hpo.sweep_record import find_recorded_study, record_sweep, sweep_study_plan
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.artifacts.payloads import Payload
from nerp_infra.azureml.errors import AzureJobError, AzureJobTimeout
from nerp_infra.azureml.workspace import Workspace
from nerp_infra.config import ExperimentConfig, RunMode
from nerp_infra.paths import OutputLayout
from nerp_training.data import PreparedDataset, load_or_prepare_dataset

__all__ = ["SweepSubmission", "prepare_sweep_dataset", "submit_sweep", "write_sweep_dry_run"]


@dataclass(frozen=True)
class SweepSubmission:
    """A finished sweep and the study artifact that records it; or, with ``status``
    ``reused``, the complete study that made submitting unnecessary (``name`` is then the
    sweep that study was recorded from, if it was)."""

    name: str | None
    status: str
    studio_url: str | None
    study: StudyOutcome


def prepare_sweep_dataset(
    config: ExperimentConfig,
    index: ArtifactIndex,
    layout: OutputLayout,
    dataset_dir: Path | None = None,
) -> PreparedDataset:
    """``dataset_dir`` (the dataset this run's ``data`` stage made), else the dataset of
    ``config.data`` prepared into ``index`` (reused when it is already there)."""
    return load_or_prepare_dataset(config.data, index=index, layout=layout, dataset_dir=dataset_dir)


def write_sweep_dry_run(
    config: ExperimentConfig,
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    out_dir: Path,
    dataset_dir: Path | None = None,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
) -> dict[str, Path]:
    """The job YAML (validated with ``azure.ai.ml.load_job``) and its code folder."""
    dataset = prepare_sweep_dataset(config, index, layout, dataset_dir)
    return write_sweep_job(
        config,
        out_dir,
        dataset=dataset_asset(dataset.data_fp),
        budget=budget,
        max_concurrent_trials=max_concurrent_trials,
    )


def submit_sweep(
    config: ExperimentConfig,
    *,
    index: ArtifactIndex,
    layout: OutputLayout,
    work_dir: Path,
    dataset_dir: Path | None = None,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
    workspace: Workspace | None = None,
    timeout_s: float | None = None,
    run_mode: RunMode | None = None,
    console: Any = None,
    trainer: Any = None,
) -> SweepSubmission:
    """Register the dataset and environment (reused when unchanged), submit the sweep,
    wait for it (Ctrl-C cancels the remote job) and record it as a study artifact.

    ``run_mode`` defaults to ``hpo.run_mode``; anything but ``force_new`` reuses a
    complete study with the same fingerprints without submitting. A sweep that ends
    without a complete trial raises :class:`~nerp_hpo.errors.HpoError` naming each
    child's status and error, and records nothing. ``trainer`` replaces ``train_model``
    for the local refit (tests).
    """
    from nerp_infra.azureml import (
        connect_workspace,
        ensure_data_asset,
        ensure_environment,
        submit_and_wait,
    )

    study_plan = sweep_study_plan(config)  # refuses what one sweep cannot be, before any upload
    dataset = prepare_sweep_dataset(config, index, layout, dataset_dir)
    if (run_mode or config.hpo.run_mode) != "force_new":
        found = find_recorded_study(index, study_plan, dataset)
        if found is not None:
            source = Payload.of(found.manifest, found.path).azureml_job or {}
            return SweepSubmission(
                name=source.get("job_name"),
                status="reused",
                studio_url=source.get("studio_url"),
                study=outcome_from_manifest(found.manifest, found.path, "reuse"),
            )
    workspace = workspace or connect_workspace()
    client, settings = workspace.ml_client, workspace.settings
    data_ref = ensure_data_asset(
        client, name=DATASET_ASSET, path=dataset.artifact_dir, data_fp=dataset.data_fp
    )
    env_ref = ensure_environment(client, default_environment())
    job = build_sweep_job(
        config,
        code_dir=write_code_dir(config, work_dir / "code"),
        dataset=data_ref,
        environment=env_ref,
        budget=budget,
        max_concurrent_trials=max_concurrent_trials,
        settings=settings,
    )
    try:
        finished = submit_and_wait(client, job, timeout_s=timeout_s)
    except AzureJobTimeout:
        raise
    except AzureJobError as exc:
        raise sweep_failure(client, exc) from exc
    study = record_sweep(
        config,
        finished,
        client,
        index=index,
        layout=layout,
        dataset=dataset,
        budget=job.limits.max_total_trials,
        trainer=trainer,
        console=console,
    )
    return SweepSubmission(
        name=str(finished.name),
        status=str(finished.status),
        studio_url=finished.studio_url,
        study=study,
    )

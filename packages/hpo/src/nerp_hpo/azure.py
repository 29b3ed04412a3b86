"""``--target azureml``: write (dry run) or submit the study as an Azure ML sweep job.

The dataset is prepared locally first, so the sweep trains on exactly the dataset
artifact a local study would (uploaded once as a data asset versioned by its data_fp).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerp_hpo.sweep import (
    DATASET_ASSET,
    DEFAULT_MAX_CONCURRENT_TRIALS,
    build_sweep_job,
    dataset_asset,
    default_environment,
    write_code_dir,
    write_sweep_job,
)
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import ExperimentConfig
from nerp_infra.paths import OutputLayout
from nerp_training.data import PreparedDataset, prepare_dataset

__all__ = ["SweepSubmission", "prepare_sweep_dataset", "submit_sweep", "write_sweep_dry_run"]


@dataclass(frozen=True)
class SweepSubmission:
    """A submitted (and finished) sweep job: its name and final status."""

    name: str
    status: str
    studio_url: str | None


def prepare_sweep_dataset(config: ExperimentConfig, output_root: Path) -> PreparedDataset:
    index = ArtifactIndex(output_root)
    layout = OutputLayout(output_root, config.paths.layout)
    return prepare_dataset(config.data, index=index, layout=layout, run_mode="reuse_if_exists")


def write_sweep_dry_run(
    config: ExperimentConfig,
    *,
    output_root: Path,
    out_dir: Path,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
) -> dict[str, Path]:
    """The job YAML (validated with ``azure.ai.ml.load_job``) and its code folder."""
    dataset = prepare_sweep_dataset(config, output_root)
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
    output_root: Path,
    work_dir: Path,
    budget: int | None = None,
    max_concurrent_trials: int = DEFAULT_MAX_CONCURRENT_TRIALS,
    ml_client: Any = None,
    settings: Any = None,
    timeout_s: float | None = None,
) -> SweepSubmission:
    """Register the dataset and environment (reused when unchanged), submit the sweep and
    wait for it; Ctrl-C cancels the remote job."""
    from nerp_infra.azureml import (
        create_ml_client,
        ensure_data_asset,
        ensure_environment,
        find_config_json,
        load_workspace_settings,
        submit_and_wait,
    )

    if settings is None:
        settings = load_workspace_settings(config_json=find_config_json())
    client = ml_client if ml_client is not None else create_ml_client(settings)
    dataset = prepare_sweep_dataset(config, output_root)
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
    finished = submit_and_wait(client, job, timeout_s=timeout_s)
    services = getattr(finished, "services", None) or {}
    studio = services.get("Studio")
    return SweepSubmission(
        name=str(finished.name),
        status=str(finished.status),
        studio_url=getattr(studio, "endpoint", None),
    )

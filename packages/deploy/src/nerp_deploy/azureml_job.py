"""The Azure ML command job for conversion, built from the same config as ``nerp convert``.

The job runs ``nerp convert`` on the model artifact (a local folder, uploaded, or an
``azureml:`` asset) with the resolved experiment (uploaded as an input), and writes the ONNX
package into the job's ``package`` output. A failed parity check fails the job, exactly as
it fails the command locally.

Only building is covered by tests (``--dry-run``: YAML written, then loaded back with
``azure.ai.ml.load_job``); submission uses nerp-infra's ``submit_and_wait``. The Azure SDK
(extra ``[azure]``) is imported inside the functions only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerp_infra.artifacts import kinds
from nerp_infra.config import ExperimentConfig
from nerp_infra.deprecation import deprecated_names

if TYPE_CHECKING:
    from nerp_infra.artifacts import IndexedArtifact
    from nerp_infra.pipeline import StageContext, StageResult

__all__ = [
    "ENVIRONMENT_NAME",
    "JOB_KEY",
    "build_conversion_job",
    "conversion_command",
    "default_environment",
    "run_conversion_job",
    "submit_conversion_job",
    "write_conversion_job",
]

JOB_KEY = "conversion"
"""File stem of the job YAML (``conversion.yml``)."""
ENVIRONMENT_NAME = "nerp-deploy-convert"
OUTPUT_NAME = "package"
"""The job output the ONNX package is written to."""

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "CONVERT_STAGE": "nerp_infra.artifacts.kinds:CONVERT_STAGE",
    },
)


def conversion_command() -> str:
    """``nerp convert`` on the job's inputs, writing the package into its output folder."""
    return (
        f"nerp convert ${{{{inputs.model}}}} --out ${{{{outputs.{OUTPUT_NAME}}}}} "
        "--experiment ${{inputs.config}}"
    )


def _lineage(model: Path | str) -> list[str]:
    from nerp_infra.artifacts import ManifestError, read_manifest

    if isinstance(model, str):
        return []  # an azureml: asset; its manifest travels inside it
    try:
        return [read_manifest(model).id]
    except ManifestError:
        return []


def build_conversion_job(
    config: ExperimentConfig,
    *,
    config_file: Path,
    model: Path | str,
    environment: Any,
    lineage: list[str] | None = None,
    settings: Any = None,
    compute: str | None = None,
    display_name: str | None = None,
) -> Any:
    """The command job (``azure.ai.ml`` ``Command``) converting ``model`` with ``config``.

    ``config_file`` is the resolved experiment (see :func:`write_conversion_job`); ``model``
    the model artifact folder or an ``azureml:`` data asset reference.
    """
    from nerp_infra.azureml import AzureJobSpecError, stage_job

    if isinstance(model, Path) and not model.is_dir():
        raise AzureJobSpecError(f"job input 'model': {model} is not a model artifact folder")
    conversion = config.conversion
    return stage_job(
        stage=kinds.CONVERT_STAGE,
        backbone=config.model.backbone,
        lineage=lineage if lineage is not None else _lineage(model),
        command=conversion_command(),
        environment=environment,
        display_name=display_name or f"convert-{config.name}",
        inputs={"model": model, "config": Path(config_file)},
        output=OUTPUT_NAME,
        description=(
            f"nerp conversion to ONNX (opset {conversion.opset}, "
            f"int8 {'on' if conversion.quantize else 'off'}) with the parity gate"
        ),
        compute=compute,
        settings=settings,
    )


def default_environment() -> Any:
    """An environment with nerp-deploy's convert, azure and mlflow extras at this version."""
    from nerp_infra.azureml import build_environment

    return build_environment(
        name=ENVIRONMENT_NAME,
        distributions={"nerp-deploy": "nerp-deploy[convert,azure,mlflow]"},
        pin_installed=True,
        description="nerp conversion (PyTorch to ONNX, int8, parity check)",
    )


def write_conversion_job(
    config: ExperimentConfig,
    out_dir: Path,
    *,
    model: Path | str,
    environment: Any = None,
    settings: Any = None,
) -> dict[str, Path]:
    """``--dry-run``: write the resolved experiment and ``conversion.yml`` into ``out_dir``,
    then load the YAML back with the SDK (``load_job``); returns the written paths."""
    from nerp_infra.azureml import write_job_yamls, write_resolved_experiment

    config_file = write_resolved_experiment(config, Path(out_dir))
    job = build_conversion_job(
        config,
        config_file=config_file,
        model=model,
        environment=environment if environment is not None else default_environment(),
        settings=settings,
    )
    written = write_job_yamls({JOB_KEY: job}, Path(out_dir))
    return {"config": config_file, **written}


def submit_conversion_job(
    config: ExperimentConfig, model_dir: Path, out_dir: Path, *, output_root: Path
) -> tuple[Any, list[IndexedArtifact]]:
    """Upload the model (a data asset versioned by its artifact id), submit, wait, and record
    the ONNX package the job made in ``output_root``'s index (with the job in its
    manifest). Returns the finished job and the recorded package.
    """
    from nerp_infra.artifacts import ArtifactIndex, read_manifest
    from nerp_infra.azureml import (
        connect_workspace,
        ensure_data_asset,
        ensure_environment,
        record_job_outputs,
        submit_and_wait,
        write_resolved_experiment,
    )
    from nerp_infra.paths import OutputLayout

    workspace = connect_workspace()
    manifest = read_manifest(model_dir)
    # Keyed by the artifact id, not spec_fp: a retrain with the same settings makes other
    # weights, and must not be mistaken for the model already uploaded.
    model = ensure_data_asset(
        workspace.ml_client,
        name=f"{config.name}-model",
        path=model_dir,
        data_fp=hashlib.sha256(manifest.id.encode()).hexdigest(),
    )
    job = build_conversion_job(
        config,
        config_file=write_resolved_experiment(config, out_dir),
        model=model,
        environment=ensure_environment(workspace.ml_client, default_environment()),
        lineage=[manifest.id],
        settings=workspace.settings,
    )
    finished = submit_and_wait(workspace.ml_client, job)
    recorded = record_job_outputs(
        workspace.ml_client,
        finished,
        OUTPUT_NAME,
        ArtifactIndex(output_root),
        OutputLayout(output_root, config.paths.layout),
    )
    return finished, recorded


def run_conversion_job(ctx: StageContext, model_dir: Path) -> StageResult:
    """The ``convert`` stage on ``--target azureml``: write the job (dry run), or submit it
    and record the package it made in the local index."""
    from nerp_infra.pipeline import StageResult

    out = ctx.job_dir or ctx.output_root / "azureml-jobs"
    if ctx.dry_run:
        written = write_conversion_job(ctx.config, out, model=model_dir)
        return StageResult(
            status="skipped",
            summary=f"dry run: wrote {written[JOB_KEY]}",
            details={"conversion job": str(written[JOB_KEY])},
        )
    finished, recorded = submit_conversion_job(
        ctx.config, model_dir, out, output_root=ctx.output_root
    )
    packages = [item for item in recorded if item.manifest.kind == kinds.ONNX_PACKAGE_KIND]
    if not packages:
        from nerp_infra.azureml import AzureMLError

        raise AzureMLError(f"Azure ML job {finished.name!r} completed without an ONNX package")
    return StageResult(
        status="submitted",
        artifact_ids=tuple(item.id for item in recorded),
        summary=f"Azure ML job {finished.name} completed; package {packages[0].id}",
        details={
            "conversion job": str(finished.studio_url or finished.name),
            "onnx package": str(packages[0].path),
        },
    )

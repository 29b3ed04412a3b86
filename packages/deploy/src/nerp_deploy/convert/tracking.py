"""Record a conversion in MLflow and register the package in the model registry.

Registration (``conversion.register_model``, on by default) makes the package a version of the
registered model named after the experiment (``ExperimentConfig.name``, e.g.
``models:/resume-ner/3``); ``conversion.log_to_mlflow`` also keeps the package's files under
``package/`` of the run. Both need tracking on (``tracking.enabled``). The package on disk
with its manifest stays the record that matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nerp_deploy.convert.core import CONVERT_STAGE, ConversionResult
from nerp_deploy.registry.register import (
    RegisteredVersion,
    lineage_tags,
    log_package_model,
    register_package,
)
from nerp_infra.artifacts.payloads import OnnxPackagePayload
from nerp_infra.config import NamingConfig, TrackingConfig
from nerp_infra.fingerprints import short
from nerp_infra.tracking import (
    flatten,
    log_artifacts,
    log_metrics,
    log_params,
    setup_mlflow,
    start_run,
)

__all__ = ["LoggedPackage", "log_package"]


@dataclass(frozen=True)
class LoggedPackage:
    """What :func:`log_package` recorded: the run (None when nothing new was logged) and the
    registered version (None without ``register_as``)."""

    run_id: str | None
    version: RegisteredVersion | None


def log_package(
    result: ConversionResult,
    *,
    output_root: str | Path,
    tracking: TrackingConfig | None = None,
    naming: NamingConfig | None = None,
    register_as: str | None = None,
    log_files: bool = True,
    ancestors: Sequence[tuple[str, str]] = (),
) -> LoggedPackage:
    """Log one package as a run of the ``convert`` experiment and, with ``register_as``,
    register it as a version of that model (the version it already has if registered).

    The run's model ``runs:/<run>/model`` has two flavours: ``python_function`` (nerp's
    engine) and ``onnx`` (the fused fp32 graph, ``mlflow.onnx.load_model``). ``log_files``
    also logs the package folder under ``package/``; parity figures become metrics and the
    conversion settings params. A reused package (no new parity report) that is already
    registered logs no new run.
    """
    from nerp_deploy.registry.register import find_version

    tracking = tracking or TrackingConfig()
    naming = naming or NamingConfig()
    manifest = result.manifest
    setup_mlflow(config_uri=tracking.uri, output_root=output_root)
    if register_as is not None:
        known = find_version(register_as, manifest.id)
        if known is not None:
            return LoggedPackage(None, RegisteredVersion(register_as, known, manifest.id, False))
    spec = OnnxPackagePayload.of(manifest, result.package_dir).model_spec_fp or result.conv_fp
    run_name = naming.render(
        "conversion",
        backbone=manifest.backbone,
        spec8=short(str(spec)),
        variant=manifest.variant,
    )
    tags = lineage_tags(result.package_dir, ancestors)
    with start_run(CONVERT_STAGE, run_name, tags=tags, prefix=tracking.experiment_prefix) as run_id:
        log_params(flatten(manifest.config))
        log_metrics({k: v for k, v in manifest.metrics.items() if isinstance(v, int | float)})
        version = None
        if register_as is not None:
            version = register_package(result.package_dir, register_as, ancestors=ancestors)
        else:
            log_package_model(result.package_dir, tags=tags)
        if log_files:
            log_artifacts(result.package_dir, "package")
    return LoggedPackage(run_id, version)

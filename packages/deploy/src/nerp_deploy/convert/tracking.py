"""Record a conversion in MLflow: settings, parity figures, the package, the ONNX model.

Optional (``conversion.log_to_mlflow``); the package on disk with its manifest is the
record that matters, MLflow makes it findable next to the training and HPO runs.
"""

from __future__ import annotations

from pathlib import Path

from nerp_deploy.convert.core import CONVERT_STAGE, ConversionResult
from nerp_infra.config import NamingConfig, TrackingConfig
from nerp_infra.fingerprints import short
from nerp_infra.model_files import ONNX_FP32_FILE
from nerp_infra.tracking import (
    flatten,
    log_artifacts,
    log_metrics,
    log_params,
    setup_mlflow,
    start_run,
)

__all__ = ["log_package"]


def log_package(
    result: ConversionResult,
    *,
    output_root: str | Path,
    tracking: TrackingConfig | None = None,
    naming: NamingConfig | None = None,
) -> str:
    """Log one package as a run of the ``convert`` experiment; returns the run id.

    The fp32 graph is logged with MLflow's onnx flavour (loadable with
    ``mlflow.onnx.load_model``), the whole package directory as artifacts under
    ``package/``, parity figures as metrics and the conversion settings as params.
    """
    import mlflow.onnx
    import onnx

    tracking = tracking or TrackingConfig()
    naming = naming or NamingConfig()
    manifest = result.manifest
    setup_mlflow(config_uri=tracking.uri, output_root=output_root)
    spec = manifest.extra.get("model_spec_fp") or result.conv_fp
    run_name = naming.render(
        "conversion",
        backbone=manifest.backbone,
        spec8=short(str(spec)),
        variant=manifest.variant,
    )
    tags = {
        "nerp.backbone": manifest.backbone,
        "nerp.conv_fp": result.conv_fp,
        "nerp.lineage": ",".join(manifest.lineage),
        "nerp.artifact_id": manifest.id,
        "nerp.artifact_kind": manifest.kind,
        "nerp.variant": str(manifest.variant),
    }
    with start_run(CONVERT_STAGE, run_name, tags=tags, prefix=tracking.experiment_prefix) as run_id:
        log_params(flatten(manifest.config))
        log_metrics({k: v for k, v in manifest.metrics.items() if isinstance(v, int | float)})
        model = onnx.load(str(result.package_dir / ONNX_FP32_FILE))
        mlflow.onnx.log_model(model, name="model", save_as_external_data=False)
        log_artifacts(result.package_dir, "package")
    return run_id

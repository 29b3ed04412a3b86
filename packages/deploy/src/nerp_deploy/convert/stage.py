"""The pipeline's ``convert`` stage (``nerp.stages`` entry point).

Converts the model this run's ``train`` stage produced (run alone: the newest model trained
on the experiment's own dataset, else the newest, said on the console); the package lands
under ``convert/<backbone>/<conv key>/v<N>`` with the model in its lineage, where the
evaluate and benchmark stages find it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerp_deploy.errors import DeployError
from nerp_infra.artifacts import kinds
from nerp_infra.deprecation import deprecated_names

if TYPE_CHECKING:
    from nerp_deploy.convert.core import ConversionResult
    from nerp_infra.pipeline import StageContext, StageResult

__all__ = ["convert_stage"]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "MODEL_KIND": "nerp_infra.artifacts.kinds:MODEL_KIND",
        "MODEL_STAGE": "nerp_infra.artifacts.kinds:FINAL_TRAINING_STAGE",
        "SELECTION_KIND": "nerp_infra.artifacts.kinds:SELECTION_KIND",
    },
)

_PARITY_SPLITS = ("validation.jsonl", "test.jsonl")


def _held_out_texts(ctx: StageContext, model_id: str) -> list[str] | None:
    """Texts of the model's own dataset (validation, then test) for the parity gate.

    Real documents of the kind the model will serve hold far more entities than the
    synthetic samples, which only top them up; None when the dataset is not at hand.
    """
    from nerp_infra.documents import read_documents

    for artifact in ctx.index.lineage(model_id):
        if artifact.manifest.kind != kinds.DATASET_KIND:
            continue
        texts = [
            doc.text
            for name in _PARITY_SPLITS
            if (artifact.path / name).is_file()
            for doc in read_documents(artifact.path / name)
        ]
        return texts or None
    return None


def convert_stage(ctx: StageContext) -> StageResult:
    """ONNX fp32 + int8 with the parity gate, or the Azure ML job on ``--target azureml``."""
    from nerp_infra.pipeline import StageResult, action_status

    model = ctx.input(kinds.MODEL_KIND, artifact_stage=kinds.FINAL_TRAINING_STAGE)
    if model is None:
        raise DeployError(
            f"no complete model artifact (kind {kinds.MODEL_KIND!r}, "
            f"stage {kinds.FINAL_TRAINING_STAGE!r}) in "
            f"{ctx.output_root}; run the train stage first"
        )
    if ctx.target == "azureml":
        from nerp_deploy.azureml_job import run_conversion_job

        return run_conversion_job(ctx, model.path)
    from nerp_deploy.convert.core import run_conversion

    config = ctx.config.conversion
    config = config.model_copy(update={"run_mode": ctx.run_mode(config.run_mode)})
    result = run_conversion(
        model.path,
        output_root=ctx.output_root,
        config=config,
        layout=ctx.layout.layout,
        sample_texts=_held_out_texts(ctx, model.id),
        console=ctx.console if ctx.progress else None,
        index=ctx.index,
    )
    details = {
        "onnx package": str(result.package_dir),
        "serve it": f"nerp serve {result.package_dir} --port 8000",
    }
    details.update(_track(ctx, result))
    metrics = result.manifest.metrics
    summary = f"{result.manifest.backbone} v{result.manifest.variant}"
    for name in ("int8", "bf16"):
        if f"parity_{name}_entity_f1" in metrics:
            f1 = float(metrics[f"parity_{name}_entity_f1"])
            summary += f", {name} entity F1 vs PyTorch {f1:.4f}"
    return StageResult(
        status=action_status(result.action),
        artifact_ids=(result.manifest.id,),
        summary=summary,
        details=details,
    )


def _track(ctx: StageContext, result: ConversionResult) -> dict[str, str]:
    """Log and register the package; a champion's package (the selection in its lineage)
    gets the ``@champion`` alias. Returns summary lines; nothing when tracking is off."""
    config, tracking = ctx.config.conversion, ctx.config.tracking
    if not tracking.enabled:
        return {"registry": "tracking.enabled is false: package not registered"}
    log_files = config.log_to_mlflow and result.report is not None
    if not config.register_model and not log_files:
        return {}
    from nerp_deploy.convert.tracking import log_package
    from nerp_deploy.registry import CHAMPION_ALIAS, set_alias

    ancestors = [(a.manifest.kind, a.id) for a in ctx.index.lineage(result.manifest.id)]
    try:
        logged = log_package(
            result,
            output_root=ctx.output_root,
            tracking=tracking,
            naming=ctx.config.naming,
            register_as=ctx.config.name if config.register_model else None,
            log_files=log_files,
            ancestors=ancestors,
        )
    except ImportError as exc:
        if config.log_to_mlflow:
            raise DeployError(
                f"conversion.log_to_mlflow needs MLflow ({exc}); "
                "pip install 'nerp-deploy[convert,mlflow]'"
            ) from None
        return {"registry": f"not registered: MLflow is not installed ({exc})"}
    if logged.version is None:
        return {}
    version = logged.version
    lines = {"registered": f"{version.uri}" + ("" if version.created else " (already)")}
    # A package whose lineage holds a selection is the champion's: it gets ``@champion``.
    if any(kind == kinds.SELECTION_KIND for kind, _ in ancestors):
        set_alias(version.name, version.version, CHAMPION_ALIAS)
        champion = f"models:/{version.name}@{CHAMPION_ALIAS}"
        lines["champion"] = f"{champion} -> version {version.version}"
        lines["serve it"] = f"nerp serve {champion} --port 8000"
    return lines

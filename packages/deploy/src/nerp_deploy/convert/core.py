"""``convert_checkpoint``: a model checkpoint in, a parity-checked ONNX package out.

Two entry points share the work:

- :func:`convert_checkpoint` writes a package into a folder you name (plain arguments);
- :func:`run_conversion` places it under the output root with the artifact index, so the
  run mode decides from ``conv_fp`` whether to reuse, resume or start a package.

A failed parity check leaves the files and a manifest with status ``failed`` (and the
figures) for inspection, and raises :class:`ParityError`; the engine refuses to load it.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from nerp_deploy.convert.checkpoint import ModelCheckpoint, resolve_checkpoint
from nerp_deploy.convert.export import export_onnx, int8_saturates, quantize_int8
from nerp_deploy.convert.optimize import FusionReport, fuse_transformer_graph
from nerp_deploy.convert.parity import ParityError, ParityReport, check_parity
from nerp_deploy.convert.reference import load_model, torch_predictor
from nerp_deploy.convert.synthetic import sample_texts as default_sample_texts
from nerp_deploy.convert.synthetic import synthetic_documents
from nerp_deploy.errors import PackageError
from nerp_deploy.predictor import Predictor
from nerp_deploy.runtime import (
    OrtRunner,
    bf16_unsupported_reason,
    open_runner,
    openvino_available,
)
from nerp_deploy.windowing import WindowTokenizer
from nerp_infra.artifacts import (
    ArtifactHandle,
    ArtifactIndex,
    Manifest,
    begin_artifact,
    new_artifact_id,
    write_manifest,
)
from nerp_infra.artifacts.kinds import CONVERT_STAGE, ONNX_PACKAGE_KIND
from nerp_infra.artifacts.payloads import OnnxPackagePayload
from nerp_infra.config import ConversionConfig, ParityConfig
from nerp_infra.fingerprints import conv_fp, runtime_versions
from nerp_infra.model_files import (
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    TOKENIZER_FILE,
    write_inference_settings,
)
from nerp_infra.paths import (
    DEFAULT_LAYOUT,
    OutputLayout,
    backbone_component,
    fingerprint_key,
)
from nerp_infra.plugins import installed_version

__all__ = [
    "CONVERT_STAGE",
    "ConversionResult",
    "conversion_settings",
    "convert_checkpoint",
    "run_conversion",
    "verify_package",
]

EXPORTER = "torch.onnx.dynamo"
GRAPH_OPTIMIZATION = "onnxscript.ort_fusions+qattention"
"""What conv_fp records for the fusion step (change it when the fusion step changes)."""

T = TypeVar("T")


@dataclass(frozen=True)
class ConversionResult:
    """Where the package is, its manifest, and the parity figures (None when reused)."""

    package_dir: Path
    manifest: Manifest
    report: ParityReport | None
    conv_fp: str
    action: str = "new"
    timings: dict[str, float] = field(default_factory=dict)
    fusion: FusionReport | None = None
    """Which transformer fusions the fp32 graph got (None when the package was reused)."""

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.metrics)


def _version(name: str) -> str:
    return installed_version(name) or "absent"


def _parity_config(parity: ParityConfig | Mapping[str, Any] | None) -> ParityConfig:
    if isinstance(parity, ParityConfig):
        return parity
    return ParityConfig(**dict(parity or {}))


def conversion_settings(
    *,
    opset: int,
    quantize: bool,
    parity: ParityConfig,
    sample_texts: Sequence[str] | None,
    optimize: bool = True,
) -> dict[str, Any]:
    """What conv_fp covers: everything that changes the package or its acceptance."""
    samples = (
        "default"
        if sample_texts is None
        else hashlib.sha256("\x1e".join(sample_texts).encode("utf-8")).hexdigest()
    )
    return {
        "opset": opset,
        "quantize": quantize,
        "exporter": EXPORTER,
        "graph_optimization": GRAPH_OPTIMIZATION if optimize else None,
        "quantization": {
            "mode": "dynamic",
            "weight_type": "QInt8",
            "per_channel": True,
            "reduce_range": int8_saturates(),
        }
        if quantize
        else None,
        "parity": parity.model_dump(mode="json"),
        "sample_texts": samples,
    }


class _Steps:
    """Rich progress for the slow steps: a spinner while running, a line with the time after."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    def run(self, name: str, description: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        if self.console is None:
            result = fn()
        else:
            with self.console.status(f"{escape(description)}…"):
                result = fn()
        elapsed = time.perf_counter() - start
        self.timings[name] = round(elapsed, 3)
        if self.console is not None:
            self.console.print(
                f"[green]✓[/] {escape(description)} ({elapsed:.1f}s)", highlight=False
            )
        return result


def _write_package(
    checkpoint: ModelCheckpoint,
    out: Path,
    *,
    opset: int,
    quantize: bool,
    parity: ParityConfig,
    texts: Sequence[str],
    steps: _Steps,
    optimize: bool = True,
) -> tuple[ParityReport, FusionReport | None]:
    """Write every package file except the manifest, then run the parity check."""
    settings = checkpoint.settings
    model = steps.run(
        "load", f"load {checkpoint.model_dir}", lambda: load_model(checkpoint.model_dir)
    )
    fp32_path, int8_path = out / ONNX_FP32_FILE, out / ONNX_INT8_FILE
    steps.run(
        "export", f"export {ONNX_FP32_FILE} (opset {opset})",
        lambda: export_onnx(model, fp32_path, opset=opset),
    )  # fmt: skip
    fusion = None
    if optimize:
        fusion = steps.run(
            "optimize", "fuse attention, SkipLayerNorm, BiasGelu",
            lambda: _fuse_in_place(fp32_path),
        )  # fmt: skip
        if steps.console is not None:
            steps.console.print(f"  {escape(fusion.summary())}", highlight=False)
    fused = fusion is not None and fusion.applied
    if quantize:
        steps.run(
            "quantize", f"quantise {ONNX_INT8_FILE} (dynamic int8, per channel)",
            lambda: quantize_int8(fp32_path, int8_path, fused=fused),
        )  # fmt: skip
    else:
        int8_path.unlink(missing_ok=True)  # a resumed folder may hold one from before
    shutil.copyfile(checkpoint.model_dir / TOKENIZER_FILE, out / TOKENIZER_FILE)
    write_inference_settings(out, settings)
    report = steps.run(
        "parity",
        f"parity check on {len(texts)} texts",
        lambda: _parity(checkpoint, out, parity, texts, model=model),
    )
    if steps.console is not None and openvino_available() and (why := bf16_unsupported_reason()):
        steps.console.print(f"  no bf16 variant here: {escape(why)}", highlight=False)
    return report, fusion


def _fuse_in_place(fp32_path: Path) -> FusionReport:
    """Replace the exported graph by its fused form (kept as is when fusion fails)."""
    fused_path = fp32_path.with_name(f".fused-{fp32_path.name}")
    try:
        report = fuse_transformer_graph(fp32_path, fused_path)
        if report.applied:
            fused_path.replace(fp32_path)
        return report
    finally:
        fused_path.unlink(missing_ok=True)


def _parity(
    checkpoint: ModelCheckpoint,
    package_dir: Path,
    parity: ParityConfig,
    texts: Sequence[str],
    *,
    model: Any = None,
) -> ParityReport:
    settings = checkpoint.settings
    tokenizer = WindowTokenizer.from_file(package_dir / TOKENIZER_FILE, settings)
    reference = torch_predictor(checkpoint.model_dir, settings, model)
    fp32 = Predictor(tokenizer, settings, OrtRunner(package_dir / ONNX_FP32_FILE))
    int8 = None
    if (package_dir / ONNX_INT8_FILE).is_file():
        int8 = Predictor(tokenizer, settings, OrtRunner(package_dir / ONNX_INT8_FILE))
    bf16 = None
    if bf16_unsupported_reason() is None:  # the package offers bf16 wherever it can run
        bf16 = Predictor(tokenizer, settings, open_runner(package_dir / ONNX_FP32_FILE, "bf16"))
    first, reserve = list(texts[: parity.n_samples]), list(texts[parity.n_samples :])

    def more_texts(have: int) -> list[str]:
        """The rest of the given texts, 8 at a time, then synthetic resumes: only as many
        as the gate needs to see ``min_entities`` entities, so conversion stays quick."""
        if reserve:
            batch = reserve[:8]
            del reserve[:8]
            return batch
        return [doc.text for doc in synthetic_documents(16, seed=1234 + have)]

    return check_parity(reference, fp32, int8, first, parity, more_texts=more_texts, bf16=bf16)


def verify_package(
    checkpoint_dir: str | Path,
    package_dir: str | Path,
    *,
    parity: ParityConfig | Mapping[str, Any] | None = None,
    sample_texts: Sequence[str] | None = None,
) -> ParityReport:
    """Re-run the parity check of an existing package against its checkpoint.

    Raises ParityError with the figures when the package no longer matches (e.g. a
    damaged or swapped ONNX file); a file onnxruntime cannot load raises PackageError.
    """
    checkpoint = resolve_checkpoint(checkpoint_dir)
    config = _parity_config(parity)
    texts = (
        list(sample_texts) if sample_texts is not None else default_sample_texts(config.n_samples)
    )
    report = _parity(checkpoint, Path(package_dir), config, texts)
    if not report.passed:
        raise ParityError(report)
    return report


def _check_empty(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PackageError(
            f"{out}: output folder already exists and is not empty; pass a new folder "
            "(packages are never overwritten in place)"
        )


def convert_checkpoint(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    *,
    opset: int = 18,
    quantize: bool = True,
    parity: ParityConfig | Mapping[str, Any] | None = None,
    sample_texts: Sequence[str] | None = None,
    console: Console | None = None,
    optimize: bool = True,
) -> ConversionResult:
    """Export, fuse, quantise and parity-check a checkpoint into the new folder ``out_dir``.

    ``checkpoint_dir`` is a model artifact or its ``model/`` folder. ``parity`` takes a
    ``ParityConfig`` or its fields as a mapping; ``sample_texts`` default to
    ``parity.n_samples`` synthetic resumes (one long enough for several windows).
    ``console`` shows progress (None: silent). ``optimize`` applies the transformer
    fusions (:mod:`nerp_deploy.convert.optimize`) before quantisation. Raises ParityError
    with the figures when the gate fails, PackageError for unusable inputs, ExportError
    when export fails.
    """
    checkpoint = resolve_checkpoint(checkpoint_dir)
    config = _parity_config(parity)
    settings = conversion_settings(
        opset=opset,
        quantize=quantize,
        parity=config,
        sample_texts=sample_texts,
        optimize=optimize,
    )
    fp = conv_fp(model_artifact_id=checkpoint.artifact_id, settings=settings)
    out = Path(out_dir)
    _check_empty(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = _new_manifest(checkpoint, fp, settings, key=fingerprint_key({"conv_fp": fp}))
    write_manifest(out, manifest)
    handle = ArtifactHandle(out, manifest)
    report, timings, fusion = _convert_into(
        checkpoint, handle, opset, quantize, config, sample_texts, console, optimize
    )
    return ConversionResult(out, handle.manifest, report, fp, "new", timings, fusion)


def _backbone(checkpoint: ModelCheckpoint) -> str:
    """The package's backbone folder: the model's, named as every stage names it."""
    name = checkpoint.settings.backbone or (
        checkpoint.manifest.backbone if checkpoint.manifest else ""
    )
    return backbone_component(name) if name else "unknown"


def _versions() -> dict[str, str]:
    return runtime_versions(
        {lib: _version(lib) for lib in ("onnx", "onnxscript", "onnxruntime", "tokenizers")}
    )


def _new_manifest(
    checkpoint: ModelCheckpoint, fp: str, settings: dict[str, Any], *, key: str
) -> Manifest:
    return Manifest(
        kind=ONNX_PACKAGE_KIND,
        id=new_artifact_id(ONNX_PACKAGE_KIND),
        stage=CONVERT_STAGE,
        backbone=_backbone(checkpoint),
        key=key,
        variant=1,
        fingerprints={"conv_fp": fp},
        lineage=checkpoint.lineage,
        config=settings,
        versions=_versions(),
        extra=_model_extra(checkpoint),
    )


def _model_extra(checkpoint: ModelCheckpoint) -> dict[str, Any]:
    """Which model was converted, and its spec_fp for run names (when it has a manifest)."""
    payload = OnnxPackagePayload(
        model_artifact_id=checkpoint.artifact_id,
        source_checkpoint=str(checkpoint.model_dir.resolve()),
    )
    if checkpoint.manifest is not None and "spec_fp" in checkpoint.manifest.fingerprints:
        payload.model_spec_fp = checkpoint.manifest.fingerprints["spec_fp"]
    return payload.as_extra()


def _convert_into(
    checkpoint: ModelCheckpoint,
    handle: ArtifactHandle,
    opset: int,
    quantize: bool,
    config: ParityConfig,
    sample_texts: Sequence[str] | None,
    console: Console | None,
    optimize: bool = True,
) -> tuple[ParityReport, dict[str, float], FusionReport | None]:
    """Write the package files into ``handle.dir`` and settle its manifest either way."""
    texts = (
        list(sample_texts) if sample_texts is not None else default_sample_texts(config.n_samples)
    )
    steps = _Steps(console)
    with handle.failing_on_error():
        report, fusion = _write_package(
            checkpoint,
            handle.dir,
            opset=opset,
            quantize=quantize,
            parity=config,
            texts=texts,
            steps=steps,
            optimize=optimize,
        )
    payload = OnnxPackagePayload(timings_s=steps.timings)
    if fusion is not None:
        payload.graph_optimization = fusion.manifest()
    extra = payload.as_extra()
    if not report.passed:
        error = ParityError(report)
        handle.update_metrics(report.metrics())
        handle.update_extra(extra)
        handle.fail(str(error))
        raise error
    handle.complete(metrics=report.metrics(), extra=extra)
    return report, steps.timings, fusion


def run_conversion(
    checkpoint_dir: str | Path,
    *,
    output_root: str | Path,
    config: ConversionConfig | None = None,
    layout: str = DEFAULT_LAYOUT,
    sample_texts: Sequence[str] | None = None,
    console: Console | None = None,
    index: ArtifactIndex | None = None,
) -> ConversionResult:
    """The `convert` stage: a package under ``output_root``, found again by its conv_fp.

    ``config.run_mode`` decides: reuse a complete package with the same conv_fp and
    model, resume an abandoned incomplete one, or always start a new variant. ``index`` is
    the output root's artifact index when the caller holds it open (the pipeline stage).
    """
    config = config or ConversionConfig()
    checkpoint = resolve_checkpoint(checkpoint_dir)
    settings = conversion_settings(
        opset=config.opset,
        quantize=config.quantize,
        parity=config.parity,
        sample_texts=sample_texts,
    )
    fp = conv_fp(model_artifact_id=checkpoint.artifact_id, settings=settings)
    root = Path(output_root)
    root.mkdir(parents=True, exist_ok=True)
    index = index if index is not None else ArtifactIndex(root)
    decision = begin_artifact(
        index,
        OutputLayout(root, layout),
        kind=ONNX_PACKAGE_KIND,
        stage=CONVERT_STAGE,
        backbone=_backbone(checkpoint),
        fingerprints={"conv_fp": fp},
        lineage=checkpoint.lineage,
        config=settings,
        run_mode=config.run_mode,
        versions=_versions(),
    )
    handle = decision.handle
    if console is not None:
        console.print(
            escape(f"{decision.action}: {handle.dir} ({decision.reason})"), highlight=False
        )
    if not decision.should_run:
        return ConversionResult(handle.dir, handle.manifest, None, fp, decision.action)
    handle.update_extra(_model_extra(checkpoint))
    report, timings, fusion = _convert_into(
        checkpoint, handle, config.opset, config.quantize, config.parity, sample_texts, console
    )
    return ConversionResult(
        handle.dir, handle.manifest, report, fp, decision.action, timings, fusion
    )

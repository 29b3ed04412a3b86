"""The ONNX package directory: what `nerp convert` writes and the engine loads.

A package is self-contained so a serving image needs nothing else::

    model.onnx        fp32 graph (dynamic batch and sequence axes)
    model.int8.onnx   dynamically quantised int8 graph (absent when quantisation is off)
                      (variant ``bf16`` is model.onnx run by OpenVINO in bf16, no file of its own)
    tokenizer.json    the fast tokenizer, offsets included
    inference.json    labels in id order, max_length, stride, sub-token policy, backbone
    nerp.json         manifest: conv_fp, parity figures, lineage to the model artifact

Loading refuses a package whose manifest says the conversion did not complete (a failed
parity check leaves its files behind for inspection, never for serving).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nerp_deploy.errors import PackageError
from nerp_deploy.runtime import bf16_unsupported_reason
from nerp_infra.artifacts import kinds
from nerp_infra.artifacts.manifest import MANIFEST_NAME, Manifest, ManifestError, read_manifest
from nerp_infra.artifacts.payloads import OnnxPackagePayload
from nerp_infra.deprecation import deprecated_names
from nerp_infra.model_files import (
    INFERENCE_FILE,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    TOKENIZER_FILE,
    InferenceSettings,
    read_inference_settings,
)

__all__ = ["VARIANTS", "VARIANT_FILES", "OnnxPackage", "Variant"]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={
        "PACKAGE_KIND": "nerp_infra.artifacts.kinds:ONNX_PACKAGE_KIND",
    },
)

Variant = Literal["fp32", "int8", "bf16"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8", "bf16")
VARIANT_FILES: dict[Variant, str] = {
    "fp32": ONNX_FP32_FILE,
    "int8": ONNX_INT8_FILE,
    "bf16": ONNX_FP32_FILE,  # the fp32 graph, run by OpenVINO in bf16
}


@dataclass(frozen=True)
class OnnxPackage:
    """A validated package directory: its settings, manifest and which variants it holds."""

    directory: Path
    settings: InferenceSettings
    manifest: Manifest | None

    @classmethod
    def open(cls, directory: str | Path) -> OnnxPackage:
        """Check the directory holds a usable package; errors name the missing or bad file."""
        directory = Path(directory)
        if not directory.is_dir():
            raise PackageError(f"{directory}: ONNX package directory does not exist")
        for name in (TOKENIZER_FILE, INFERENCE_FILE):
            if not (directory / name).is_file():
                raise PackageError(
                    f"{directory / name}: missing; {directory} is not an ONNX package "
                    "(make one with `nerp convert`)"
                )
        if not any((directory / name).is_file() for name in VARIANT_FILES.values()):
            raise PackageError(
                f"{directory}: holds neither {ONNX_FP32_FILE} nor {ONNX_INT8_FILE}; "
                "not an ONNX package (make one with `nerp convert`)"
            )
        try:
            settings = read_inference_settings(directory)
        except (FileNotFoundError, ValueError) as exc:
            raise PackageError(str(exc)) from exc
        manifest = None
        if (directory / MANIFEST_NAME).is_file():
            try:
                manifest = read_manifest(directory)
            except ManifestError as exc:
                raise PackageError(str(exc)) from exc
            if manifest.kind != kinds.ONNX_PACKAGE_KIND:
                raise PackageError(
                    f"{directory / MANIFEST_NAME}: kind is {manifest.kind!r}, expected "
                    f"{kinds.ONNX_PACKAGE_KIND!r}; pass an ONNX package, not another artifact"
                )
            if manifest.status != "complete":
                reason = OnnxPackagePayload.of(manifest, directory).failure_reason or ""
                raise PackageError(
                    f"{directory / MANIFEST_NAME}: conversion status is {manifest.status!r}, "
                    f"not 'complete'; refusing to load it{f' ({reason})' if reason else ''}"
                )
        return cls(directory=directory, settings=settings, manifest=manifest)

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The model variants this package can run here, fp32 first (bf16 with OpenVINO on a
        CPU with bf16 instructions)."""
        return tuple(
            v
            for v in VARIANTS
            if self._has_file(v) and (v != "bf16" or bf16_unsupported_reason() is None)
        )

    @property
    def default_variant(self) -> Variant:
        """int8 when present (the fast one, parity-checked), else fp32.

        Read from the files alone: asking whether bf16 can run imports OpenVINO and probes
        the CPU (0.2 s and OpenVINO's libraries in every serving worker), which loading the
        default variant does not need.
        """
        return "int8" if self._has_file("int8") else "fp32"

    def _has_file(self, variant: Variant) -> bool:
        return (self.directory / VARIANT_FILES[variant]).is_file()

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / TOKENIZER_FILE

    def model_path(self, variant: Variant) -> Path:
        if variant not in VARIANT_FILES:
            raise PackageError(f"variant {variant!r} is unknown; choose one of {list(VARIANTS)}")
        path = self.directory / VARIANT_FILES[variant]
        if variant == "bf16" and path.is_file() and (reason := bf16_unsupported_reason()):
            raise PackageError(f"{path}: variant 'bf16' cannot run here: {reason}")
        if not path.is_file():
            raise PackageError(
                f"{path}: variant {variant!r} is not in this package (it has "
                f"{', '.join(self.variants)})"
            )
        return path

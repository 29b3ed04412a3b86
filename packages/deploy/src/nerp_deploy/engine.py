"""The serving engine: an ONNX package behind ``predict`` and ``predict_batch``.

Base install only (onnxruntime, tokenizers, numpy): a slim image loads a package and
serves it without torch or transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerp_deploy.errors import DeployError, InputError, PackageError
from nerp_deploy.package import OnnxPackage, Variant
from nerp_deploy.predictor import DocumentPrediction, Predictor
from nerp_deploy.runtime import ModelRunner, open_runner
from nerp_deploy.windowing import WindowTokenizer
from nerp_infra.documents import Entity
from nerp_infra.model_files import InferenceSettings
from nerp_infra.plugins import installed_version
from nerp_infra.text import unencodable_reason

__all__ = ["SELF_TEST_TEXT", "OnnxEngine", "check_encodable"]

SELF_TEST_TEXT = "Name: Jane Doe\nEmail: jane.doe@example.com\nSkills: Python, SQL, Docker"
"""What :meth:`OnnxEngine.self_test` runs through the model: short, but every stage of it."""


def check_encodable(text: str, field: str) -> None:
    """Refuse text no tokenizer can take (lone surrogates) with an error naming ``field``."""
    reason = unencodable_reason(text)
    if reason is not None:
        raise InputError(reason, field=field)


def _version_of(name: str) -> str:
    return installed_version(name) or "absent"


class OnnxEngine:
    """Named-entity recognition with one variant (fp32, int8 or bf16) of an ONNX package.

    Thread-safe: onnxruntime sessions, OpenVINO's per-thread requests and the tokenizer
    may be shared by request threads.
    """

    def __init__(self, package: OnnxPackage, variant: Variant, runner: ModelRunner) -> None:
        self.package = package
        self.variant = variant
        self.runner = runner
        tokenizer = WindowTokenizer.from_file(package.tokenizer_path, package.settings)
        self.predictor = Predictor(tokenizer, package.settings, runner)

    @classmethod
    def load(
        cls,
        package_dir: str | Path,
        *,
        variant: Variant | None = None,
        threads: int | None = None,
    ) -> OnnxEngine:
        """Open a package; ``variant`` defaults to int8 when present, ``threads`` to all cores.

        ``bf16`` runs the fp32 graph on OpenVINO (``nerp-deploy[openvino]``), whose CPU
        plugin uses AMX/AVX512-BF16 where the CPU has them.
        """
        package = OnnxPackage.open(package_dir)
        chosen: Variant = variant or package.default_variant
        runner = open_runner(package.model_path(chosen), chosen, threads=threads)
        return cls(package, chosen, runner)

    @property
    def settings(self) -> InferenceSettings:
        return self.package.settings

    @property
    def batch_size(self) -> int:
        """Model rows per call when ``predict_batch`` is given none."""
        return self.predictor.default_batch_size

    @property
    def labels(self) -> tuple[str, ...]:
        return self.package.settings.labels

    def predict(self, text: str) -> list[Entity]:
        """Entities of one text, offsets into ``text`` (any length: long texts are windowed)."""
        check_encodable(text, "text")
        return self.predictor.predict(text)

    def predict_batch(
        self, texts: Sequence[str], batch_size: int | None = None
    ) -> list[list[Entity]]:
        """Entities of many texts; windows of all texts are length-sorted and batched together.

        ``batch_size`` counts model rows (windows), which bounds memory regardless of how
        long the texts are; by default ``BATCH_TOKENS`` (4,096) tokens' worth of windows
        (16 rows of 256 tokens, 64 of 64).
        """
        for index, text in enumerate(texts):
            check_encodable(text, f"texts[{index}]")
        return self.predictor.predict_batch(texts, batch_size)

    def predict_documents(
        self, texts: Sequence[str], batch_size: int | None = None
    ) -> list[DocumentPrediction]:
        """Like ``predict_batch`` but also returns per-token tags and confidences."""
        for index, text in enumerate(texts):
            check_encodable(text, f"texts[{index}]")
        return self.predictor.predict_documents(texts, batch_size)

    def self_test(self) -> None:
        """Run the model once on a short text, so a package that opens but cannot run
        (a truncated graph, a wrong opset) fails here, naming its file, and not in the
        middle of serving. ``nerp serve`` calls it before it binds or starts workers."""
        try:
            self.predict(SELF_TEST_TEXT)
        except DeployError:
            raise
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise PackageError(
                f"{self.runner.path}: the model fails on a test input: {type(exc).__name__}: {exc}"
            ) from exc

    def info(self) -> dict[str, Any]:
        """What is being served: model, labels, settings, versions and lineage."""
        manifest = self.package.manifest
        settings = self.settings
        return {
            "model": {
                "package_id": manifest.id if manifest else None,
                "backbone": settings.backbone or (manifest.backbone if manifest else ""),
                "variant": self.variant,
                "variants": list(self.package.variants),
                "file": self.package.model_path(self.variant).name,
                "threads": self.runner.threads,
            },
            "labels": list(settings.labels),
            "entity_types": list(settings.entity_types),
            "settings": {
                "max_length": settings.max_length,
                "stride": settings.stride,
                "label_all_subtokens": settings.label_all_subtokens,
                "label_scheme": "BIO",
            },
            "versions": {
                "nerp-deploy": _version_of("nerp-deploy"),
                "nerp-infra": _version_of("nerp-infra"),
                "onnxruntime": _version_of("onnxruntime"),
                "openvino": _version_of("openvino"),
                "tokenizers": _version_of("tokenizers"),
                "converted_with": dict(manifest.versions) if manifest else {},
            },
            "lineage": list(manifest.lineage) if manifest else [],
            "fingerprints": dict(manifest.fingerprints) if manifest else {},
            "parity": dict(manifest.metrics) if manifest else {},
        }

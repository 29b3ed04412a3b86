"""Shared building blocks of the section models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from nerp_infra.artifacts.runs import RunMode

__all__ = [
    "BACKENDS",
    "Backend",
    "ConfigModel",
    "FileRelative",
    "MetricName",
    "RunMode",
]

MetricName = Literal[
    "f1_macro",
    "f1_micro",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
]
"""Entity-level (seqeval, strict BIO) averages that training reports and HPO can optimise."""

Backend = Literal["torch", "onnx_fp32", "onnx_int8", "openvino_bf16"]
"""Inference backends that benchmarks and selection can time (``openvino_bf16``: the
package's fp32 graph on OpenVINO in bf16, with ``nerp-deploy[openvino]`` installed)."""

BACKENDS: tuple[Backend, ...] = ("torch", "onnx_fp32", "onnx_int8")
"""What ``benchmark.backends`` times by default: the backends of every install."""


class ConfigModel(BaseModel):
    """Base of every config model: unknown keys are errors and loaded configs are immutable.

    Forbidding extras turns a misspelt key into an error instead of a silently ignored
    setting; freezing lets stages hand configs around (and fingerprint them) safely.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class FileRelative:
    """Field marker: relative paths in this field resolve against the declaring YAML file.

    The loader looks for this marker (``Annotated[list[Path], FileRelative()]``) so a
    config folder can be moved or shared without rewriting its paths.
    """

    def __repr__(self) -> str:
        return "FileRelative()"

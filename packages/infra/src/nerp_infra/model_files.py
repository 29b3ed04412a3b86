"""File names and settings shared by a trained checkpoint and an ONNX package.

Training writes these next to the Hugging Face checkpoint and conversion copies them into the
ONNX package, so the serving engine decodes exactly as training encoded (same labels, window
size, stride and sub-token policy) without importing nerp-training.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nerp_infra.entity_filter import EntityFilter
from nerp_infra.files import atomic_write

CHECKPOINT_DIR = "model"
"""Sub-directory of a model artifact holding the Hugging Face checkpoint."""
INFERENCE_FILE = "inference.json"
TOKENIZER_FILE = "tokenizer.json"
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"

_DECODING_FIELDS = ("repeat_types", "merge_types", "join_types", "min_confidence", "section_types")
"""Decoding options: checked against the labels, left out of the file when empty."""


class InferenceSettings(BaseModel):
    """How text is windowed and how tags map back to entities for one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[str, ...] = Field(description="BIO labels in id order, 'O' first")
    max_length: int = Field(gt=8, description="tokens per window, special tokens included")
    stride: int = Field(ge=0, description="tokens shared by consecutive windows")
    label_all_subtokens: bool = False
    backbone: str = ""
    repeat_types: tuple[str, ...] = Field(
        default=(), description="entity types copied to their other mentions after decoding"
    )
    merge_types: tuple[str, ...] = Field(
        default=(), description="entity types whose list neighbours are joined after decoding"
    )
    join_types: tuple[str, ...] = Field(
        default=(), description="entity types whose fragments on one line are joined first"
    )
    min_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="per entity type, the lowest confidence a decoded entity needs to be kept",
    )
    section_types: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="per entity type, the headings whose section becomes one entity",
    )
    entity_filter: EntityFilter | None = Field(
        default=None, description="the fitted keep-or-drop rule applied after the floors"
    )

    @model_validator(mode="after")
    def _check(self) -> InferenceSettings:
        if self.stride >= self.max_length - 2:
            raise ValueError(
                f"stride {self.stride} must be below max_length - 2 ({self.max_length - 2})"
            )
        if not self.labels or self.labels[0] != "O":
            raise ValueError("labels must start with 'O'")
        for field in _DECODING_FIELDS:
            unknown = sorted(set(getattr(self, field)) - set(self.entity_types))
            if unknown:
                raise ValueError(
                    f"{field} {unknown} are not entity types of the labels "
                    f"({', '.join(self.entity_types)})"
                )
        if self.entity_filter is not None:
            unknown = sorted(set(self.entity_filter.entity_types) - set(self.entity_types))
            if unknown:
                raise ValueError(
                    f"entity_filter weights name {unknown}, not entity types of the labels "
                    f"({', '.join(self.entity_types)})"
                )
        return self

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(label[2:] for label in self.labels if label != "O"))


def write_inference_settings(directory: Path, settings: InferenceSettings) -> Path:
    """Write ``inference.json`` atomically (a crash never leaves half a file), mode 0644."""
    directory.mkdir(parents=True, exist_ok=True)
    # Left out when empty, so packages that do not use it stay readable by older engines.
    empty = {f for f in (*_DECODING_FIELDS, "entity_filter") if not getattr(settings, f)} or None
    text = json.dumps(settings.model_dump(mode="json", exclude=empty), indent=2)
    return atomic_write(directory / INFERENCE_FILE, text)


def read_inference_settings(directory: Path) -> InferenceSettings:
    path = directory / INFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; this directory is not a nerp model or package")
    try:
        return InferenceSettings.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid inference settings: {exc}") from exc

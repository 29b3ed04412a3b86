"""Data section: where documents come from, which labels exist and how they are split."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from nerp_infra.config.base import ConfigModel, FileRelative

__all__ = ["DEFAULT_LABELS", "DataConfig", "SplitConfig", "SyntheticDataConfig"]

DEFAULT_LABELS: tuple[str, ...] = (
    "NAME",
    "EMAIL",
    "PHONE",
    "LOCATION",
    "DESIGNATION",
    "COMPANY",
    "EDUCATION",
    "SKILL",
    "EXPERIENCE",
)

_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")


class SyntheticDataConfig(ConfigModel):
    """Generated resumes (faker) so the whole pipeline runs without private data."""

    n_documents: int = Field(default=600, ge=1)
    seed: int = 13
    locale: str = "en_US"

    @field_validator("locale")
    @classmethod
    def _locale_shape(cls, value: str) -> str:
        if not _LOCALE.fullmatch(value):
            raise ValueError(f"locale {value!r} is not a faker locale such as 'en_US' or 'de_DE'")
        return value


class SplitConfig(ConfigModel):
    """Train/validation/test fractions of the documents, reproducible through ``seed``."""

    train: float = Field(default=0.7, gt=0, le=1)
    validation: float = Field(default=0.15, ge=0, lt=1)
    test: float = Field(default=0.15, ge=0, lt=1)
    seed: int = 42

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"split fractions must sum to 1, got train {self.train} + validation "
                f"{self.validation} + test {self.test} = {total:g}"
            )
        return self


class DataConfig(ConfigModel):
    """Which documents to use and how their labels map onto the model's entity types."""

    source: Literal["synthetic", "files"] = "synthetic"
    files: Annotated[list[Path], FileRelative()] = Field(default_factory=list)
    format: Literal["auto", "native", "dataturks", "doccano", "label-studio", "conll"] = "auto"
    labels: list[str] = Field(default_factory=lambda: list(DEFAULT_LABELS), min_length=1)
    label_mapping: dict[str, str | None] = Field(default_factory=dict)
    overlap_policy: Literal["keep_longest", "keep_first", "error"] = "keep_longest"
    synthetic: SyntheticDataConfig = Field(default_factory=SyntheticDataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)

    @field_validator("labels")
    @classmethod
    def _labels_are_entity_types(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if label == "O":
                raise ValueError("'O' is the outside tag, not an entity type; remove it")
            if not _LABEL.fullmatch(label):
                raise ValueError(
                    f"label {label!r} must start with a letter and hold only letters, "
                    "digits and '_' (it becomes part of BIO tags such as B-SKILL)"
                )
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"duplicate labels: {', '.join(duplicates)}")
        return labels

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.source == "files" and not self.files:
            raise ValueError("source is 'files' but no files are listed under 'files'")
        if self.source == "synthetic" and self.files:
            raise ValueError(
                "files are listed but source is 'synthetic'; set source: files to use them"
            )
        unknown = sorted(
            {dst for dst in self.label_mapping.values() if dst is not None} - set(self.labels)
        )
        if unknown:
            raise ValueError(
                f"label_mapping maps onto {', '.join(unknown)}, which is not in labels "
                f"({', '.join(self.labels)})"
            )
        return self

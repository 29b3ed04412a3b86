"""The experiment: which stages run, with which section configs."""

from __future__ import annotations

import itertools
import re
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from nerp_infra.config.base import ConfigModel
from nerp_infra.config.benchmark import BenchmarkConfig
from nerp_infra.config.conversion import ConversionConfig
from nerp_infra.config.data import DataConfig
from nerp_infra.config.final_training import FinalTrainingConfig
from nerp_infra.config.hpo import HpoConfig
from nerp_infra.config.model import ModelConfig
from nerp_infra.config.naming import NamingConfig
from nerp_infra.config.paths import PathsConfig
from nerp_infra.config.selection import SelectionConfig
from nerp_infra.config.tracking import TrackingConfig
from nerp_infra.config.train import TrainConfig

__all__ = ["SECTIONS", "STAGES", "ExperimentConfig", "StageName"]

StageName = Literal["data", "hpo", "select", "train", "convert", "evaluate", "benchmark", "report"]
STAGES: tuple[StageName, ...] = get_args(StageName)
"""Every stage, in the only order they can run (each consumes the artifacts before it)."""

SECTIONS: tuple[str, ...] = (
    "data",
    "model",
    "train",
    "hpo",
    "selection",
    "benchmark",
    "conversion",
    "final_training",
    "naming",
    "paths",
    "tracking",
)
"""Experiment keys that hold a section: an inline mapping or a path to a YAML file."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ExperimentConfig(ConfigModel):
    """A whole job: its stages in order and every section they read."""

    name: str = "resume-ner"
    stages: list[StageName] = Field(default_factory=lambda: list(STAGES), min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    hpo: HpoConfig = Field(default_factory=HpoConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    conversion: ConversionConfig = Field(default_factory=ConversionConfig)
    final_training: FinalTrainingConfig = Field(default_factory=FinalTrainingConfig)
    naming: NamingConfig = Field(default_factory=NamingConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"name {name!r} may hold only letters, digits, '.', '_' and '-' "
                "(it becomes part of run and experiment names)"
            )
        return name

    @model_validator(mode="after")
    def _decoding_types_are_labels(self) -> ExperimentConfig:
        fields = {
            "model.repeat_types": self.model.repeat_types,
            "model.merge_types": self.model.merge_types,
            "model.join_types": self.model.join_types,
            "model.min_confidence": self.model.min_confidence,
            "model.section_types": self.model.section_types,
            "model.entity_filter": (
                self.model.entity_filter.entity_types if self.model.entity_filter else ()
            ),
            "train.ignore_unmarked": self.train.ignore_unmarked,
        }
        for name, types in fields.items():
            unknown = [t for t in types if t not in self.data.labels]
            if unknown:
                raise ValueError(
                    f"{name}: {unknown} are not among data.labels ({', '.join(self.data.labels)})"
                )
        return self

    @field_validator("stages")
    @classmethod
    def _stages_in_order(cls, stages: list[StageName]) -> list[StageName]:
        seen: set[str] = set()
        for stage in stages:
            if stage in seen:
                raise ValueError(f"stage {stage!r} is listed twice")
            seen.add(stage)
        ranks = [STAGES.index(stage) for stage in stages]
        for before, after in itertools.pairwise(ranks):
            if after < before:
                raise ValueError(
                    f"stage {STAGES[after]!r} must come before {STAGES[before]!r}; "
                    f"stages run in the order {', '.join(STAGES)}"
                )
        return stages

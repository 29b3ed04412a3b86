"""HPO section: search space, Optuna sampler/pruner, cross-validation and study storage."""

from __future__ import annotations

import math
import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import Field, ValidationError, field_validator, model_validator

from nerp_infra.config.base import ConfigModel, MetricName, RunMode
from nerp_infra.config.errors import KeyedValueError, did_you_mean
from nerp_infra.config.train import TrainConfig

__all__ = [
    "ChoiceParam",
    "HpoConfig",
    "IntParam",
    "LogUniformParam",
    "PrunerConfig",
    "SamplerConfig",
    "SearchParam",
    "UniformParam",
]


class ChoiceParam(ConfigModel):
    """One of a fixed set of values (Optuna categorical)."""

    type: Literal["choice"] = "choice"
    values: list[Any] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[Any]) -> list[Any]:
        seen: list[Any] = []
        for value in values:
            if value in seen:
                raise ValueError(f"value {value!r} is listed twice")
            seen.append(value)
        return values


class UniformParam(ConfigModel):
    """A float drawn uniformly from [low, high], optionally on a grid of ``step``."""

    type: Literal["uniform"] = "uniform"
    low: float
    high: float
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> UniformParam:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be smaller than high {self.high}")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(f"step {self.step} is larger than high - low {self.high - self.low}")
        return self


class LogUniformParam(ConfigModel):
    """A positive float drawn uniformly on a log scale (learning rates, weight decay)."""

    type: Literal["loguniform"] = "loguniform"
    low: float
    high: float

    @model_validator(mode="after")
    def _positive_and_ordered(self) -> LogUniformParam:
        if self.low <= 0:
            raise ValueError(f"loguniform low must be > 0, got {self.low}")
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be smaller than high {self.high}")
        return self


class IntParam(ConfigModel):
    """An integer from [low, high] in steps of ``step``, or on a log scale with ``log``."""

    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntParam:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be smaller than high {self.high}")
        if self.log and self.low < 1:
            raise ValueError(f"log: true needs low >= 1, got {self.low}")
        if self.log and self.step != 1:
            raise ValueError("log: true needs step 1 (Optuna cannot combine both)")
        return self


SearchParam = Annotated[
    ChoiceParam | UniformParam | LogUniformParam | IntParam, Field(discriminator="type")
]
"""One search dimension, chosen by its ``type``: choice, uniform, loguniform or int."""


class SamplerConfig(ConfigModel):
    """Optuna sampler; ``grid`` enumerates the space, so it needs finite dimensions."""

    type: Literal["tpe", "random", "grid"] = "tpe"
    seed: int | None = 42


class PrunerConfig(ConfigModel):
    """Early stopping of bad trials (Optuna pruners; ``bandit`` mirrors Azure ML's policy).

    median/wilcoxon use ``n_startup_trials``/``n_warmup_steps``; bandit (and Azure ML
    sweeps) use ``evaluation_interval``/``delay_evaluation`` plus exactly one slack.
    """

    type: Literal["median", "wilcoxon", "bandit", "none"] = "median"
    n_startup_trials: int = Field(default=1, ge=0)
    n_warmup_steps: int = Field(default=2, ge=0)
    slack_factor: float | None = Field(default=None, gt=0)
    slack_amount: float | None = Field(default=None, gt=0)
    evaluation_interval: int = Field(default=1, ge=1)
    delay_evaluation: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _slack_only_for_bandit(self) -> PrunerConfig:
        slacks = [self.slack_factor, self.slack_amount]
        given = sum(value is not None for value in slacks)
        if self.type == "bandit" and given != 1:
            raise ValueError("pruner 'bandit' needs exactly one of slack_factor or slack_amount")
        if self.type != "bandit" and given:
            raise ValueError(
                f"slack_factor/slack_amount are only used by the 'bandit' pruner, not {self.type!r}"
            )
        return self


_STORAGE_SCHEMES = re.compile(r"^(sqlite|postgresql(\+\w+)?|mysql(\+\w+)?|journal)://.+")


def _base_type(annotation: Any) -> Any:
    """``int | None`` -> ``int``; other annotations unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _check_candidate(name: str, value: Any) -> Any:
    try:
        validated = TrainConfig.model_validate({name: value})
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise KeyedValueError([name], f"{value!r} is not a valid train.{name}: {reason}") from None
    return getattr(validated, name)


def _check_param(name: str, param: ChoiceParam | UniformParam | LogUniformParam | IntParam) -> Any:
    """Validate a dimension against the TrainConfig field it searches; returns it coerced."""
    base = _base_type(TrainConfig.model_fields[name].annotation)
    if isinstance(param, ChoiceParam):
        values = [_check_candidate(name, value) for value in param.values]
        return param.model_copy(update={"values": values})
    if isinstance(param, UniformParam | LogUniformParam) and base is not float:
        raise KeyedValueError(
            [name],
            f"a {param.type} dimension draws floats but train.{name} is not a float; "
            "use choice or int",
        )
    if isinstance(param, IntParam) and base not in (int, float):
        raise KeyedValueError([name], f"an int dimension needs a numeric train.{name}; use choice")
    _check_candidate(name, param.low)
    _check_candidate(name, param.high)
    return param


def _default_search_space() -> dict[str, Any]:
    return {
        "learning_rate": LogUniformParam(low=2e-3, high=6e-3),
        "batch_size": ChoiceParam(values=[8, 16]),
        "weight_decay": UniformParam(low=0.0, high=0.1),
        "dropout": UniformParam(low=0.0, high=0.2),
    }


class HpoConfig(ConfigModel):
    """One Optuna study per backbone (or one over all), with k-fold CV and a refit."""

    study_name: str = Field(default="resume-ner", min_length=1)
    backbones: list[str] = Field(default_factory=lambda: ["tiny"], min_length=1)
    study_per_backbone: bool = True
    n_trials: int | None = Field(default=2, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    k_folds: int = Field(default=2, ge=1)
    objective_metric: MetricName = "f1_macro"
    direction: Literal["maximize", "minimize"] = "maximize"
    search_space: dict[str, SearchParam] = Field(default_factory=_default_search_space)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    refit: bool = False
    keep_trial_checkpoints: bool = False
    storage: str | None = None
    run_mode: RunMode = "resume_if_incomplete"
    heartbeat_interval_s: int = Field(default=60, ge=1)

    @field_validator("backbones")
    @classmethod
    def _distinct_backbones(cls, backbones: list[str]) -> list[str]:
        duplicates = sorted({name for name in backbones if backbones.count(name) > 1})
        if duplicates:
            raise ValueError(f"backbones listed twice: {', '.join(duplicates)}")
        return backbones

    @field_validator("search_space")
    @classmethod
    def _searches_train_fields(cls, space: dict[str, Any]) -> dict[str, Any]:
        fields = TrainConfig.model_fields
        checked: dict[str, Any] = {}
        for name, param in space.items():
            if name not in fields:
                raise KeyedValueError([name], f"not a train setting{did_you_mean(name, fields)}")
            checked[name] = _check_param(name, param)
        return checked

    @field_validator("storage")
    @classmethod
    def _known_storage(cls, storage: str | None) -> str | None:
        if storage is not None and not _STORAGE_SCHEMES.match(storage):
            raise ValueError(
                f"storage {storage!r} is not a sqlite:///, postgresql://, mysql:// URL or a "
                "journal:///path; leave it null for a SQLite file under the output root"
            )
        return storage

    @model_validator(mode="after")
    def _finite_study(self) -> HpoConfig:
        if self.n_trials is None and self.timeout_s is None:
            raise ValueError("set n_trials or timeout_s, otherwise the study never ends")
        if not self.search_space:
            raise ValueError("search_space is empty; nothing to tune")
        if self.sampler.type == "grid":
            for name, param in self.search_space.items():
                if isinstance(param, LogUniformParam) or (
                    isinstance(param, UniformParam) and param.step is None
                ):
                    raise KeyedValueError(
                        ["search_space", name],
                        f"sampler 'grid' needs finite dimensions, but this is a continuous "
                        f"{param.type}; use choice, int or uniform with step",
                    )
        return self

    def grid_points(self) -> dict[str, list[Any]]:
        """Every value of each dimension, for Optuna's GridSampler (needs ``sampler: grid``)."""
        grid: dict[str, list[Any]] = {}
        for name, param in self.search_space.items():
            if isinstance(param, ChoiceParam):
                grid[name] = list(param.values)
            elif isinstance(param, IntParam):
                grid[name] = list(range(param.low, param.high + 1, param.step))
            elif isinstance(param, UniformParam) and param.step is not None:
                count = math.floor((param.high - param.low) / param.step + 1e-9) + 1
                grid[name] = [param.low + i * param.step for i in range(count)]
            else:
                raise ValueError(f"search_space.{name} is continuous and has no grid")
        return grid

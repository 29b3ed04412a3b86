"""The search space: config dimensions as Optuna distributions, and trial configs from them.

The config models (``nerp_infra.config.hpo``) already check each dimension against the
``train`` field it searches; this module checks what only Optuna cares about (a ``step``
that does not divide the range would make Optuna silently move ``high``) and builds the
distributions once, so the sampler, the Azure ML sweep and the reports all see the same
space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from nerp_hpo.errors import SearchSpaceError
from nerp_infra.config import (
    ChoiceParam,
    HpoConfig,
    IntParam,
    LogUniformParam,
    ModelConfig,
    TrainConfig,
    UniformParam,
)

__all__ = [
    "BACKBONE_PARAM",
    "build_distributions",
    "has_backbone_dimension",
    "max_epochs",
    "split_params",
    "suggest_params",
    "to_distribution",
    "trial_model_config",
    "trial_train_config",
]

BACKBONE_PARAM = "backbone"
"""Name of the study dimension that picks the backbone when one study covers several."""

_STEP_TOLERANCE = 1e-9
_CATEGORICAL_TYPES = (type(None), bool, int, float, str)


def space_key(name: str) -> str:
    """The config path that names search-space dimension ``name`` in errors."""
    return f"hpo.search_space.{name}"


def to_distribution(
    name: str, param: ChoiceParam | UniformParam | LogUniformParam | IntParam
) -> BaseDistribution:
    """One config dimension as an Optuna distribution; errors name ``hpo.search_space.<name>``."""
    if isinstance(param, ChoiceParam):
        for value in param.values:
            if not isinstance(value, _CATEGORICAL_TYPES):
                raise SearchSpaceError(
                    space_key(name),
                    f"choice value {value!r} is a {type(value).__name__}; Optuna stores only "
                    "null, booleans, numbers and strings",
                )
        return CategoricalDistribution(list(param.values))
    if isinstance(param, LogUniformParam):
        return FloatDistribution(param.low, param.high, log=True)
    if isinstance(param, UniformParam):
        if param.step is not None:
            count = (param.high - param.low) / param.step
            if abs(count - round(count)) > _STEP_TOLERANCE * max(1.0, count):
                raise SearchSpaceError(
                    space_key(name),
                    f"step {param.step} does not divide high - low ({param.high} - {param.low}); "
                    "Optuna would silently lower high. Pick a step that fits the range",
                )
        return FloatDistribution(param.low, param.high, step=param.step)
    if isinstance(param, IntParam):
        if (param.high - param.low) % param.step:
            raise SearchSpaceError(
                space_key(name),
                f"step {param.step} does not divide high - low ({param.high} - {param.low}); "
                "Optuna would silently lower high. Pick a step that fits the range",
            )
        return IntDistribution(param.low, param.high, step=param.step, log=param.log)
    raise SearchSpaceError(space_key(name), f"unknown dimension type {type(param).__name__}")


def has_backbone_dimension(hpo: HpoConfig) -> bool:
    """Whether the backbone is searched inside one study (instead of one study per backbone)."""
    return not hpo.study_per_backbone and len(hpo.backbones) > 1


def build_distributions(hpo: HpoConfig) -> dict[str, BaseDistribution]:
    """Every dimension of the study, in config order, plus ``backbone`` when it is searched."""
    if BACKBONE_PARAM in hpo.search_space:
        raise SearchSpaceError(
            space_key(BACKBONE_PARAM),
            "the backbone is chosen with hpo.backbones and hpo.study_per_backbone, "
            "not as a search dimension",
        )
    distributions = {name: to_distribution(name, p) for name, p in hpo.search_space.items()}
    if has_backbone_dimension(hpo):
        distributions[BACKBONE_PARAM] = CategoricalDistribution(list(hpo.backbones))
    return distributions


def suggest_params(
    trial: optuna.Trial | optuna.trial.FixedTrial, distributions: Mapping[str, BaseDistribution]
) -> dict[str, Any]:
    """Ask the trial for a value of every dimension (through the public ``suggest_*`` API,
    so retried and enqueued trials get their fixed values back)."""
    params: dict[str, Any] = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, list(dist.choices))
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        elif isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        else:  # pragma: no cover - build_distributions makes only the three above
            raise SearchSpaceError(space_key(name), f"unsupported distribution {dist!r}")
    return params


def split_params(params: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """``(backbone or None, train settings)`` from a trial's params."""
    train = {k: v for k, v in params.items() if k != BACKBONE_PARAM}
    backbone = params.get(BACKBONE_PARAM)
    return (str(backbone) if backbone is not None else None), train


def trial_train_config(base: TrainConfig, params: Mapping[str, Any]) -> TrainConfig:
    """The base train settings with a trial's values, validated as a whole.

    Integers drawn for a float field stay exact; a combination TrainConfig rejects is a
    SearchSpaceError naming the dimension.
    """
    _, train_params = split_params(params)
    merged = {**base.model_dump(), **train_params}
    try:
        return TrainConfig.model_validate(merged)
    except Exception as exc:
        names = ", ".join(sorted(train_params)) or "(none)"
        raise SearchSpaceError(
            "hpo.search_space", f"trial values {dict(train_params)} ({names}) are invalid: {exc}"
        ) from exc


def trial_model_config(base: ModelConfig, params: Mapping[str, Any], backbone: str) -> ModelConfig:
    """The model section for a trial: the study's backbone, or the one the trial drew."""
    drawn, _ = split_params(params)
    return base.model_copy(update={"backbone": drawn or backbone})


def max_epochs(hpo: HpoConfig, train: TrainConfig) -> int:
    """The most epochs any trial can run: fixes the step numbering of intermediate values
    (``fold * max_epochs + epoch``) so the same step means the same point in every trial."""
    param = hpo.search_space.get("epochs")
    if param is None:
        return train.epochs
    if isinstance(param, ChoiceParam):
        return max(int(v) for v in param.values)
    if isinstance(param, IntParam):
        return param.high
    if isinstance(param, UniformParam | LogUniformParam):  # pragma: no cover - config rejects
        return math.ceil(param.high)
    return train.epochs

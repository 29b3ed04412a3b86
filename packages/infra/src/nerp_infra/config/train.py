"""Train section: the hyper-parameters of one training run (HPO searches over them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, create_model, model_serializer
from pydantic.fields import FieldInfo
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from nerp_infra.config.base import ConfigModel, MetricName

__all__ = ["TrainConfig", "TrainOverrides"]


class TrainConfig(ConfigModel):
    """Hyper-parameters of one fine-tuning run; every field is searchable by HPO."""

    epochs: int = Field(default=8, ge=1)
    batch_size: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    attention_dropout: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="dropout on attention weights; None: the same as dropout. 0 lets "
        "PyTorch's fused attention kernel run: about 1.35x faster MiniLM training on CPU",
    )
    reinit_layers: int = Field(
        default=0,
        ge=0,
        description="top transformer layers of a pretrained backbone re-initialised before "
        "fine-tuning (Zhang et al. 2021, 'Revisiting few-sample BERT fine-tuning'): the top "
        "layers are the most specific to the pre-training task, and small data adapts fresh "
        "ones more easily; 0 keeps every pretrained layer",
    )
    early_stopping_patience: int | None = Field(default=2, ge=1)
    metric_for_best: MetricName = "f1_macro"
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "auto"
    seed: int = 42
    data_seed: int | None = Field(
        default=None,
        description="seed of the order the training windows are drawn in; None: seed. "
        "Another data_seed trains the same initial weights on another order, which shows "
        "how much of a score is the draw (benchmarks/accuracy.py --data-seeds)",
    )
    group_by_length: bool = False
    ignore_unmarked: list[str] = Field(
        default_factory=list,
        description="entity types whose other mentions of a gold entity's exact text, left "
        "unmarked by the annotators, get no loss instead of O, so inconsistent annotation "
        "does not teach the model to miss mentions (validation scores the gold as written)",
    )


class _TrainOverridesBase(ConfigModel):
    """Some TrainConfig fields, validated like TrainConfig; only the keys given count."""

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}

    def as_dict(self) -> dict[str, Any]:
        """The overridden fields and their values (unset fields are absent, not None)."""
        given = self.model_fields_set
        return {key: getattr(self, key) for key in type(self).model_fields if key in given}

    def apply_to(self, train: TrainConfig) -> TrainConfig:
        """``train`` with these overrides, validated again as a whole."""
        return TrainConfig.model_validate({**train.model_dump(), **self.as_dict()})


def _optional(field: FieldInfo) -> tuple[Any, Any]:
    """TrainConfig's type and bounds for one field, but optional and unset by default."""
    annotated: Any = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    return (annotated | None, Field(default=None, description=field.description))


if TYPE_CHECKING:
    TrainOverrides = _TrainOverridesBase
else:
    TrainOverrides = create_model(
        "TrainOverrides",
        __base__=_TrainOverridesBase,
        __module__=__name__,
        **{name: _optional(field) for name, field in TrainConfig.model_fields.items()},
    )
    TrainOverrides.__doc__ = (
        "Partial TrainConfig: each field has TrainConfig's type and bounds, unknown keys are "
        "errors, and only the keys given are applied."
    )

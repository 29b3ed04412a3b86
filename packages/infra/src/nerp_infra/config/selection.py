"""Selection section: how the champion of each backbone's study is picked."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from nerp_infra.config.base import Backend, ConfigModel, RunMode

__all__ = ["SelectionConfig"]


class SelectionConfig(ConfigModel):
    """Accuracy/latency trade-off between the best trials of the HPO studies.

    ``tolerance``: the fastest candidate within ``accuracy_tolerance`` of the best score
    wins. ``composite``: the best ``f1_weight * f1 + latency_weight * speed`` wins
    (both normalised over the candidates).
    """

    min_trials_per_group: int = Field(default=1, ge=1)
    top_k: int = Field(default=3, ge=1)
    strategy: Literal["tolerance", "composite"] = "tolerance"
    accuracy_tolerance: float = Field(default=0.01, ge=0)
    tolerance_mode: Literal["absolute", "relative"] = "absolute"
    f1_weight: float = Field(default=0.7, ge=0, le=1)
    latency_weight: float = Field(default=0.3, ge=0, le=1)
    latency_backend: Backend = "onnx_int8"
    latency_batch_size: int = Field(default=1, ge=1)
    run_mode: RunMode = "reuse_if_exists"

    @model_validator(mode="after")
    def _weights_and_tolerance(self) -> SelectionConfig:
        total = self.f1_weight + self.latency_weight
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"f1_weight {self.f1_weight} + latency_weight {self.latency_weight} must sum to 1"
            )
        if self.tolerance_mode == "relative" and self.accuracy_tolerance >= 1:
            raise ValueError(
                f"a relative accuracy_tolerance is a fraction of the best score and must be < 1, "
                f"got {self.accuracy_tolerance}"
            )
        return self

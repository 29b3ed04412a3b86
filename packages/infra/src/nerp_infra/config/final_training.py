"""Final-training section: what the production model starts from and how it is trained."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nerp_infra.config.base import ConfigModel, RunMode
from nerp_infra.config.train import TrainConfig, TrainOverrides

__all__ = ["FinalTrainingConfig"]


class FinalTrainingConfig(ConfigModel):
    """Train the model that gets converted and served.

    ``source``: ``scratch`` trains with the experiment's ``train`` settings,
    ``best_selected`` starts from the selection's champion config, ``final_training``
    continues from an earlier final-training artifact. ``variant`` pins the output
    variant (null lets ``run_mode`` reuse the latest or allocate the next).
    ``reuse_refit``: with ``best_selected``, take the HPO refit's weights as the final
    model instead of training them again when the refit trained exactly what this
    section would (same spec and exec fingerprints, train + validation, one process).
    """

    source: Literal["scratch", "best_selected", "final_training"] = "best_selected"
    run_mode: RunMode = "reuse_if_exists"
    variant: int | None = Field(default=None, ge=1)
    train_on_validation: bool = True
    overrides: TrainOverrides = Field(default_factory=TrainOverrides)
    nproc: int = Field(default=1, ge=1)
    reuse_refit: bool = True

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """``base`` (from ``train`` or the selected trial) with ``overrides`` applied."""
        return self.overrides.apply_to(base)

"""Tracking section: where MLflow records runs."""

from __future__ import annotations

import re

from pydantic import field_validator

from nerp_infra.config.base import ConfigModel

__all__ = ["TrackingConfig"]

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class TrackingConfig(ConfigModel):
    """MLflow settings.

    ``uri`` null: ``MLFLOW_TRACKING_URI`` when set, else a SQLite database under the
    output root, so a laptop run needs no server. ``experiment_prefix`` starts every
    MLflow experiment name (one experiment per stage).
    """

    enabled: bool = True
    uri: str | None = None
    experiment_prefix: str = "nerp"

    @field_validator("experiment_prefix")
    @classmethod
    def _prefix_shape(cls, prefix: str) -> str:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"experiment_prefix {prefix!r} may hold only letters, digits, '.', '_' and '-'"
            )
        return prefix

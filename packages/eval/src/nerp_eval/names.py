"""Moved: ``backbone_component`` is ``nerp_infra.paths.backbone_component``."""

from __future__ import annotations

from nerp_infra.deprecation import deprecated_names

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={"backbone_component": "nerp_infra.paths:backbone_component"},
)

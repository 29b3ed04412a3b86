"""Paths section: the output root per platform and the artifact directory layout.

The rules live in ``nerp_infra.paths`` (the layout check, the platform roots and the one
output-root resolver); this model only holds the configured values and applies them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from nerp_infra.config.base import ConfigModel
from nerp_infra.deprecation import deprecated_names
from nerp_infra.paths import (
    DEFAULT_LAYOUT,
    DEFAULT_PLATFORM_ROOTS,
    check_layout,
    check_platform_roots,
    resolve_output_root,
)

__all__ = ["PathsConfig"]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={"LAYOUT_PLACEHOLDERS": "nerp_infra.paths:LAYOUT_FIELDS"},
)


class PathsConfig(ConfigModel):
    """Where artifacts go.

    ``root`` is used locally (relative to the working directory); on Colab, Kaggle and
    Azure ML ``platform_roots`` points at storage that outlives the session.
    ``layout`` places each artifact under the root, e.g.
    ``final_training/minilm/spec-81710c33_exec-8d244347/v2``.
    """

    root: Path = Path("outputs")
    layout: str = DEFAULT_LAYOUT
    platform_roots: dict[str, Path] = Field(
        default_factory=lambda: {k: Path(v) for k, v in DEFAULT_PLATFORM_ROOTS.items()}
    )

    @field_validator("layout")
    @classmethod
    def _layout_valid(cls, layout: str) -> str:
        return check_layout(layout)

    @field_validator("platform_roots")
    @classmethod
    def _known_platforms(cls, roots: dict[str, Path]) -> dict[str, Path]:
        check_platform_roots(roots)
        return roots

    def resolve_root(self, platform: str | None = None) -> Path:
        """The absolute output root on ``platform`` (detected when None; see
        ``nerp_infra.platform``), with ``~`` and ``$VARS`` expanded:
        :func:`nerp_infra.paths.resolve_output_root`."""
        return resolve_output_root(self.root, self.platform_roots, platform)

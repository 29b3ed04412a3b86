"""Paths section: the output root per platform and the artifact directory layout."""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath

from pydantic import Field, field_validator

from nerp_infra.config.base import ConfigModel
from nerp_infra.platform import PLATFORMS

__all__ = ["LAYOUT_PLACEHOLDERS", "PathsConfig"]

LAYOUT_PLACEHOLDERS: frozenset[str] = frozenset({"stage", "backbone", "key", "variant"})
_REQUIRED_IN_LAYOUT: frozenset[str] = frozenset({"stage", "key", "variant"})


def _default_platform_roots() -> dict[str, str]:
    return {
        "colab": "/content/drive/MyDrive/nerp",
        "kaggle": "/kaggle/working/nerp",
        "azureml": "./outputs",
    }


class PathsConfig(ConfigModel):
    """Where artifacts go.

    ``root`` is used locally (relative to the working directory); on Colab, Kaggle and
    Azure ML ``platform_roots`` points at storage that outlives the session.
    ``layout`` places each artifact under the root, e.g.
    ``final_training/minilm/spec-81710c33_exec-8d244347/v2``.
    """

    root: Path = Path("outputs")
    layout: str = "{stage}/{backbone}/{key}/v{variant}"
    platform_roots: dict[str, Path] = Field(
        default_factory=lambda: {k: Path(v) for k, v in _default_platform_roots().items()}
    )

    @field_validator("layout")
    @classmethod
    def _layout_valid(cls, layout: str) -> str:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(layout) if name is not None]
        except ValueError as exc:
            raise ValueError(f"invalid layout {layout!r}: {exc}") from None
        unknown = sorted(set(names) - LAYOUT_PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}} in layout; use "
                + ", ".join(f"{{{name}}}" for name in sorted(LAYOUT_PLACEHOLDERS))
            )
        missing = sorted(_REQUIRED_IN_LAYOUT - set(names))
        if missing:
            raise ValueError(
                "layout must contain "
                + ", ".join(f"{{{name}}}" for name in missing)
                + " so that artifacts of different stages, settings and variants never share "
                "a directory"
            )
        parts = PurePosixPath(layout).parts
        if layout.startswith("/") or ".." in parts or "\\" in layout:
            raise ValueError(f"layout {layout!r} must be a relative path inside the root")
        return layout

    @field_validator("platform_roots")
    @classmethod
    def _known_platforms(cls, roots: dict[str, Path]) -> dict[str, Path]:
        unknown = sorted(set(roots) - (set(PLATFORMS) - {"local"}))
        if unknown:
            raise ValueError(
                f"unknown platform {unknown[0]!r}; platform_roots keys are "
                f"{', '.join(p for p in PLATFORMS if p != 'local')} (local uses root)"
            )
        return roots

    def resolve_root(self, platform: str) -> Path:
        """The absolute output root on ``platform`` (see ``nerp_infra.platform``)."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}")
        root = self.platform_roots.get(platform, self.root) if platform != "local" else self.root
        return root.expanduser().absolute()

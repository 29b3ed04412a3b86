"""Short, path-safe names for backbones (a local folder is named by its folder name)."""

from __future__ import annotations

from pathlib import Path

from nerp_infra.paths import slug

__all__ = ["backbone_component"]


def backbone_component(backbone: str) -> str:
    """A backbone as one short path component: aliases and hub ids slugged, a local
    folder by its folder name (as final training names its output folders)."""
    path = Path(backbone).expanduser()
    if backbone.startswith(("/", ".", "~")) or path.is_dir():
        return slug(path.name or backbone)
    return slug(backbone)

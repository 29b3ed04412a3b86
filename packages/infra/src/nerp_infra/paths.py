"""Where artifacts live: the output root (per platform) and the layout under it.

Stages never guess paths; they get a directory from :class:`OutputLayout` and find
inputs through the artifact index. The root moves to persistent storage on hosted
notebooks (Colab's Drive, Kaggle's working dir) and to the uploaded outputs folder on
Azure ML, so a session that dies does not take its artifacts with it.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nerp_infra.fingerprints import short
from nerp_infra.platform import PLATFORMS, detect_platform

__all__ = [
    "ANY_BACKBONE",
    "DEFAULT_LAYOUT",
    "DEFAULT_PLATFORM_ROOTS",
    "LAYOUT_FIELDS",
    "OutputLayout",
    "backbone_component",
    "check_component",
    "check_layout",
    "check_platform_roots",
    "fingerprint_key",
    "resolve_output_root",
    "slug",
]

DEFAULT_LAYOUT = "{stage}/{backbone}/{key}/v{variant}"
LAYOUT_FIELDS = frozenset({"stage", "backbone", "key", "variant"})

ANY_BACKBONE = "all"
"""Backbone component for artifacts that belong to no single backbone (datasets, selections)."""

DEFAULT_PLATFORM_ROOTS: Mapping[str, str] = {
    "colab": "/content/drive/MyDrive/nerp",
    "kaggle": "/kaggle/working/nerp",
    "azureml": "./outputs",
}
"""Persistent output roots per hosted platform; config entries override these per platform."""

_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@-]*$")
_SLUG_BAD = re.compile(r"[^A-Za-z0-9._+=@-]+")


def check_component(field_name: str, value: str) -> str:
    """Reject values that would escape or split a directory level; the error names the field."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field_name} must be a non-empty string, got {value!r}")
    if "/" in value or "\\" in value:
        raise ValueError(
            f"{field_name} {value!r} must be a single path component (no '/' or '\\'); "
            f"use nerp_infra.paths.slug() to make one"
        )
    if value in {".", ".."} or not _COMPONENT.match(value):
        raise ValueError(
            f"{field_name} {value!r} is not a safe path component: start with a letter or "
            "digit and use only letters, digits and . _ + = @ -"
        )
    return value


def slug(text: str) -> str:
    """Make a safe path component from free text (``org/model`` → ``org-model``)."""
    cleaned = _SLUG_BAD.sub("-", text).strip("-._+=@")
    if not cleaned:
        raise ValueError(f"cannot make a path component from {text!r}: nothing usable is left")
    return cleaned


def backbone_component(backbone: str) -> str:
    """A ``model.backbone`` value as the one path component every stage files it under:
    a local folder by its folder name, a short name or hub id slugged (``org/name`` →
    ``org-name``). Training, HPO, selection and evaluation all name a backbone this way, so
    the study, the selection and the model of one backbone sit in the same folder."""
    path = Path(backbone).expanduser()
    if backbone.startswith(("/", ".", "~")) or path.is_dir():
        return slug(path.resolve().name or backbone)
    return slug(backbone)


def fingerprint_key(fingerprints: Mapping[str, str], n: int = 8) -> str:
    """Directory key from fingerprints in the given order: ``spec-81710c33_exec-8d244347``."""
    if not fingerprints:
        raise ValueError("fingerprint_key needs at least one fingerprint")
    parts = [f"{name.removesuffix('_fp')}-{short(fp, n)}" for name, fp in fingerprints.items()]
    return check_component("key", "_".join(parts))


_REQUIRED_IN_LAYOUT = ("stage", "key", "variant")
_HOSTED = tuple(p for p in PLATFORMS if p != "local")


def check_layout(layout: str) -> str:
    """Refuse a layout that could put two artifacts in one folder or leave the root.

    It may use only :data:`LAYOUT_FIELDS` and must contain ``{stage}``, ``{key}`` and
    ``{variant}``, so artifacts of different stages, settings and variants never share a
    directory.
    """
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(layout) if name is not None]
    except ValueError as exc:
        raise ValueError(f"invalid layout {layout!r}: {exc}") from None
    unknown = sorted(set(names) - LAYOUT_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}} in layout {layout!r}; use "
            + ", ".join(f"{{{name}}}" for name in sorted(LAYOUT_FIELDS))
        )
    missing = [name for name in _REQUIRED_IN_LAYOUT if name not in names]
    if missing:
        raise ValueError(
            f"layout {layout!r} must contain "
            + ", ".join(f"{{{name}}}" for name in missing)
            + " so that artifacts of different stages, settings and variants never share "
            "a directory"
        )
    if layout.startswith("/") or "\\" in layout or ".." in PurePosixPath(layout).parts:
        raise ValueError(f"layout {layout!r} must be a relative path inside the root")
    return layout


def check_platform_roots(
    roots: Mapping[str, str | os.PathLike[str]],
) -> Mapping[str, str | os.PathLike[str]]:
    """Refuse ``platform_roots`` keys that are not hosted platforms (``local`` uses the root)."""
    unknown = sorted(set(roots) - set(_HOSTED))
    if unknown:
        raise ValueError(
            f"unknown platform(s) {', '.join(map(repr, unknown))} in platform_roots; keys are "
            f"{', '.join(_HOSTED)} (local uses root)"
        )
    return roots


@dataclass(frozen=True)
class OutputLayout:
    """The output root and the pattern of artifact directories under it."""

    root: Path
    layout: str = DEFAULT_LAYOUT

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        check_layout(self.layout)

    def artifact_dir(self, stage: str, backbone: str, key: str, variant: int) -> Path:
        """Directory of one artifact variant (not created here)."""
        check_component("stage", stage)
        check_component("backbone", backbone)
        check_component("key", key)
        if isinstance(variant, bool) or not isinstance(variant, int) or variant < 1:
            raise ValueError(f"variant must be an integer >= 1, got {variant!r}")
        relative = self.layout.format(stage=stage, backbone=backbone, key=key, variant=variant)
        return self.root / relative


def resolve_output_root(
    root: Path | str,
    platform_roots: Mapping[str, str | os.PathLike[str]] | None = None,
    platform: str | None = None,
) -> Path:
    """The output root for the platform nerp runs on (detected when ``platform`` is None).

    ``platform_roots`` entries override :data:`DEFAULT_PLATFORM_ROOTS` per hosted
    platform; ``local`` always uses ``root``. ``~`` and ``$VARS`` are expanded on every
    platform (Azure ML passes output mounts in environment variables), and the result is
    absolute so the index and manifests never depend on the working directory. This is the
    one resolver: ``PathsConfig.resolve_root`` calls it with the configured roots.
    """
    given = check_platform_roots(platform_roots or {})
    name = detect_platform() if platform is None else platform
    if name not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r}; one of {', '.join(PLATFORMS)}")
    chosen = str(root) if name == "local" else str({**DEFAULT_PLATFORM_ROOTS, **given}[name])
    expanded = os.path.expandvars(os.path.expanduser(chosen))
    if "$" in expanded:
        raise ValueError(
            f"output root for platform {name!r} ({chosen!r}) names an environment variable "
            "that is not set"
        )
    return Path(expanded).absolute()

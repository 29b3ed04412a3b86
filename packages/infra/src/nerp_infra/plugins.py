"""Entry-point discovery for nerp commands, stages and doctor probes.

Each distribution contributes through entry points so that an image holding only
nerp-deploy exposes exactly the deploy commands; a plugin that fails to import is
recorded and reported instead of taking the whole CLI down.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from importlib.metadata import (
    EntryPoint,
    PackageNotFoundError,
    distributions,
    entry_points,
    version,
)

COMMANDS_GROUP = "nerp.commands"
STAGES_GROUP = "nerp.stages"
DOCTOR_GROUP = "nerp.doctor"


@dataclass(frozen=True)
class PluginError:
    """A plugin entry point that could not be loaded, kept for reporting."""

    group: str
    name: str
    target: str
    distribution: str
    error: str

    def describe(self) -> str:
        return (
            f"{self.distribution}: entry point {self.name!r} ({self.target}) in group "
            f"{self.group!r} failed to load: {self.error}"
        )


def _distribution_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else "unknown"


def load_group(
    group: str, names: Collection[str] | None = None
) -> tuple[dict[str, object], list[PluginError]]:
    """Load the entry points of ``group`` (only those in ``names`` when given, so running one
    stage imports only that stage's module); failures are collected, not raised."""
    loaded: dict[str, object] = {}
    owners: dict[str, str] = {}
    errors: list[PluginError] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        owner = _distribution_name(ep)
        if ep.name in owners and owners[ep.name] != owner:
            errors.append(
                PluginError(
                    group=group,
                    name=ep.name,
                    target=ep.value,
                    distribution=owner,
                    error=f"{ep.name!r} is also provided by {owners[ep.name]}; kept that one",
                )
            )
            continue
        owners[ep.name] = owner
        if names is not None and ep.name not in names:
            continue
        try:
            loaded[ep.name] = ep.load()
        except Exception as exc:
            errors.append(
                PluginError(
                    group=group,
                    name=ep.name,
                    target=ep.value,
                    distribution=_distribution_name(ep),
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
    return loaded, errors


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` read from its metadata (None when it
    is not installed), so version reports never import the (heavy) library itself."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def installed_nerp_distributions() -> dict[str, str]:
    """Map each installed ``nerp-*`` distribution to its version, sorted by name."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name and name.lower().startswith("nerp-"):
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))

"""Run names for eval's MLflow runs, from the naming config.

The runs themselves are opened by ``nerp_infra.tracking.tracked_stage``, which yields
``None`` when tracking is off, so the stages never branch on it beyond "log if there is a
run".
"""

from __future__ import annotations

from typing import Any

from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import NamingConfig, RunKind
from nerp_infra.deprecation import deprecated_names
from nerp_infra.fingerprints import fingerprint, short

__all__ = ["run_name", "short_or_placeholder"]

__getattr__ = deprecated_names(
    __name__,
    since="0.2.0",
    removed_in="0.3.0",
    names={"stage_run": "nerp_infra.tracking:tracked_stage"},
)


def short_or_placeholder(fp: str | None, fallback: str) -> str:
    """First 8 hex digits of a fingerprint, or of a hash of ``fallback`` when unknown."""
    return short(fp) if fp else short(fingerprint({"unknown": fallback}))


def run_name(
    naming: NamingConfig,
    kind: RunKind,
    index: ArtifactIndex | None,
    **fields: Any,
) -> str:
    """Render the configured pattern; ``version`` comes from the index (one per base)."""
    base = "-".join(str(fields[k]) for k in sorted(fields))
    version = index.reserve_run_name(f"{kind}:{base}") if index is not None else 1
    return naming.render(kind, version=version, **fields)

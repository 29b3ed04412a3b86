"""MLflow runs for eval's stages, and run names from the naming config.

Tracking is optional per experiment (``tracking.enabled``); every caller goes through
:func:`stage_run`, which yields ``None`` when it is off, so the stages never branch on it
beyond "log if there is a run".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.config import NamingConfig, RunKind, TrackingConfig
from nerp_infra.fingerprints import fingerprint, short

__all__ = ["run_name", "short_or_placeholder", "stage_run"]


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


@contextmanager
def stage_run(
    tracking: TrackingConfig | None,
    output_root: Path,
    *,
    stage: str,
    name: str,
    tags: Mapping[str, str] | None = None,
) -> Iterator[str | None]:
    """An MLflow run of the stage's experiment, or ``None`` when tracking is off."""
    if tracking is None or not tracking.enabled:
        yield None
        return
    from nerp_infra.tracking import setup_mlflow, start_run

    setup_mlflow(config_uri=tracking.uri, output_root=output_root)
    with start_run(stage, name, tags=tags, prefix=tracking.experiment_prefix) as run_id:
        yield run_id

"""Run names for eval's MLflow runs, from the naming config.

The runs themselves are opened by ``nerp_infra.tracking.tracked_stage``, which yields
``None`` when tracking is off, so the stages never branch on it beyond "log if there is a
run".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nerp_infra.artifacts import ArtifactHandle, ArtifactIndex
from nerp_infra.config import NamingConfig, RunKind, TrackingConfig
from nerp_infra.deprecation import deprecated_names
from nerp_infra.fingerprints import fingerprint, short
from nerp_infra.tags import build_tags
from nerp_infra.tracking import log_artifacts, log_metrics, log_params, tracked_stage

__all__ = ["log_artifact_run", "run_name", "short_or_placeholder"]

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


def log_artifact_run(
    handle: ArtifactHandle,
    *,
    tracking: TrackingConfig | None,
    root: Path,
    run_kind: RunKind,
    naming: NamingConfig | None,
    index: ArtifactIndex | None,
    spec8: str,
    exec8: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> str | None:
    """Record the written artifact ``handle`` as its stage's MLflow run, named by the
    ``run_kind`` pattern: tags naming the artifact (and ``tags``), ``params``, ``metrics``
    and the artifact folder. Returns the run id for the manifest, None when tracking is off.
    Stage, backbone, lineage and variant are the artifact's own, so run and artifact agree."""
    m = handle.manifest
    fields = {"backbone": m.backbone, "variant": m.variant}
    name = run_name(naming or NamingConfig(), run_kind, index, spec8=spec8, exec8=exec8, **fields)
    run_tags = build_tags(
        artifact_id=handle.id, artifact_kind=m.kind, lineage=m.lineage, **fields, **(tags or {})
    )
    with tracked_stage(tracking, root, stage=m.stage, name=name, tags=run_tags) as run_id:
        if run_id is not None:
            log_params(dict(params))
            log_metrics(metrics)
            log_artifacts(handle.dir, m.kind)
    return run_id

"""Artifact manifests, the SQLite artifact index and run-mode decisions (ARCHITECTURE §3).

Stages use :func:`begin_artifact` to get a directory (or learn that a complete one
exists), then :class:`ArtifactHandle` to finish it; later stages find inputs through
:class:`ArtifactIndex`.
"""

from nerp_infra.artifacts.index import (
    INDEX_NAME,
    ArtifactIndex,
    ArtifactIndexError,
    ArtifactNotFoundError,
    IndexedArtifact,
    ReindexReport,
)
from nerp_infra.artifacts.manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA_VERSION,
    ArtifactStatus,
    Manifest,
    ManifestError,
    new_artifact_id,
    read_manifest,
    write_manifest,
)
from nerp_infra.artifacts.runs import (
    RUN_MODES,
    ArtifactAction,
    ArtifactDecision,
    ArtifactHandle,
    ArtifactStateError,
    RunMode,
    begin_artifact,
    check_run_mode,
)

__all__ = [
    "INDEX_NAME",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "RUN_MODES",
    "ArtifactAction",
    "ArtifactDecision",
    "ArtifactHandle",
    "ArtifactIndex",
    "ArtifactIndexError",
    "ArtifactNotFoundError",
    "ArtifactStateError",
    "ArtifactStatus",
    "IndexedArtifact",
    "Manifest",
    "ManifestError",
    "ReindexReport",
    "RunMode",
    "begin_artifact",
    "check_run_mode",
    "new_artifact_id",
    "read_manifest",
    "write_manifest",
]

"""``nerp.json``: the manifest every artifact directory carries.

The manifest is the contract between stages: a later stage (or another machine that
only has the folder) learns from it what the artifact is, what it came from and
whether it finished. It is written atomically so a crash mid-write leaves the previous
manifest, never half a file.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nerp_infra.files import atomic_write

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "ArtifactStatus",
    "Manifest",
    "ManifestError",
    "new_artifact_id",
    "read_manifest",
    "utc_now",
    "write_manifest",
]

MANIFEST_NAME = "nerp.json"
MANIFEST_SCHEMA_VERSION = 1

ArtifactStatus = Literal["incomplete", "complete", "failed"]

_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ManifestError(ValueError):
    """A manifest file is missing, unreadable or does not match the schema."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_artifact_id(kind: str) -> str:
    """A unique, readable id: ``<kind>-<16 hex digits>`` (64 random bits)."""
    return f"{kind}-{uuid.uuid4().hex[:16]}"


class Manifest(BaseModel):
    """What one artifact is, where it came from, and whether it finished."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: str = Field(description="dataset, study, selection, model, onnx, benchmark, …")
    schema_version: int = MANIFEST_SCHEMA_VERSION
    id: str
    stage: str
    backbone: str
    key: str
    variant: int = Field(ge=1)
    fingerprints: dict[str, str] = Field(default_factory=dict)
    lineage: list[str] = Field(default_factory=list, description="ids of input artifacts")
    config: dict[str, Any] = Field(default_factory=dict, description="resolved config")
    metrics: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    status: ArtifactStatus = "incomplete"
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    extra: dict[str, Any] = Field(
        default_factory=dict, description="mlflow_run_id, azure_job_id, failure_reason, …"
    )

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, value: str) -> str:
        if not _KIND.match(value):
            raise ValueError("must be lower case letters, digits, '_' or '-', starting a-z")
        return value

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be letters, digits, '.', '_' or '-'")
        return value

    @field_validator("schema_version")
    @classmethod
    def _check_schema(cls, value: int) -> int:
        if value > MANIFEST_SCHEMA_VERSION:
            raise ValueError(
                f"schema version {value} is newer than this nerp-infra understands "
                f"({MANIFEST_SCHEMA_VERSION}); upgrade nerp-infra"
            )
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("created_at", "updated_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def touched(self, **changes: Any) -> Manifest:
        """A validated copy with ``changes`` applied and ``updated_at`` set to now."""
        data = self.model_dump()
        data.update(changes)
        data["updated_at"] = utc_now()
        return Manifest.model_validate(data)


def _manifest_path(path: Path) -> Path:
    path = Path(path)
    return path if path.name == MANIFEST_NAME else path / MANIFEST_NAME


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``<directory>/nerp.json`` atomically (temp file, fsync, rename, fsync dir), 0644."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ManifestError(f"cannot write {directory / MANIFEST_NAME}: folder does not exist")
    return atomic_write(directory / MANIFEST_NAME, manifest.model_dump_json(indent=2) + "\n")


def read_manifest(path: Path) -> Manifest:
    """Read the manifest of an artifact directory (or a ``nerp.json`` path).

    Errors name the file and the reason (missing, not JSON with line and column, or
    each schema violation with its field).
    """
    file = _manifest_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{file}: no manifest (is this an artifact directory?)") from None
    except OSError as exc:
        raise ManifestError(f"{file}: cannot read manifest: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{file}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{file}: expected a JSON object, got {type(data).__name__}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ManifestError(f"{file}: invalid manifest: {problems}") from exc

"""Find and check the Hugging Face checkpoint to convert.

Users pass either the model artifact directory (``nerp.json`` + ``model/``) or its
``model/`` folder; both resolve to the same checkpoint and the same lineage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nerp_deploy.errors import PackageError
from nerp_infra.artifacts.manifest import MANIFEST_NAME, Manifest, ManifestError, read_manifest
from nerp_infra.fingerprints import file_sha256
from nerp_infra.model_files import (
    CHECKPOINT_DIR,
    INFERENCE_FILE,
    TOKENIZER_FILE,
    InferenceSettings,
    read_inference_settings,
)

__all__ = ["ModelCheckpoint", "resolve_checkpoint"]

_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class ModelCheckpoint:
    """A checkpoint ready to convert, with the artifact it belongs to (if any)."""

    model_dir: Path
    settings: InferenceSettings
    manifest: Manifest | None
    artifact_id: str
    """The model artifact's id, or ``unregistered-<weights sha256 prefix>`` without one."""

    @property
    def lineage(self) -> list[str]:
        return [self.manifest.id] if self.manifest is not None else []


def resolve_checkpoint(path: str | Path) -> ModelCheckpoint:
    """Check ``path`` holds a convertible checkpoint; errors name the missing file and why."""
    path = Path(path)
    if not path.is_dir():
        raise PackageError(f"{path}: checkpoint directory does not exist")
    model_dir = path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).is_dir() else path
    artifact_dir = path if model_dir != path else path.parent
    for name in ("config.json", TOKENIZER_FILE, INFERENCE_FILE):
        if not (model_dir / name).is_file():
            raise PackageError(
                f"{model_dir / name}: missing; pass a model artifact (with {CHECKPOINT_DIR}/) or "
                "its Hugging Face checkpoint folder, as written by `nerp train`"
            )
    weights = next((model_dir / w for w in _WEIGHTS if (model_dir / w).is_file()), None)
    if weights is None:
        raise PackageError(f"{model_dir}: no weights ({' or '.join(_WEIGHTS)})")
    try:
        settings = read_inference_settings(model_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise PackageError(str(exc)) from exc
    _check_labels(model_dir, settings)
    manifest = None
    if (artifact_dir / MANIFEST_NAME).is_file():
        try:
            manifest = read_manifest(artifact_dir)
        except ManifestError as exc:
            raise PackageError(str(exc)) from exc
        if manifest.status != "complete":
            raise PackageError(
                f"{artifact_dir / MANIFEST_NAME}: model artifact status is {manifest.status!r}; "
                "only complete models can be converted"
            )
    artifact_id = manifest.id if manifest else f"unregistered-{file_sha256(weights)[:16]}"
    return ModelCheckpoint(model_dir, settings, manifest, artifact_id)


def _check_labels(model_dir: Path, settings: InferenceSettings) -> None:
    """The head's id2label must agree with inference.json, or decoding would mislabel."""
    config_path = model_dir / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PackageError(f"{config_path}: unreadable model config: {exc}") from exc
    id2label = config.get("id2label")
    if not isinstance(id2label, dict):
        raise PackageError(f"{config_path}: field 'id2label' is missing")
    labels = [id2label.get(str(i)) for i in range(len(id2label))]
    if tuple(labels) != settings.labels:
        raise PackageError(
            f"{config_path}: field 'id2label' {labels} does not match the labels in "
            f"{model_dir / INFERENCE_FILE} {list(settings.labels)}"
        )

"""Find a model checkpoint: the local artifact index first, then MLflow run artifacts.

A pipeline's champion may have been trained on another machine (an Azure ML job, a
Colab session) whose output folder is gone but whose MLflow run kept the files. Every
candidate location is validated (config, weights, tokenizer, inference settings); when
none works the error lists each place tried and why it failed, so the user knows
whether to restore a folder or re-run a stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nerp_eval.errors import AcquisitionError
from nerp_infra.artifacts import ArtifactIndex, ArtifactNotFoundError, Manifest
from nerp_infra.artifacts.kinds import STUDY_KIND
from nerp_infra.artifacts.payloads import StudyPayload, payload_of
from nerp_infra.config import TrackingConfig
from nerp_infra.model_files import CHECKPOINT_DIR, INFERENCE_FILE, TOKENIZER_FILE

__all__ = [
    "ACQUIRED_DIR",
    "WEIGHT_FILES",
    "AcquiredCheckpoint",
    "acquire_checkpoint",
    "checkpoint_problems",
    "find_checkpoint_dir",
]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ACQUIRED_DIR = ".acquired"
"""Folder under the output root where checkpoints downloaded from MLflow are kept."""
_MAX_DEPTH = 4


@dataclass(frozen=True)
class AcquiredCheckpoint:
    """A validated checkpoint folder, where it came from, and what was tried first."""

    model_dir: Path
    source: str
    attempts: tuple[tuple[str, str], ...] = ()


def checkpoint_problems(model_dir: Path) -> list[str]:
    """What a folder lacks to be a usable nerp checkpoint (empty when it is usable)."""
    if not model_dir.is_dir():
        return [f"{model_dir} does not exist"]
    problems = []
    if not (model_dir / "config.json").is_file():
        problems.append("no config.json")
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        problems.append(f"no weights ({' or '.join(WEIGHT_FILES)})")
    if not (model_dir / TOKENIZER_FILE).is_file():
        problems.append(f"no {TOKENIZER_FILE}")
    if not (model_dir / INFERENCE_FILE).is_file():
        problems.append(f"no {INFERENCE_FILE}")
    return problems


def find_checkpoint_dir(root: Path) -> Path | None:
    """The checkpoint folder at or below ``root`` (``model/`` of an artifact first)."""
    for candidate in (root / CHECKPOINT_DIR, root):
        if (candidate / "config.json").is_file():
            return candidate
    if not root.is_dir():
        return None
    found = sorted(
        (
            p.parent
            for p in root.rglob("config.json")
            if len(p.relative_to(root).parts) <= _MAX_DEPTH
        ),
        key=lambda p: (len(p.parts), str(p)),
    )
    return found[0] if found else None


def _local_candidates(manifest: Manifest, artifact_dir: Path) -> list[tuple[str, Path]]:
    study = StudyPayload.of(manifest, artifact_dir) if manifest.kind == STUDY_KIND else None
    relative = study.refit_checkpoint if study is not None else None
    places: list[tuple[str, Path]] = []
    if relative:
        places.append(
            (f"refit_checkpoint of {manifest.kind} {manifest.id}", artifact_dir / relative)
        )
    if manifest.kind != STUDY_KIND:
        places.append((f"{manifest.kind} artifact {manifest.id}", artifact_dir))
    return places


def _mlflow_run_ids(manifest: Manifest) -> list[str]:
    payload = payload_of(manifest)
    refit = payload.refit_mlflow_run_id if isinstance(payload, StudyPayload) else None
    return list(dict.fromkeys(i for i in (refit, payload.mlflow_run_id) if i))


def _from_mlflow(run_id: str, cache_root: Path) -> tuple[Path | None, str]:
    """Download a run's artifacts and find the checkpoint in them; (folder, why not)."""
    try:
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException
    except ImportError:  # pragma: no cover - mlflow is a dependency via nerp-infra[mlflow]
        return None, "mlflow is not installed"
    target = cache_root / run_id
    existing = find_checkpoint_dir(target) if target.is_dir() else None
    if existing is not None and not checkpoint_problems(existing):
        return existing, ""
    try:
        target.mkdir(parents=True, exist_ok=True)
        local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(target)))
    except (MlflowException, OSError) as exc:
        return None, f"download failed: {str(exc).splitlines()[0][:300]}"
    found = find_checkpoint_dir(local)
    if found is None:
        return None, "the run's artifacts hold no checkpoint (no config.json)"
    problems = checkpoint_problems(found)
    if problems:
        return None, f"checkpoint in the run's artifacts is incomplete: {', '.join(problems)}"
    return found, ""


def acquire_checkpoint(
    ref: str | Path,
    *,
    index: ArtifactIndex,
    output_root: Path | None = None,
    mlflow_run_ids: Sequence[str] = (),
    tracking: TrackingConfig | None = None,
) -> AcquiredCheckpoint:
    """A usable checkpoint for ``ref``: a folder, or the id of a study/model artifact.

    Order: the folder itself; the artifact's local files (a study's ``refit_checkpoint``,
    a model artifact's ``model/``); then the MLflow runs named in its manifest
    (``refit_mlflow_run_id``, ``mlflow_run_id``) and ``mlflow_run_ids``, downloaded into
    ``<output_root>/.acquired/<run id>``. ``tracking`` points MLflow at its store first
    (else the current tracking URI is used). Raises :class:`AcquisitionError` listing
    every attempt when none gives config, weights, tokenizer and inference settings.
    """
    attempts: list[tuple[str, str]] = []
    what = str(ref)
    manifest: Manifest | None = None
    places: list[tuple[str, Path]] = []
    path = Path(ref)
    if path.is_dir():
        places.append((f"folder {path}", path))
    else:
        try:
            found = index.get(str(ref))
        except ArtifactNotFoundError:
            attempts.append(
                ("artifact index", f"no folder {path} and no artifact {ref} in {index.db_path}")
            )
        else:
            manifest = (
                found.read_manifest() if (found.path / "nerp.json").is_file() else found.manifest
            )
            what = f"the checkpoint of {manifest.kind} {manifest.id}"
            if manifest.status != "complete":
                attempts.append(
                    (f"{manifest.kind} artifact {manifest.id}", f"status is {manifest.status}")
                )
            else:
                places.extend(_local_candidates(manifest, found.path))
    for where, place in places:
        folder = find_checkpoint_dir(place)
        problems = checkpoint_problems(folder if folder is not None else place)
        if folder is not None and not problems:
            return AcquiredCheckpoint(folder, f"local: {where}", tuple(attempts))
        attempts.append((f"local {where} ({place})", ", ".join(problems) or "no checkpoint"))
    run_ids = [*(_mlflow_run_ids(manifest) if manifest else []), *mlflow_run_ids]
    root = output_root if output_root is not None else index.root
    if run_ids and tracking is not None and tracking.enabled:
        from nerp_infra.tracking import setup_mlflow

        setup_mlflow(config_uri=tracking.uri, output_root=root)
    for run_id in dict.fromkeys(run_ids):
        folder, why = _from_mlflow(run_id, root / ACQUIRED_DIR)
        if folder is not None:
            return AcquiredCheckpoint(folder, f"mlflow run {run_id}", tuple(attempts))
        attempts.append((f"mlflow run {run_id}", why))
    if not run_ids:
        attempts.append(("mlflow", "no MLflow run recorded for it"))
    raise AcquisitionError(what, attempts)

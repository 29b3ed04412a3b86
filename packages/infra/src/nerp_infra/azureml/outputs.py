"""Bring a finished Azure ML job's artifacts home: download its output, record them locally.

A job writes nerp artifacts (folders with a ``nerp.json``) into a named output. After
``submit_and_wait`` returns, :func:`record_job_outputs` downloads that output and moves every
artifact the local index does not know yet into the local output root, at the layout's place
for it, with the job that made it in ``manifest.extra["azureml_job"]``. Lineage ids travel
inside the manifests (the job's inputs carried their parents' manifests), so the local index
links a remotely trained model to the local dataset and, through ``azureml_job``, to the job
in the studio. Later local stages (convert after a remote train, …) find it like any other.

The remote job's output root starts empty, so it numbers its artifacts from v1; locally each
imported artifact gets the next variant the index reserves. Nothing local is overwritten.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerp_infra.artifacts import (
    MANIFEST_NAME,
    ArtifactIndex,
    IndexedArtifact,
    Manifest,
    ManifestError,
    read_manifest,
    write_manifest,
)
from nerp_infra.artifacts.payloads import Payload
from nerp_infra.azureml.errors import AzureMLError
from nerp_infra.files import staging_dir
from nerp_infra.paths import OutputLayout

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

logger = logging.getLogger(__name__)

__all__ = [
    "AZUREML_JOB_EXTRA",
    "JobProvenance",
    "download_job_output",
    "import_artifacts",
    "record_job_outputs",
]

AZUREML_JOB_EXTRA = "azureml_job"
"""Manifest ``extra`` key of artifacts made by an Azure ML job."""
NAMED_OUTPUTS = "named-outputs"
"""Where ``jobs.download`` puts a named output under ``download_path``."""
_MAX_VARIANT_TRIES = 100


@dataclass(frozen=True)
class JobProvenance:
    """The Azure ML job an artifact came from, as recorded in its manifest."""

    job_name: str
    output: str
    studio_url: str | None = None
    experiment: str | None = None

    @classmethod
    def of(cls, job: Any, output: str) -> JobProvenance:
        """From a finished job entity (what ``submit_and_wait`` returns)."""
        name = getattr(job, "name", None)
        if not name:
            raise AzureMLError("cannot record outputs of an Azure ML job that has no name")
        return cls(
            job_name=str(name),
            output=output,
            studio_url=getattr(job, "studio_url", None),
            experiment=getattr(job, "experiment_name", None),
        )

    def as_extra(self) -> dict[str, str]:
        fields = {
            "job_name": self.job_name,
            "output": self.output,
            "studio_url": self.studio_url,
            "experiment": self.experiment,
        }
        return {key: value for key, value in fields.items() if value}


def download_job_output(
    ml_client: MLClient, job_name: str, output_name: str, download_path: Path
) -> Path:
    """Download one named output of a finished job; the folder it landed in.

    The SDK only logs (at debug level) when an output cannot be found; here that is an
    error naming the job and the output.
    """
    ml_client.jobs.download(job_name, download_path=download_path, output_name=output_name)
    folder = Path(download_path) / NAMED_OUTPUTS / output_name
    if not folder.is_dir():
        raise AzureMLError(
            f"Azure ML job {job_name!r}: output {output_name!r} was not downloaded to {folder} "
            "(the job wrote nothing there, or the output name is wrong)"
        )
    return folder


def _top_level_manifests(source: Path) -> list[Path]:
    """Artifact folders under ``source``; an artifact's own sub-folders are part of it."""
    folders = sorted(file.parent for file in source.rglob(MANIFEST_NAME))
    top: list[Path] = []
    for folder in folders:
        if not any(folder.is_relative_to(parent) for parent in top):
            top.append(folder)
    return top


def _free_dir(index: ArtifactIndex, layout: OutputLayout, manifest: Manifest) -> tuple[int, Path]:
    """A variant reserved in the index (so no concurrent stage takes it) whose folder is free."""
    for _ in range(_MAX_VARIANT_TRIES):
        variant = index.allocate_variant(manifest.stage, manifest.backbone, manifest.key)
        target = layout.artifact_dir(manifest.stage, manifest.backbone, manifest.key, variant)
        if not target.exists():
            return variant, target
    raise AzureMLError(
        f"no free variant folder for {manifest.stage}/{manifest.backbone}/{manifest.key} "
        f"under {layout.root}"
    )


def _new_complete_manifests(
    source: Path, index: ArtifactIndex, provenance: JobProvenance
) -> list[tuple[Path, Manifest]]:
    """Every artifact to import, all checked before any is moved: a job's output is
    recorded whole or not at all."""
    found: list[tuple[Path, Manifest]] = []
    for folder in _top_level_manifests(source):
        try:
            manifest = read_manifest(folder)
        except ManifestError as exc:
            raise AzureMLError(f"Azure ML job {provenance.job_name!r}: {exc}") from exc
        if manifest.id in index:
            continue
        if manifest.status != "complete":
            raise AzureMLError(
                f"Azure ML job {provenance.job_name!r}: artifact {manifest.id} in output "
                f"{provenance.output!r} is {manifest.status}, not complete "
                f"({Payload.of(manifest).failure_reason or 'no failure reason recorded'})"
            )
        found.append((folder, manifest))
    return found


def _move_into_place(folder: Path, target: Path, manifest: Manifest) -> None:
    """Copy next to ``target``, then rename: a crash leaves a hidden staging folder (which
    reindexing skips), never a half-copied artifact."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target.parent, f".{target.name}.")
    try:
        shutil.copytree(folder, staging, dirs_exist_ok=True)
        write_manifest(staging, manifest)
        if target.exists():  # created since _free_dir looked: never replace it
            raise AzureMLError(f"{target} appeared while recording {manifest.id}; run again")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def import_artifacts(
    source: Path,
    index: ArtifactIndex,
    layout: OutputLayout,
    provenance: JobProvenance,
    *,
    extra: Mapping[str, Any] | None = None,
    lineage: Sequence[str] = (),
) -> list[IndexedArtifact]:
    """Move the artifacts under ``source`` that ``index`` lacks into ``layout`` and register them.

    Artifacts already known (the job's copies of its inputs) are left out. An artifact the
    job left incomplete is refused: recording it would let a later stage use half a result.
    ``extra`` is merged into each imported manifest's ``extra``; ``lineage`` adds parents
    the job could not know (the selection a job's settings were resolved from, locally).
    """
    imported: list[IndexedArtifact] = []
    for folder, manifest in _new_complete_manifests(Path(source), index, provenance):
        variant, target = _free_dir(index, layout, manifest)
        parents = [*manifest.lineage, *(p for p in lineage if p not in manifest.lineage)]
        recorded = manifest.touched(
            variant=variant,
            lineage=parents,
            extra={**manifest.extra, **(extra or {}), AZUREML_JOB_EXTRA: provenance.as_extra()},
        )
        _move_into_place(folder, target, recorded)
        try:
            index.register(recorded, target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # not indexed: nothing may point at it
            raise
        logger.info(
            "recorded %s from Azure ML job %s at %s", manifest.id, provenance.job_name, target
        )
        imported.append(index.get(recorded.id))
    return imported


def record_job_outputs(
    ml_client: MLClient,
    job: Any,
    output_name: str,
    index: ArtifactIndex,
    layout: OutputLayout,
    *,
    extra: Mapping[str, Any] | None = None,
    lineage: Sequence[str] = (),
    require_new: bool = True,
) -> list[IndexedArtifact]:
    """Download ``output_name`` of the finished ``job`` and import its new artifacts.

    With ``require_new`` (the default), an output holding no new artifact raises
    :class:`AzureMLError`: a job that completed without producing what it was for is a
    failure the caller must see.
    """
    provenance = JobProvenance.of(job, output_name)
    with tempfile.TemporaryDirectory(prefix="nerp-azureml-download-") as tmp:
        folder = download_job_output(ml_client, provenance.job_name, output_name, Path(tmp))
        imported = import_artifacts(folder, index, layout, provenance, extra=extra, lineage=lineage)
    if require_new and not imported:
        raise AzureMLError(
            f"Azure ML job {provenance.job_name!r} completed but its output {output_name!r} "
            "holds no new nerp artifact (no nerp.json the local index lacks)"
        )
    return imported

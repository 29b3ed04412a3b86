"""Run modes: decide whether a stage reuses, resumes or starts an artifact.

Every stage calls :func:`begin_artifact` before doing work. The decision comes from the
fingerprints, so rerunning a pipeline skips finished work, a crashed stage picks up
its own incomplete folder (checkpoints and all), and ``force_new`` always gets a fresh
variant. A new artifact is on disk and in the index as ``incomplete`` before the stage
starts, so a crash at any later point leaves something :func:`begin_artifact` can find.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import psutil

from nerp_infra.artifacts.index import ArtifactIndex, IndexedArtifact
from nerp_infra.artifacts.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    new_artifact_id,
    read_manifest,
    write_manifest,
)
from nerp_infra.artifacts.payloads import Payload
from nerp_infra.fingerprints import runtime_versions
from nerp_infra.paths import OutputLayout, fingerprint_key

__all__ = [
    "RUN_MODES",
    "ArtifactAction",
    "ArtifactDecision",
    "ArtifactHandle",
    "ArtifactStateError",
    "RunMode",
    "begin_artifact",
    "check_run_mode",
    "owner_is_stale",
    "owner_token",
    "pid_is_alive",
]

RunMode = Literal["reuse_if_exists", "force_new", "resume_if_incomplete"]
"""What a stage does when its fingerprints match an existing artifact (the one definition;
``nerp_infra.config.RunMode`` is this type)."""
RUN_MODES: tuple[RunMode, ...] = get_args(RunMode)
ArtifactAction = Literal["reuse", "resume", "new"]

_MAX_ALLOCATION_TRIES = 100


class ArtifactStateError(RuntimeError):
    """An artifact was asked to change in a way its status forbids (e.g. complete twice)."""


def check_run_mode(value: str) -> RunMode:
    """``value`` as a :data:`RunMode`; ValueError naming the modes otherwise."""
    for mode in RUN_MODES:
        if value == mode:
            return mode
    raise ValueError(f"run_mode {value!r} is not one of {', '.join(RUN_MODES)}")


# -- process liveness -------------------------------------------------------------------


def pid_is_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else


def owner_token() -> str:
    """Who is working on an artifact: ``<host>:<pid>`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_stale(owner: str, *, foreign_is_stale: bool = False) -> bool:
    """Whether the process behind an owner token is gone.

    On this host the process is probed. A process on another host cannot be probed, so
    it counts as live unless ``foreign_is_stale`` (hosted notebooks get a new host name
    per session, so there the old owner is always gone).
    """
    host, _, pid_text = owner.rpartition(":")
    if not host or not pid_text.isdigit():
        return True  # not a token we wrote: nobody can be working under it
    if host != socket.gethostname():
        return foreign_is_stale
    return not pid_is_alive(int(pid_text))


# -- handle and decision ---------------------------------------------------------------


@dataclass
class ArtifactHandle:
    """An artifact directory being written (or reused), kept in sync on disk and in the index.

    Without an index (``index=None``: a package written into a folder the caller chose,
    outside any output root) only the manifest file is kept.
    """

    dir: Path
    manifest: Manifest
    index: ArtifactIndex | None = None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def status(self) -> str:
        return self.manifest.status

    def path(self, *parts: str) -> Path:
        """A path inside the artifact directory."""
        return self.dir.joinpath(*parts)

    def _save(self, manifest: Manifest) -> Manifest:
        write_manifest(self.dir, manifest)
        if self.index is not None:
            self.index.update(manifest)
        self.manifest = manifest
        return manifest

    def _require_incomplete(self, action: str) -> None:
        if self.manifest.status != "incomplete":
            raise ArtifactStateError(
                f"cannot {action} artifact {self.id} at {self.dir}: it is already "
                f"{self.manifest.status}"
            )

    def update_metrics(self, metrics: Mapping[str, Any]) -> Manifest:
        """Merge metrics into the manifest now (e.g. per epoch), without finishing."""
        return self._save(self.manifest.touched(metrics={**self.manifest.metrics, **metrics}))

    def update_extra(self, extra: Mapping[str, Any]) -> Manifest:
        """Merge bookkeeping (``mlflow_run_id``, ``azure_job_id``, …) into the manifest."""
        return self._save(self.manifest.touched(extra={**self.manifest.extra, **extra}))

    def complete(
        self,
        *,
        metrics: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Mark the artifact complete (the last thing a stage does after writing outputs)."""
        self._require_incomplete("complete")
        return self._save(
            self.manifest.touched(
                status="complete",
                metrics={**self.manifest.metrics, **(metrics or {})},
                extra={**self.manifest.extra, **(extra or {})},
            )
        )

    @contextmanager
    def failing_on_error(self) -> Iterator[ArtifactHandle]:
        """Mark the artifact failed, with the error, when the block raises before it was
        completed (status read back from disk, where a step inside may have finished it)."""
        try:
            yield self
        except BaseException as exc:
            if read_manifest(self.dir).status == "incomplete":
                self.fail(f"{type(exc).__name__}: {exc}")
            raise

    def fail(self, reason: str) -> Manifest:
        """Mark the artifact failed with a reason; run modes never resume failed artifacts."""
        self._require_incomplete("fail")
        return self._save(
            self.manifest.touched(
                status="failed", extra={**self.manifest.extra, "failure_reason": reason}
            )
        )


@dataclass(frozen=True)
class ArtifactDecision:
    """What :func:`begin_artifact` decided, and the artifact to work with."""

    action: ArtifactAction
    handle: ArtifactHandle
    reason: str

    @property
    def should_run(self) -> bool:
        """False when a complete artifact is reused and the stage has nothing to do."""
        return self.action != "reuse"


def _same(found: list[IndexedArtifact], fingerprints: Mapping[str, str]) -> list[IndexedArtifact]:
    wanted = dict(fingerprints)
    return [a for a in found if a.manifest.fingerprints == wanted]


def _new(
    index: ArtifactIndex,
    layout: OutputLayout,
    *,
    kind: str,
    stage: str,
    backbone: str,
    key: str,
    fingerprints: Mapping[str, str],
    lineage: Sequence[str],
    config: Mapping[str, Any],
    versions: Mapping[str, str],
) -> ArtifactHandle:
    for _ in range(_MAX_ALLOCATION_TRIES):
        variant = index.allocate_variant(stage, backbone, key)
        directory = layout.artifact_dir(stage, backbone, key, variant)
        try:
            directory.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue  # left by a lost index or another root's copy: never overwrite it
        break
    else:
        raise RuntimeError(
            f"could not find a free variant folder for {stage}/{backbone}/{key} under "
            f"{layout.root} after {_MAX_ALLOCATION_TRIES} tries"
        )
    manifest = Manifest(
        kind=kind,
        id=new_artifact_id(kind),
        stage=stage,
        backbone=backbone,
        key=key,
        variant=variant,
        fingerprints=dict(fingerprints),
        lineage=list(lineage),
        config=dict(config),
        versions=dict(versions),
        status="incomplete",
    )
    write_manifest(directory, manifest)
    index.register(manifest, directory, owner=owner_token())
    return ArtifactHandle(dir=directory, manifest=manifest, index=index)


def begin_artifact(
    index: ArtifactIndex,
    layout: OutputLayout,
    *,
    kind: str,
    stage: str,
    backbone: str,
    key: str | None = None,
    fingerprints: Mapping[str, str],
    lineage: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    run_mode: RunMode,
    versions: Mapping[str, str] | None = None,
    foreign_owner_is_stale: bool = False,
) -> ArtifactDecision:
    """Decide how a stage gets its artifact, from the run mode and the fingerprints.

    - ``reuse_if_exists``: reuse the newest complete artifact with the same kind, stage,
      backbone and exactly these fingerprints; else start a new one.
    - ``resume_if_incomplete``: reuse a complete one as above; else resume the newest
      incomplete one whose owning process is gone (claimed atomically, so two processes
      never resume the same folder); else start a new one.
    - ``force_new``: always start a new one.

    A new artifact gets the next variant folder (``key`` defaults to one derived from
    the fingerprints), a manifest with status ``incomplete`` and an index row owned by
    this process. ``foreign_owner_is_stale`` lets resume take over artifacts owned by
    processes on other hosts (use it on hosted notebooks, whose host name changes per
    session).
    """
    check_run_mode(run_mode)
    if not fingerprints:
        raise ValueError("fingerprints needs at least one entry: run modes decide by them")
    chosen_key = key if key is not None else fingerprint_key(fingerprints)

    def matching(status: Literal["complete", "incomplete"]) -> list[IndexedArtifact]:
        found = index.find(
            kind=kind, stage=stage, backbone=backbone, status=status, fingerprints=fingerprints
        )
        return _same(found, fingerprints)

    if run_mode in ("reuse_if_exists", "resume_if_incomplete"):
        # a complete row whose folder was deleted cannot be reused
        complete = [a for a in matching("complete") if (a.path / MANIFEST_NAME).is_file()]
        if complete:
            found = complete[-1]
            return ArtifactDecision(
                action="reuse",
                handle=ArtifactHandle(dir=found.path, manifest=found.manifest, index=index),
                reason=f"complete artifact {found.id} has the same fingerprints",
            )

    if run_mode == "resume_if_incomplete":
        me = owner_token()
        for found in reversed(matching("incomplete")):
            if not index.claim(
                found.id,
                me,
                is_stale=lambda owner: owner_is_stale(
                    owner, foreign_is_stale=foreign_owner_is_stale
                ),
            ):
                continue
            try:
                on_disk = read_manifest(found.path)
            except ManifestError:
                on_disk = found.manifest  # folder damaged: the index copy still says what it is
                found.path.mkdir(parents=True, exist_ok=True)
            handle = ArtifactHandle(dir=found.path, manifest=on_disk, index=index)
            resumes = (Payload.of(on_disk, found.path).resume_count or 0) + 1
            handle.update_extra(Payload(resume_count=resumes).as_extra())
            return ArtifactDecision(
                action="resume",
                handle=handle,
                reason=f"incomplete artifact {found.id} has the same fingerprints",
            )

    handle = _new(
        index,
        layout,
        kind=kind,
        stage=stage,
        backbone=backbone,
        key=chosen_key,
        fingerprints=fingerprints,
        lineage=lineage,
        config=config or {},
        versions=runtime_versions() if versions is None else versions,
    )
    reasons = {
        "force_new": "run mode force_new",
        "reuse_if_exists": "no complete artifact with the same fingerprints",
        "resume_if_incomplete": "no complete or resumable artifact with the same fingerprints",
    }
    return ArtifactDecision(action="new", handle=handle, reason=reasons[run_mode])

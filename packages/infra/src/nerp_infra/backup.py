"""Mirror chosen artifacts to persistent storage and restore them in a new notebook session.

Colab and Kaggle sessions lose their disk; the study database, the best checkpoint and the ONNX
package should not. A :class:`BackupStore` copies files under the local output root to a backup
root (Google Drive, Kaggle's working dir, any folder) and back, skipping files that are already
current. What is current is decided by size and sha256, recorded in a manifest
``<backup_root>/nerp-backup.json`` that is written atomically.

SQLite files (Optuna study, artifact index, MLflow) are usually open and in WAL mode, where the
main file alone misses committed data; they are copied through SQLite's backup API, which
gives a consistent snapshot while other connections keep writing.

A pull that restores artifact folders (their ``nerp.json``) registers them in the artifact
index of the local root (:meth:`~nerp_infra.artifacts.ArtifactIndex.reindex`): the index of a
new session does not know them otherwise, so stages would neither reuse nor resume them. The
index itself is not backed up; it is rebuilt from the manifests, which are the truth.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, ValidationError

from nerp_infra.artifacts import MANIFEST_NAME as ARTIFACT_MANIFEST_NAME
from nerp_infra.artifacts import ArtifactIndex
from nerp_infra.files import atomic_file, atomic_write
from nerp_infra.platform import PlatformName, detect_platform

logger = logging.getLogger(__name__)

MANIFEST_NAME = "nerp-backup.json"
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
# Header bytes that change with history or library version, not content: file change
# counter (24-27), version-valid-for and SQLite version number (92-99).
_SQLITE_VOLATILE = ((24, 28), (92, 100))
_CHUNK = 1 << 20

DEFAULT_BACKUP_ROOTS: dict[str, Path] = {
    "colab": Path("/content/drive/MyDrive/nerp-backup"),
    "kaggle": Path("/kaggle/working/nerp-backup"),
}


class BackupError(RuntimeError):
    """A backup or restore cannot proceed; the message names the file and the reason."""


def default_backup_root(platform: PlatformName | None = None) -> Path | None:
    """Persistent storage of the notebook platform, or None where the disk already persists."""
    name = platform if platform is not None else detect_platform()
    return DEFAULT_BACKUP_ROOTS.get(name)


class FileRecord(BaseModel):
    """One backed-up file as it was when pushed."""

    model_config = ConfigDict(extra="forbid")

    size: int
    sha256: str
    mtime_ns: int
    sqlite: bool = False
    pushed_at: str


class BackupManifest(BaseModel):
    """What the backup root holds: tracked roots (re-pushed by a bare push) and files."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    tracked: list[str] = []
    files: dict[str, FileRecord] = {}


class FileState(StrEnum):
    CURRENT = "current"
    NOT_BACKED_UP = "not backed up"
    LOCAL_MISSING = "missing locally"
    LOCAL_CHANGED = "changed locally"
    BACKUP_NEWER = "backup newer"
    BACKUP_MISSING = "backup file missing"


@dataclass(frozen=True)
class FileStatus:
    path: str
    state: FileState
    local_size: int | None
    backup_size: int | None


@dataclass
class BackupReport:
    """What a push or pull did, per path relative to the local root."""

    action: Literal["push", "pull"]
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    registered: list[str] = field(default_factory=list)
    """Pull: ids of restored artifacts the local index did not know and now does."""
    refreshed: list[str] = field(default_factory=list)
    """Pull: ids whose index row was older than the restored manifest."""
    index_errors: list[str] = field(default_factory=list)
    """Pull: manifests that could not be registered, each with its file and reason."""


@dataclass(frozen=True)
class _Digest:
    size: int
    sha256: str
    sqlite: bool


def is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _is_sidecar(path: Path) -> bool:
    for suffix in SQLITE_SIDECARS:
        if path.name.endswith(suffix):
            return is_sqlite_file(path.with_name(path.name[: -len(suffix)]))
    return False


def _file_digest(path: Path, *, sqlite: bool = False) -> _Digest:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        first = True
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            if first and sqlite:
                masked = bytearray(chunk)
                for start, end in _SQLITE_VOLATILE:
                    masked[start:end] = bytes(end - start)
                chunk = bytes(masked)
            first = False
            digest.update(chunk)
    return _Digest(size=size, sha256=digest.hexdigest(), sqlite=sqlite)


def _sqlite_snapshot(source: Path, dest: Path) -> None:
    """Consistent copy of a live database (WAL content included) in rollback-journal mode,
    so the copy is one self-contained file that network drives can hold."""
    with (
        contextlib.closing(sqlite3.connect(str(source), timeout=30)) as src,
        contextlib.closing(sqlite3.connect(str(dest))) as out,
    ):
        src.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")


def _sqlite_restore(snapshot: Path, dest: Path) -> None:
    """Write a snapshot into ``dest`` through SQLite, so open connections and a stale WAL
    of ``dest`` see the restored content instead of corrupting it."""
    with (
        contextlib.closing(sqlite3.connect(str(snapshot))) as src,
        contextlib.closing(sqlite3.connect(str(dest), timeout=30)) as out,
    ):
        src.backup(out)


def _copy_atomic(source: Path, dest: Path) -> None:
    """Copy via a temporary sibling and rename, so readers never see a half-written file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(dest, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)


def _local_mtime_ns(path: Path) -> int:
    """Last change of a file; for SQLite also its WAL, where recent commits live."""
    latest = path.stat().st_mtime_ns
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        latest = max(latest, wal.stat().st_mtime_ns)
    return latest


class BackupStore:
    """Mirror of files under ``local_root`` kept in ``backup_root`` (same relative paths)."""

    def __init__(self, backup_root: Path, local_root: Path) -> None:
        self.backup_root = Path(os.path.abspath(backup_root))
        self.local_root = Path(os.path.abspath(local_root))
        if self.backup_root == self.local_root:
            raise BackupError(f"backup root and local root are the same folder: {self.local_root}")
        key = hashlib.sha256(str(self.backup_root).encode()).hexdigest()[:16]
        # The lock lives on local disk: Drive mounts do not support file locks.
        self._lock = FileLock(Path(tempfile.gettempdir()) / f"nerp-backup-{key}.lock", timeout=600)

    @property
    def manifest_path(self) -> Path:
        return self.backup_root / MANIFEST_NAME

    # -- manifest ---------------------------------------------------------------------

    def load_manifest(self) -> BackupManifest:
        path = self.manifest_path
        if not path.is_file():
            return BackupManifest()
        try:
            return BackupManifest.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise BackupError(f"backup manifest {path} is invalid: {exc}") from exc

    def _save_manifest(self, manifest: BackupManifest) -> None:
        self.backup_root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.manifest_path, manifest.model_dump_json(indent=2))

    # -- paths ------------------------------------------------------------------------

    def relative(self, path: Path | str) -> str:
        """``path`` (relative to the local root, or absolute inside it) as a manifest key."""
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.local_root / candidate
        normal = Path(os.path.normpath(candidate))
        try:
            rel = normal.relative_to(self.local_root)
        except ValueError as exc:
            raise BackupError(
                f"path {path} is outside the local root {self.local_root}; only files under "
                "it can be backed up"
            ) from exc
        return rel.as_posix() if rel.parts else "."

    def _expand(self, roots: Iterable[str], report: BackupReport) -> list[str]:
        """Files under each root (a file or a folder), without SQLite sidecars."""
        found: dict[str, None] = {}
        for root in roots:
            local = self.local_root / root
            if local.is_file():
                found.setdefault(root, None)
            elif local.is_dir():
                for item in sorted(local.rglob("*")):
                    if item.is_relative_to(self.backup_root):
                        continue  # a backup root inside the local root is not backed up
                    if item.is_file() and not _is_sidecar(item) and not item.is_symlink():
                        found.setdefault(item.relative_to(self.local_root).as_posix(), None)
            else:
                report.missing.append(root)
        return list(found)

    @staticmethod
    def _matches(rel: str, roots: list[str]) -> bool:
        return any(r == "." or rel == r or rel.startswith(r + "/") for r in roots)

    @contextlib.contextmanager
    def _snapshot(self, local: Path) -> Iterator[tuple[Path, _Digest]]:
        """The bytes to back up (a SQLite snapshot or the file itself) and their digest."""
        if not is_sqlite_file(local):
            yield local, _file_digest(local)
            return
        with tempfile.TemporaryDirectory(prefix="nerp-backup-") as tmp:
            snap = Path(tmp) / local.name
            _sqlite_snapshot(local, snap)
            yield snap, _file_digest(snap, sqlite=True)

    # -- operations -------------------------------------------------------------------

    def push(self, paths: Iterable[Path | str] | None = None) -> BackupReport:
        """Copy new or changed files under ``paths`` (default: every tracked root) to the backup.

        Named paths become tracked roots, so a later bare push also picks up new files in a
        tracked folder. Files deleted locally stay in the backup.
        """
        report = BackupReport(action="push")
        with self._lock:
            manifest = self.load_manifest()
            before = manifest.model_copy(deep=True)
            if paths is None:
                roots = list(manifest.tracked)
            else:
                roots = list(dict.fromkeys(self.relative(p) for p in paths))
                manifest.tracked += [r for r in roots if r not in manifest.tracked]
            try:
                for rel in self._expand(roots, report):
                    self._push_one(rel, manifest, report)
            finally:
                if manifest != before:  # an unchanged backup is not rewritten (Drive sync)
                    self._save_manifest(manifest)
        return report

    def _push_one(self, rel: str, manifest: BackupManifest, report: BackupReport) -> None:
        local = self.local_root / rel
        dest = self.backup_root / rel
        record = manifest.files.get(rel)
        mtime_ns = _local_mtime_ns(local)
        with self._snapshot(local) as (source, digest):
            if (
                record is not None
                and record.sha256 == digest.sha256
                and record.size == digest.size
                and dest.is_file()
                and dest.stat().st_size == record.size
            ):
                report.skipped.append(rel)
                return
            _copy_atomic(source, dest)
        manifest.files[rel] = FileRecord(
            size=digest.size,
            sha256=digest.sha256,
            mtime_ns=mtime_ns,
            sqlite=digest.sqlite,
            pushed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        report.copied.append(rel)
        report.bytes_copied += digest.size
        logger.info("backed up %s (%d bytes)", rel, digest.size)

    def pull(
        self,
        paths: Iterable[Path | str] | None = None,
        *,
        force: bool = False,
        reindex: bool = True,
    ) -> BackupReport:
        """Restore backed-up files that are missing or older locally; skip current ones.

        A local file changed after its backup is kept (listed in ``kept``) unless ``force``.
        When the pulled files include artifact manifests (restored now or already current),
        the local artifact index registers every manifest under the local root it lacks
        (``registered``, ``refreshed``, ``index_errors``), unless ``reindex`` is False.
        Registered artifacts have no owner, so an incomplete one, whose process was in an
        earlier session, can be resumed.
        """
        report = BackupReport(action="pull")
        with self._lock:
            manifest = self.load_manifest()
        if paths is None:
            selected = sorted(manifest.files)
        else:
            roots = list(dict.fromkeys(self.relative(p) for p in paths))
            selected = sorted(rel for rel in manifest.files if self._matches(rel, roots))
            report.missing += [r for r in roots if not any(self._matches(s, [r]) for s in selected)]
        for rel in selected:
            self._pull_one(rel, manifest.files[rel], report, force=force)
        if reindex and any(Path(rel).name == ARTIFACT_MANIFEST_NAME for rel in selected):
            self._register_artifacts(report)
        return report

    def _register_artifacts(self, report: BackupReport) -> None:
        if self.backup_root.is_relative_to(self.local_root):
            report.index_errors.append(
                f"restored artifacts were not registered in the index of {self.local_root}: "
                f"the backup root {self.backup_root} lies inside it, and a reindex would "
                "register the backup's copies as well; move the backup root out of the "
                "output root"
            )
            return
        with ArtifactIndex(self.local_root) as index:
            found = index.reindex()
        report.registered += found.added
        report.refreshed += found.updated
        report.index_errors += found.errors
        if found.added or found.updated:
            logger.info(
                "artifact index: %d registered, %d refreshed",
                len(found.added),
                len(found.updated),
            )

    def _pull_one(self, rel: str, record: FileRecord, report: BackupReport, *, force: bool) -> None:
        source = self.backup_root / rel
        local = self.local_root / rel
        if not source.is_file():
            report.missing.append(rel)
            return
        if local.exists():
            with self._snapshot(local) as (_, digest):
                if digest.sha256 == record.sha256:
                    report.skipped.append(rel)
                    return
            if not force and _local_mtime_ns(local) > record.mtime_ns:
                report.kept.append(rel)
                return
        local.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="nerp-restore-", dir=local.parent) as tmp:
            staged = Path(tmp) / local.name
            shutil.copyfile(source, staged)
            found = _file_digest(staged, sqlite=record.sqlite)
            if found.sha256 != record.sha256:
                raise BackupError(
                    f"backup file {source} does not match its manifest entry (sha256 "
                    f"{found.sha256[:12]}… instead of {record.sha256[:12]}…); it was changed "
                    "or only partly synced"
                )
            if record.sqlite and local.exists():
                _sqlite_restore(staged, local)
            else:
                if record.sqlite:
                    for suffix in SQLITE_SIDECARS:  # stale WAL of a deleted database
                        local.with_name(local.name + suffix).unlink(missing_ok=True)
                os.replace(staged, local)
        os.utime(local, ns=(record.mtime_ns, record.mtime_ns))
        report.copied.append(rel)
        report.bytes_copied += record.size
        logger.info("restored %s (%d bytes)", rel, record.size)

    def status(self, paths: Iterable[Path | str] | None = None) -> list[FileStatus]:
        """Each backed-up or tracked file and how local and backup copies compare."""
        manifest = self.load_manifest()
        roots = (
            list(manifest.tracked)
            if paths is None
            else list(dict.fromkeys(self.relative(p) for p in paths))
        )
        scratch = BackupReport(action="push")
        names = set(self._expand(roots, scratch))
        names |= {rel for rel in manifest.files if paths is None or self._matches(rel, roots)}
        return [self._status_one(rel, manifest.files.get(rel)) for rel in sorted(names)]

    def _status_one(self, rel: str, record: FileRecord | None) -> FileStatus:
        local = self.local_root / rel
        backup = self.backup_root / rel
        backup_size = backup.stat().st_size if backup.is_file() else None
        if not local.is_file():
            state = FileState.LOCAL_MISSING if backup_size is not None else FileState.BACKUP_MISSING
            return FileStatus(rel, state, None, backup_size)
        local_size = local.stat().st_size
        if record is None:
            return FileStatus(rel, FileState.NOT_BACKED_UP, local_size, backup_size)
        if backup_size is None:
            return FileStatus(rel, FileState.BACKUP_MISSING, local_size, None)
        with self._snapshot(local) as (_, digest):
            same = digest.sha256 == record.sha256
        if same:
            state = FileState.CURRENT
        elif _local_mtime_ns(local) > record.mtime_ns:
            state = FileState.LOCAL_CHANGED
        else:
            state = FileState.BACKUP_NEWER
        return FileStatus(rel, state, local_size, backup_size)

    def backup_after(
        self, paths: Iterable[Path | str], *, strict: bool = False
    ) -> Callable[..., BackupReport | None]:
        """A callback that pushes ``paths``; HPO calls it after each trial.

        It accepts and ignores any arguments, so it can be passed straight to
        ``study.optimize(callbacks=[...])``. A failed backup is logged and does not stop the
        study unless ``strict``.
        """
        chosen = [Path(p) for p in paths]

        def _backup(*_args: Any, **_kwargs: Any) -> BackupReport | None:
            try:
                return self.push(chosen)
            except Exception as exc:
                if strict:
                    raise
                logger.warning("backup to %s failed: %s", self.backup_root, exc)
                return None

        return _backup

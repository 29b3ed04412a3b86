"""The artifact index: one SQLite database (WAL) in the output root.

Stages find their inputs here (by kind, fingerprints, variant, status) instead of
guessing paths, and concurrent processes (HPO workers, DDP ranks, several pipelines on
one machine) get distinct variant numbers and run-name versions from it. Every write is
one short ``BEGIN IMMEDIATE`` transaction on a fresh connection, so the index stays
correct with many processes and never holds a lock across a stage's work. The manifests
on disk stay the source of truth; :meth:`ArtifactIndex.reindex` rebuilds rows from them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from nerp_infra.artifacts.manifest import (
    MANIFEST_NAME,
    ArtifactStatus,
    Manifest,
    ManifestError,
    read_manifest,
)
from nerp_infra.paths import check_component

__all__ = [
    "INDEX_NAME",
    "INDEX_SCHEMA_VERSION",
    "ArtifactIndex",
    "ArtifactIndexError",
    "ArtifactNotFoundError",
    "IndexedArtifact",
    "ReindexReport",
]

INDEX_NAME = "nerp-index.sqlite"

_INHERITED: list[sqlite3.Connection] = []
INDEX_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    backbone TEXT NOT NULL,
    key TEXT NOT NULL,
    variant INTEGER NOT NULL,
    status TEXT NOT NULL,
    path TEXT NOT NULL,
    owner TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    manifest TEXT NOT NULL,
    UNIQUE (stage, backbone, key, variant)
);
CREATE INDEX IF NOT EXISTS artifacts_kind_status ON artifacts (kind, status);
CREATE TABLE IF NOT EXISTS fingerprints (
    artifact_id TEXT NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (artifact_id, name)
);
CREATE INDEX IF NOT EXISTS fingerprints_value ON fingerprints (name, value);
CREATE TABLE IF NOT EXISTS lineage (
    artifact_id TEXT NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    parent_id TEXT NOT NULL,
    PRIMARY KEY (artifact_id, position)
);
CREATE INDEX IF NOT EXISTS lineage_parent ON lineage (parent_id);
CREATE TABLE IF NOT EXISTS variants (
    stage TEXT NOT NULL,
    backbone TEXT NOT NULL,
    key TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (stage, backbone, key)
);
CREATE TABLE IF NOT EXISTS run_names (base TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    mlflow_run_id TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


class ArtifactIndexError(RuntimeError):
    """The index cannot do what was asked (duplicate id or variant, newer schema, …)."""


class ArtifactNotFoundError(ArtifactIndexError, KeyError):
    """No artifact with that id is registered in this index."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class IndexedArtifact:
    """An index row: the manifest as last registered, where it lives, and who works on it."""

    manifest: Manifest
    path: Path
    owner: str | None = None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def status(self) -> ArtifactStatus:
        return self.manifest.status

    def read_manifest(self) -> Manifest:
        """The manifest on disk now (the index copy may lag behind a hand edit)."""
        return read_manifest(self.path)


@dataclass
class ReindexReport:
    """What :meth:`ArtifactIndex.reindex` did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ArtifactIndex:
    """SQLite index of the artifacts under one output root.

    Safe to use from many processes at once. Each thread of each process gets its own
    connection, kept open (closing the last connection of a WAL database checkpoints
    it, which would cost a sync per operation); a forked child opens its own instead of
    touching the parent's. SQLite WAL needs a local filesystem: on network mounts put
    the root elsewhere.
    """

    def __init__(self, root: Path | str, *, timeout_s: float = 60.0) -> None:
        self.root = Path(root).absolute()
        self.db_path = self.root / INDEX_NAME
        self.timeout_s = timeout_s
        self._local = threading.local()
        self.root.mkdir(parents=True, exist_ok=True)
        self._initialise()

    def __repr__(self) -> str:
        return f"ArtifactIndex({str(self.root)!r})"

    def __enter__(self) -> ArtifactIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -- connections -----------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            _INHERITED.append(conn)  # never close a parent's connection in a forked child
            conn = None
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=self.timeout_s, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for multi-statement reads
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction taken up front, so concurrent writers queue
        instead of failing on lock upgrades half-way."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _initialise(self) -> None:
        # Switching to WAL needs an exclusive lock; a file lock keeps first-time
        # initialisation by many processes orderly.
        with FileLock(str(self.db_path) + ".lock", timeout=self.timeout_s):
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode = WAL")
            with self._write() as conn:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(INDEX_SCHEMA_VERSION),),
                    )
                elif int(row[0]) > INDEX_SCHEMA_VERSION:
                    raise ArtifactIndexError(
                        f"{self.db_path}: index schema version {row[0]} is newer than this "
                        f"nerp-infra understands ({INDEX_SCHEMA_VERSION}); upgrade nerp-infra"
                    )

    # -- helpers ---------------------------------------------------------------------

    def _relative(self, path: Path) -> str:
        absolute = Path(path).absolute()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()

    def _row_to_artifact(self, path: str, owner: str | None, manifest: str) -> IndexedArtifact:
        return IndexedArtifact(
            manifest=Manifest.model_validate_json(manifest), path=self.root / path, owner=owner
        )

    @staticmethod
    def _write_children(conn: sqlite3.Connection, manifest: Manifest) -> None:
        conn.execute("DELETE FROM fingerprints WHERE artifact_id = ?", (manifest.id,))
        conn.executemany(
            "INSERT INTO fingerprints (artifact_id, name, value) VALUES (?, ?, ?)",
            [(manifest.id, name, value) for name, value in manifest.fingerprints.items()],
        )
        conn.execute("DELETE FROM lineage WHERE artifact_id = ?", (manifest.id,))
        conn.executemany(
            "INSERT INTO lineage (artifact_id, position, parent_id) VALUES (?, ?, ?)",
            [(manifest.id, i, parent) for i, parent in enumerate(manifest.lineage)],
        )

    @staticmethod
    def _bump_variant(conn: sqlite3.Connection, manifest: Manifest) -> None:
        conn.execute(
            "INSERT INTO variants (stage, backbone, key, last) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (stage, backbone, key) DO UPDATE SET last = max(last, excluded.last)",
            (manifest.stage, manifest.backbone, manifest.key, manifest.variant),
        )

    # -- artifacts -------------------------------------------------------------------

    def register(self, manifest: Manifest, path: Path, *, owner: str | None = None) -> None:
        """Add an artifact. Its id and its (stage, backbone, key, variant) must be new."""
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO artifacts (id, kind, stage, backbone, key, variant, status, "
                    "path, owner, created_at, updated_at, manifest) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        manifest.id,
                        manifest.kind,
                        manifest.stage,
                        manifest.backbone,
                        manifest.key,
                        manifest.variant,
                        manifest.status,
                        self._relative(path),
                        owner if manifest.status == "incomplete" else None,
                        manifest.created_at.isoformat(),
                        manifest.updated_at.isoformat(),
                        manifest.model_dump_json(),
                    ),
                )
                self._write_children(conn, manifest)
                self._bump_variant(conn, manifest)
        except sqlite3.IntegrityError as exc:
            raise ArtifactIndexError(
                f"cannot register artifact {manifest.id} ({manifest.stage}/{manifest.backbone}/"
                f"{manifest.key} v{manifest.variant}) in {self.db_path}: {exc}"
            ) from exc

    def update(self, manifest: Manifest) -> None:
        """Replace the indexed manifest of a registered artifact (same id).

        Leaving ``incomplete`` releases the artifact's owner.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE artifacts SET kind = ?, status = ?, updated_at = ?, manifest = ?, "
                "owner = CASE WHEN ? = 'incomplete' THEN owner ELSE NULL END WHERE id = ?",
                (
                    manifest.kind,
                    manifest.status,
                    manifest.updated_at.isoformat(),
                    manifest.model_dump_json(),
                    manifest.status,
                    manifest.id,
                ),
            )
            if cursor.rowcount == 0:
                raise ArtifactNotFoundError(f"artifact {manifest.id} is not in {self.db_path}")
            self._write_children(conn, manifest)

    def get(self, artifact_id: str) -> IndexedArtifact:
        """The artifact with this id; raises :class:`ArtifactNotFoundError` if unknown."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT path, owner, manifest FROM artifacts WHERE id = ?", (artifact_id,)
            ).fetchone()
        if row is None:
            raise ArtifactNotFoundError(f"artifact {artifact_id} is not in {self.db_path}")
        return self._row_to_artifact(*row)

    def __contains__(self, artifact_id: object) -> bool:
        with self._read() as conn:
            row = conn.execute("SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
        return row is not None

    def _select(
        self,
        *,
        kind: str | None,
        stage: str | None,
        backbone: str | None,
        key: str | None,
        status: str | None,
        fingerprints: Mapping[str, str] | None,
        variant: int | None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[IndexedArtifact]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("kind", kind),
            ("stage", stage),
            ("backbone", backbone),
            ("key", key),
            ("status", status),
            ("variant", variant),
        ):
            if value is not None:
                clauses.append(f"a.{column} = ?")
                params.append(value)
        for name, value in (fingerprints or {}).items():
            clauses.append(
                "EXISTS (SELECT 1 FROM fingerprints f WHERE f.artifact_id = a.id "
                "AND f.name = ? AND f.value = ?)"
            )
            params.extend([name, value])
        sql = "SELECT a.path, a.owner, a.manifest FROM artifacts a"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY a.seq" + (" DESC" if newest_first else "")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [self._row_to_artifact(*row) for row in rows]

    def find(
        self,
        kind: str | None = None,
        stage: str | None = None,
        backbone: str | None = None,
        status: ArtifactStatus | None = None,
        fingerprints: Mapping[str, str] | None = None,
        variant: int | None = None,
        *,
        key: str | None = None,
    ) -> list[IndexedArtifact]:
        """Artifacts matching every given filter, oldest registration first.

        ``fingerprints`` matches artifacts that have (at least) these name/value pairs.
        """
        return self._select(
            kind=kind,
            stage=stage,
            backbone=backbone,
            key=key,
            status=status,
            fingerprints=fingerprints,
            variant=variant,
        )

    def latest(
        self,
        kind: str,
        *,
        status: ArtifactStatus | None = "complete",
        stage: str | None = None,
        backbone: str | None = None,
        key: str | None = None,
        fingerprints: Mapping[str, str] | None = None,
        variant: int | None = None,
    ) -> IndexedArtifact | None:
        """The most recently registered matching artifact (complete ones by default)."""
        found = self._select(
            kind=kind,
            stage=stage,
            backbone=backbone,
            key=key,
            status=status,
            fingerprints=fingerprints,
            variant=variant,
            newest_first=True,
            limit=1,
        )
        return found[0] if found else None

    def lineage(self, artifact_id: str, *, strict: bool = False) -> list[IndexedArtifact]:
        """Ancestors of an artifact, breadth-first (parents, then grandparents, …).

        Each ancestor appears once even when reached by several paths. Ids not in this
        index (inputs from another output root) are skipped, or raise with ``strict``.
        """
        result: list[IndexedArtifact] = []
        with self._read() as conn:
            start = conn.execute("SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,))
            if start.fetchone() is None:
                raise ArtifactNotFoundError(f"artifact {artifact_id} is not in {self.db_path}")
            seen = {artifact_id}
            queue: deque[str] = deque([artifact_id])
            while queue:
                child = queue.popleft()
                parents = conn.execute(
                    "SELECT parent_id FROM lineage WHERE artifact_id = ? ORDER BY position",
                    (child,),
                ).fetchall()
                for (parent,) in parents:
                    if parent in seen:
                        continue
                    seen.add(parent)
                    row = conn.execute(
                        "SELECT path, owner, manifest FROM artifacts WHERE id = ?", (parent,)
                    ).fetchone()
                    if row is None:
                        if strict:
                            raise ArtifactNotFoundError(
                                f"artifact {parent} (an input of {child}) is not in {self.db_path}"
                            )
                        continue
                    result.append(self._row_to_artifact(*row))
                    queue.append(parent)
        return result

    def children(self, artifact_id: str) -> list[IndexedArtifact]:
        """Artifacts that list this one as a direct input, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT a.seq, a.path, a.owner, a.manifest FROM artifacts a "
                "JOIN lineage l ON l.artifact_id = a.id WHERE l.parent_id = ? ORDER BY a.seq",
                (artifact_id,),
            ).fetchall()
        return [self._row_to_artifact(*row[1:]) for row in rows]

    # -- concurrency primitives --------------------------------------------------------

    def allocate_variant(self, stage: str, backbone: str, key: str) -> int:
        """Reserve the next variant number (1, 2, …) for this stage/backbone/key.

        Never hands out the same number twice, across processes, even if a reserved
        variant is never registered (a crash) or the counter row was lost.
        """
        check_component("stage", stage)
        check_component("backbone", backbone)
        check_component("key", key)
        with self._write() as conn:
            row = conn.execute(
                "SELECT last FROM variants WHERE stage = ? AND backbone = ? AND key = ?",
                (stage, backbone, key),
            ).fetchone()
            (registered,) = conn.execute(
                "SELECT max(variant) FROM artifacts WHERE stage = ? AND backbone = ? AND key = ?",
                (stage, backbone, key),
            ).fetchone()
            number = max(row[0] if row else 0, registered or 0) + 1
            conn.execute(
                "INSERT INTO variants (stage, backbone, key, last) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (stage, backbone, key) DO UPDATE SET last = excluded.last",
                (stage, backbone, key, number),
            )
        return number

    def reserve_run_name(self, base: str) -> int:
        """Reserve the next version (1, 2, …) of a run name, e.g. for ``<base>-v<N>``."""
        if not base:
            raise ValueError("run name base must be a non-empty string")
        with self._write() as conn:
            row = conn.execute("SELECT last FROM run_names WHERE base = ?", (base,)).fetchone()
            number = (row[0] if row else 0) + 1
            conn.execute(
                "INSERT INTO run_names (base, last) VALUES (?, ?) "
                "ON CONFLICT (base) DO UPDATE SET last = excluded.last",
                (base, number),
            )
        return number

    def claim(self, artifact_id: str, owner: str, *, is_stale: Callable[[str], bool]) -> bool:
        """Take over an incomplete artifact if nobody live works on it.

        Succeeds when the artifact is incomplete and has no owner, is already owned by
        ``owner``, or its owner is stale by ``is_stale`` (e.g. a dead process). Atomic,
        so two processes resuming the same crashed artifact cannot both win.
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT status, owner FROM artifacts WHERE id = ?", (artifact_id,)
            ).fetchone()
            if row is None:
                raise ArtifactNotFoundError(f"artifact {artifact_id} is not in {self.db_path}")
            status, current = row
            if status != "incomplete":
                return False
            if current not in (None, owner) and not is_stale(current):
                return False
            conn.execute("UPDATE artifacts SET owner = ? WHERE id = ?", (owner, artifact_id))
        return True

    # -- MLflow run ids ----------------------------------------------------------------

    def set_run_id(self, run_key: str, mlflow_run_id: str) -> None:
        """Remember the MLflow run of a logical run, so a resumed stage logs to it again."""
        if not run_key or not mlflow_run_id:
            raise ValueError("run_key and mlflow_run_id must be non-empty strings")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (run_key, mlflow_run_id) VALUES (?, ?) ON CONFLICT (run_key) "
                "DO UPDATE SET mlflow_run_id = excluded.mlflow_run_id, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (run_key, mlflow_run_id),
            )

    def get_run_id(self, run_key: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT mlflow_run_id FROM runs WHERE run_key = ?", (run_key,)
            ).fetchone()
        return None if row is None else str(row[0])

    # -- recovery ----------------------------------------------------------------------

    def reindex(self) -> ReindexReport:
        """Register manifests found on disk that the index lacks, refresh stale rows.

        For output folders copied from another machine, or an index that was deleted;
        the disk wins when its ``updated_at`` is newer. Hidden folders (a name starting
        with ``.``: staging copies left by a crash) are skipped.
        """
        report = ReindexReport()
        for file in sorted(self.root.rglob(MANIFEST_NAME)):
            if any(part.startswith(".") for part in file.relative_to(self.root).parts):
                continue  # staging and scratch folders (hidden) are never artifacts
            try:
                manifest = read_manifest(file)
            except ManifestError as exc:
                report.errors.append(str(exc))
                continue
            try:
                known = self.get(manifest.id)
            except ArtifactNotFoundError:
                try:
                    self.register(manifest, file.parent)
                except ArtifactIndexError as exc:
                    report.errors.append(f"{file}: {exc}")
                    continue
                report.added.append(manifest.id)
                continue
            if manifest.updated_at > known.manifest.updated_at:
                self.update(manifest)
                report.updated.append(manifest.id)
        return report

    def stats(self) -> dict[str, int]:
        """Artifact counts per status (for doctor/CLI output and tests)."""
        with self._read() as conn:
            rows = conn.execute("SELECT status, count(*) FROM artifacts GROUP BY status").fetchall()
        return {str(status): int(count) for status, count in rows}

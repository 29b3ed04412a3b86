"""Study storage from a URL: SQLite (one machine), any SQLAlchemy database, or a journal file.

- ``sqlite:///path.db`` and ``postgresql://`` / ``mysql://`` URLs open Optuna's
  RDBStorage with a heartbeat: a worker whose process dies stops beating, and after the
  grace period the next worker to ask for a trial marks the trial FAIL and queues a
  retry of it (:func:`nerp_hpo.trials.retry_trial`).
- ``journal:///abs/path.log`` (or ``journal://relative/path.log``) opens Optuna's
  JournalStorage on a file: it works on network file systems where SQLite locking does
  not, but has no heartbeat; dead workers on this host are still found by process id.

``postgresql://`` without a driver is read as psycopg 3 (``postgresql+psycopg://``)
when psycopg2 is not installed, since ``nerp-hpo[postgres]`` installs psycopg 3.
"""

from __future__ import annotations

import importlib.util
import re
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from nerp_hpo.errors import HpoError

__all__ = [
    "STUDY_DB_NAME",
    "default_storage_url",
    "delete_study",
    "is_journal",
    "open_storage",
    "redact_url",
    "supports_heartbeat",
]

STUDY_DB_NAME = "optuna.db"
"""SQLite file of a study inside its artifact directory, when no storage is configured."""

_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]+@")
_SQLITE_TIMEOUT_S = 60
_CREATE_ATTEMPTS = 5


def default_storage_url(artifact_dir: Path) -> str:
    """The SQLite study database inside a study artifact (absolute, so workers agree)."""
    return f"sqlite:///{(Path(artifact_dir).absolute() / STUDY_DB_NAME).as_posix()}"


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs, manifests and MLflow tags."""
    return _PASSWORD.sub(r"\1***@", url)


def is_journal(url: str) -> bool:
    return url.startswith("journal://")


def supports_heartbeat(url: str) -> bool:
    """Journal files have no heartbeat; every database URL does."""
    return not is_journal(url)


def _journal_path(url: str) -> Path:
    rest = url[len("journal://") :]
    if not rest or rest == "/":
        raise HpoError(f"storage {url!r}: journal URL names no file (use journal:///path.log)")
    return Path(rest)


def _sqlite_path(url: str) -> Path | None:
    match = re.match(r"^sqlite(\+\w+)?:///(.+)$", url)
    if match is None or match.group(2) == ":memory:":
        return None
    return Path(match.group(2))


def _with_driver(url: str) -> str:
    if not url.startswith("postgresql://"):
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    raise HpoError(
        f"storage {redact_url(url)}: no PostgreSQL driver is installed; "
        "pip install 'nerp-hpo[postgres]'"
    )


def open_storage(
    url: str,
    *,
    heartbeat_interval_s: int | None = None,
    grace_period_s: int | None = None,
    stale_trial_callback: Any = None,
    must_exist: bool = False,
) -> BaseStorage:
    """Open the storage behind ``url`` (see the module doc).

    ``heartbeat_interval_s`` turns the heartbeat on for database storages (grace period
    default: twice the interval); ``stale_trial_callback(study, frozen_trial)`` runs for
    each trial the heartbeat fails. ``must_exist``: a SQLite or journal file that is not
    there is an error instead of a new empty study database (reading status, reports).
    """
    if is_journal(url):
        path = _journal_path(url)
        if must_exist and not path.is_file():
            raise HpoError(f"storage {url}: journal file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if not re.match(r"^(sqlite|postgresql|mysql)(\+\w+)?://", url):
        raise HpoError(
            f"storage {redact_url(url)!r} is not a sqlite:///, postgresql:// or mysql:// URL "
            "or a journal:///path"
        )
    engine_kwargs: dict[str, Any] = {}
    sqlite_file = _sqlite_path(url)
    if sqlite_file is not None:
        if must_exist and not sqlite_file.is_file():
            raise HpoError(f"storage {url}: database file {sqlite_file} does not exist")
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": _SQLITE_TIMEOUT_S}
    else:
        engine_kwargs["pool_pre_ping"] = True
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            try:
                return RDBStorage(
                    _with_driver(url),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval_s,
                    grace_period=grace_period_s,
                    heartbeat_stale_trial_callback=stale_trial_callback,
                )
            except HpoError:
                raise
            except Exception as exc:
                if attempt < _CREATE_ATTEMPTS and _lost_creation_race(exc):
                    # Workers started together all create the schema of a new database;
                    # the ones that lose find it made on the next try.
                    time.sleep(0.1 * attempt)
                    continue
                raise HpoError(f"cannot open study storage {redact_url(url)}: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _lost_creation_race(exc: Exception) -> bool:
    """Another process created the tables or the version row first (or holds the lock)."""
    from sqlalchemy.exc import DBAPIError, IntegrityError

    if isinstance(exc, IntegrityError):  # the version row, or a unique key of the schema
        return True
    message = str(exc).lower()  # SQLite: OperationalError; PostgreSQL: ProgrammingError
    return isinstance(exc, DBAPIError) and (
        "already exists" in message or "database is locked" in message
    )


def delete_study(study_name: str, storage: BaseStorage | str) -> None:
    """Remove a study and its trials (tests and ``force_new`` clean-ups)."""
    optuna.delete_study(study_name=study_name, storage=storage)

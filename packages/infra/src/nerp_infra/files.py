"""Atomic writes with the permissions artifacts need: files 0644, folders 0755.

``tempfile.mkstemp`` and ``mkdtemp`` create owner-only entries (0600/0700), which a rename
keeps; an artifact written by root would then be unreadable to the non-root user of a
serving container (the Dockerfile's uid 10001 with a read-only mount). Every nerp writer
that goes through a temporary file uses these helpers so artifacts are readable by all,
like files written with ``open`` under the usual umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["DIR_MODE", "FILE_MODE", "atomic_file", "atomic_write", "fsync_dir", "staging_dir"]

FILE_MODE = 0o644
"""Mode of every file nerp writes through a temporary file."""
DIR_MODE = 0o755
"""Mode of every folder nerp creates as a temporary staging folder."""


def fsync_dir(directory: Path) -> None:
    """Make a rename durable; some filesystems (Windows, FUSE mounts) cannot, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str], mode: str = "w", **open_args: Any
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on a clean exit it is synced, made
    ``FILE_MODE`` and renamed over ``path`` (readers never see half a file). On an error
    the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    if "b" not in mode:
        open_args.setdefault("encoding", "utf-8")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically, mode ``FILE_MODE``."""
    path = Path(path)
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)
    return path


def staging_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """A new hidden folder in ``parent`` (mode ``DIR_MODE``) to build something in and
    rename into place; ``mkdtemp`` alone would make the renamed folder owner-only."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(DIR_MODE)
    return path

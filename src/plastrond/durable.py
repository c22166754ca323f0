"""Durable file writes, in one place: the message store, the job folders, the completions
and a local export's bag use them.

- `write_all(fd, data)`: every byte written, or OSError (a short write is retried until the
  kernel refuses with an error, such as ENOSPC).
- `atomic_write(path, data)`: replace *path* with *data* (a temporary file beside it, fsync,
  rename, fsync of the folder), so a reader sees the old file or the new one, never a mix.
- `fsync_dir(folder)`: make a rename or a new file in *folder* durable.

Everything here blocks.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir", "write_all"]


def fsync_dir(folder: Path) -> None:
    """fsync *folder* itself, so that names created or renamed in it survive a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of *data* to *fd*; a partial write continues until done or an OSError."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - os.write raises rather than return 0
            raise OSError(f"write returned {written}")
        view = view[written:]


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace *path* with *data*: a temporary file beside it, fsync, rename, fsync the folder.

    On any failure the temporary file is removed and *path* is as it was.
    """
    folder = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(folder)

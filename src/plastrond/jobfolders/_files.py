"""Opening a job folder's files under a folder descriptor, and a memo keyed by file state."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from ..errors import describe
from .errors import JobReadError

__all__ = ["LruCache", "open_dir", "open_file", "signature"]

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted under a job's file name must not hang the reader.
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def open_dir(name: str, dir_fd: int) -> int | None:
    """A descriptor for the folder *name* inside *dir_fd*; None when there is no such folder
    (a symbolic link, a file, or a name the file system refuses count as none)."""
    try:
        return os.open(name, _O_DIR, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL):
            return None
        raise


def open_file(name: str, dir_fd: int) -> int | None:
    """A descriptor for the regular file *name* inside *dir_fd*, or None when it is absent.

    Raises JobReadError when it exists but is not a regular file or cannot be opened.
    """
    try:
        fd = os.open(name, _O_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JobReadError(f"{name}: cannot open: {describe(e)}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise JobReadError(f"{name}: not a regular file")
    return fd


def signature(fd: int) -> tuple[int, int, int, int, int]:
    """What identifies a file's state: device, inode, size, modification and change times."""
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A small thread-safe memo of values derived from files, keyed by the file's signature
    (device, inode, size, times), so a changed file is simply a new key."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: two threads may both compute it, harmlessly
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return value

"""The JSON description of one job (`GET /jobs/<id>`), produced piece by piece.

The shape is the contract of `shared/reference/import-export.md`:

    {"@id": URL, <config.yml fields>, "runs": [newest first],
     "completed": {"count": n, "items": [rows]},
     "dropped": {"timestamp": latest run, "failed": {"count", "items"},
                 "invalid": {"count", "items"}}        ({} before the first run),
     "total": rows in source.csv}

The item lists are written from the open CSV logs in batches, so a log of any length costs a
bounded amount of memory per request. The JSON text of a whole item list is also kept, per
file state, in a cache of bounded size (`ITEMS_CACHE_BYTES`): a finished job's logs no longer
change and Archelon asks for the same job again and again, so the next answer is sent without
parsing the CSV again; a log too large for the cache is read from disk on every request.
`Page` narrows every item list (never the counts).

The generators here block (they read files); the app drives them from worker threads.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import attrs

from ..jobfolders import JobSnapshot, OpenLog

__all__ = ["CHUNK_BYTES", "ITEMS_CACHE_BYTES", "Page", "dumps", "job_body"]

#: the size the body is produced and sent in, roughly
CHUNK_BYTES = 256 * 1024
#: the JSON text of whole item lists kept for reuse, in bytes at most
ITEMS_CACHE_BYTES = 64 * 1024 * 1024
#: a log larger than this (CSV bytes) is never cached, only streamed
ITEMS_CACHE_LOG_BYTES = 8 * 1024 * 1024


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 text rather than \\u escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@attrs.frozen
class Page:
    """Which items of each log to include: `offset` rows skipped, at most `limit` (None: all)."""

    offset: int = 0
    limit: int | None = None


class _ItemsCache:
    """JSON text of item lists by (file signature, byte range), least recently used out
    first, holding at most *budget* bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._size = 0
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[Any, ...], data: bytes) -> None:
        if len(data) > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size -= len(old) if old is not None else 0
            self._items[key] = data
            self._size += len(data)
            while self._size > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


_cache = _ItemsCache(ITEMS_CACHE_BYTES)


def _encode(log: OpenLog, page: Page) -> Iterator[bytes]:
    first = True
    for batch in log.rows(page.offset, page.limit):
        text = dumps(batch)[1:-1]
        yield (text if first else "," + text).encode("utf-8")
        first = False


def _items(log: OpenLog, page: Page) -> Iterator[bytes]:
    """The items of *log* as the inside of a JSON array."""
    size = log.shape.stop - log.shape.start
    if page != Page() or log.signature is None or size > ITEMS_CACHE_LOG_BYTES:
        yield from _encode(log, page)
        return
    key = (log.signature, log.shape.start, log.shape.stop)
    data = _cache.get(key)
    if data is None:
        data = b"".join(_encode(log, page))
        _cache.put(key, data)
    yield data


def _pieces(job: JobSnapshot, job_url: str, page: Page) -> Iterator[bytes | str]:
    head = dumps({"@id": job_url, **job.fields, "runs": list(job.runs)})
    yield head[:-1]
    yield f',"completed":{{"count":{job.completed.count},"items":['
    yield from _items(job.completed, page)
    yield "]}"
    if job.failed is None or job.invalid is None:
        yield ',"dropped":{}'
    else:
        yield f',"dropped":{{"timestamp":{dumps(job.latest_run)}'
        yield f',"failed":{{"count":{job.failed.count},"items":['
        yield from _items(job.failed, page)
        yield f']}},"invalid":{{"count":{job.invalid.count},"items":['
        yield from _items(job.invalid, page)
        yield "]}}"
    yield f',"total":{job.total}}}'


def job_body(job: JobSnapshot, job_url: str, page: Page = Page()) -> Iterator[bytes]:
    """The description of *job* as UTF-8 JSON, in chunks of CHUNK_BYTES (the last shorter)."""
    pending: list[bytes | memoryview] = []
    size = 0
    for piece in _pieces(job, job_url, page):
        data = memoryview(piece.encode("utf-8") if isinstance(piece, str) else piece)
        if size + len(data) < CHUNK_BYTES:
            pending.append(data)
            size += len(data)
            continue
        # Fill the chunk under way, then cut whole chunks straight out of the piece.
        at = CHUNK_BYTES - size
        pending.append(data[:at])
        yield b"".join(pending)
        while len(data) - at >= CHUNK_BYTES:
            yield bytes(data[at : at + CHUNK_BYTES])
            at += CHUNK_BYTES
        pending = [data[at:]]
        size = len(data) - at
    if size:
        yield b"".join(pending)

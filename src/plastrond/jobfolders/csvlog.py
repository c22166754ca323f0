"""The CSV files of a job folder: where complete records end, the append-only logs the import
writes, and the snapshots the http mode reads.

A record ends at a newline outside double quotes (a quoted field may hold newlines; a doubled
quote inside one flips the state twice). `record_ends` is the one scanner both sides use:

- the writer (`AppendLog`) cuts a log back to its last complete record when it opens it, so a
  row half written when the machine stopped is never glued to the next one; each row is then
  formatted first and written with one `write` on a file opened with O_APPEND;
- the reader (`OpenLog`, `csv_shape`) counts and reads the records complete at the moment it
  opened the file, so a row being appended is never half-shown and a log's `count` equals the
  rows `OpenLog.rows()` later yields, however much the file grows meanwhile. When no writer
  can be appending (`final=True`: source.csv, which is replaced atomically, or a log while no
  run holds the job's lock), a last record without a final newline counts too.

Everything here blocks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from ..errors import describe
from ._files import LruCache, open_file, signature
from .errors import JobFolderError, JobReadError

__all__ = [
    "EMPTY_SHAPE",
    "MAX_FIELD",
    "AppendLog",
    "CsvShape",
    "OpenLog",
    "csv_shape",
    "format_row",
    "read_rows",
    "record_ends",
]

_CSV_DIALECT: Final = "excel"  # comma, double quotes, CRLF line ends (what csv writes)
_READ_SIZE: Final = 256 * 1024

#: The longest CSV field plastrond reads (csv's default is 128 KiB). Metadata holds long
#: descriptions and full-text transcriptions: a page of dense text is a few KiB, a long
#: manuscript's transcription a few MiB. 16 MiB is generous for that and still safe: the
#: limit only bounds how much one field may make the parser hold, and a whole request body
#: is bounded far below what would exhaust memory; a row past it is reported invalid.
MAX_FIELD: Final = 16 * 1024 * 1024
# The limit is process-wide in the csv module; every reader of job files wants this one.
if csv.field_size_limit() < MAX_FIELD:
    csv.field_size_limit(MAX_FIELD)


def record_ends(fd: int, start: int, stop: int, *, final: bool = False) -> Iterator[int]:
    """The offset just past each complete CSV record in bytes [start, stop) of *fd*.

    Bytes after the last newline outside quotes are a record still being written and are left
    out, unless *final* (nobody is writing the file): then they end at *stop*, as long as
    their quotes are closed and they are not blank.
    """
    in_quotes = False
    pos = start
    last = start
    while pos < stop:
        chunk = os.pread(fd, min(_READ_SIZE, stop - pos), pos)
        if not chunk:
            break
        if b'"' not in chunk:
            if not in_quotes:
                # the common case, a chunk without quotes: every newline ends a record
                at = chunk.find(b"\n")
                while at >= 0:
                    last = pos + at + 1
                    yield last
                    at = chunk.find(b"\n", at + 1)
        else:
            offset = pos
            lines = chunk.split(b"\n")
            for line in lines[:-1]:
                offset += len(line) + 1
                if line.count(b'"') & 1:
                    in_quotes = not in_quotes
                if not in_quotes:
                    last = offset
                    yield offset
            if lines[-1].count(b'"') & 1:
                in_quotes = not in_quotes
        pos += len(chunk)
    tail = b"" if not final or in_quotes or pos <= last else os.pread(fd, pos - last, last)
    if tail.strip(b"\r\n\xef\xbb\xbf \t,"):
        yield pos


def complete_length(fd: int, size: int) -> int:
    """How many leading bytes of the file are complete CSV records."""
    return max(record_ends(fd, 0, size), default=0)


def format_row(values: Sequence[str]) -> bytes:
    """One CSV record, CRLF-terminated, as UTF-8 bytes."""
    out = io.StringIO()
    csv.writer(out, dialect=_CSV_DIALECT).writerow(values)
    return out.getvalue().encode("utf-8")


def _one_line(value: str) -> str:
    return " ".join(value.split()) if "\n" in value or "\r" in value else value


# --------------------------------------------------------------------------------------------
# Writing (the import command, holding the job's lock)
# --------------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, str]]:
    """The complete data rows of a log (header -> value); [] when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise JobFolderError(f"{path.name}: cannot read: {describe(e)}") from None
    try:
        stop = complete_length(fd, os.fstat(fd).st_size)
        records = [r for r in _parse(fd, 0, stop, "utf-8-sig", path.name) if r]
    except OSError as e:
        raise JobFolderError(f"{path.name}: cannot read: {describe(e)}") from None
    finally:
        os.close(fd)
    if not records:
        return []
    header = records[0]
    return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in records[1:]]


class AppendLog:
    """A CSV log opened for appending whole rows. Not thread-safe: one writer at a time."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        try:
            self._fd = os.open(
                path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644
            )
        except OSError as e:
            raise JobFolderError(f"{path.name}: cannot open for writing: {describe(e)}") from None
        try:
            self._repair()
        except BaseException:
            os.close(self._fd)
            raise

    def _repair(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            os.write(self._fd, format_row(self.columns))
            return
        keep = complete_length(self._fd, size)
        if keep < size:
            # A row half written when the machine stopped: cut it off, or the next row would
            # be glued onto it.
            os.ftruncate(self._fd, keep)
            if keep == 0:
                os.write(self._fd, format_row(self.columns))

    def append(self, values: Sequence[str]) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.path.name}: expected {len(self.columns)} values")
        data = format_row([_one_line(str(v)) for v in values])
        try:
            written = os.write(self._fd, data)
        except OSError as e:
            raise JobFolderError(f"{self.path.name}: cannot write: {describe(e)}") from None
        if written != len(data):  # a full disk; what is there is cut off on the next open
            raise JobFolderError(f"{self.path.name}: cannot write: short write (disk full?)")

    def sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise JobFolderError(f"{self.path.name}: cannot sync: {describe(e)}") from None

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


# --------------------------------------------------------------------------------------------
# Reading snapshots (the http mode, while the import may be appending)
# --------------------------------------------------------------------------------------------


class _Window(io.RawIOBase):
    """The bytes [start, stop) of a file descriptor, read with pread (the fd is not moved)."""

    def __init__(self, fd: int, start: int, stop: int) -> None:
        self._fd = fd
        self._pos = start
        self._stop = stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._stop - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _parse(fd: int, start: int, stop: int, encoding: str, name: str) -> Iterator[list[str]]:
    """All CSV records in bytes [start, stop) of *fd*; JobReadError when they do not parse."""
    raw = io.BufferedReader(_Window(fd, start, stop), _READ_SIZE)
    text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
    try:
        yield from csv.reader(text)
    except csv.Error as e:
        raise JobReadError(f"{name}: malformed CSV: {e}") from None


def _data_rows(
    fd: int, start: int, stop: int, name: str, encoding: str = "utf-8"
) -> Iterator[list[str]]:
    """The CSV rows in bytes [start, stop) of *fd* (which must end a record) that have a
    non-blank cell: a row of empty cells (`,,,`, as spreadsheets leave) is no data row, for
    the import command either."""
    for row in _parse(fd, start, stop, encoding, name):
        if row and any(cell.strip() for cell in row):
            yield row


@attrs.frozen
class CsvShape:
    """Where the complete data rows of a CSV file are, as it was at one moment."""

    header: tuple[str, ...]
    #: first byte after the header record
    start: int
    #: first byte after the last complete record
    stop: int
    #: non-empty data rows in [start, stop)
    count: int


EMPTY_SHAPE: Final = CsvShape(header=(), start=0, stop=0, count=0)


def _scan(fd: int, size: int, name: str, final: bool) -> CsvShape:
    header_end = last = -1
    for end in record_ends(fd, 0, size, final=final):
        if header_end < 0:
            record = os.pread(fd, end, 0) if last < 0 else os.pread(fd, end - last, last)
            if record.strip(b"\r\n\xef\xbb\xbf \t"):
                header_end = end
        last = end
    if header_end < 0:
        return EMPTY_SHAPE
    header = next(_data_rows(fd, 0, header_end, name, "utf-8-sig"), [])
    count = sum(1 for _ in _data_rows(fd, header_end, last, name))
    return CsvShape(header=tuple(header), start=header_end, stop=last, count=count)


_shapes: LruCache[tuple[Any, ...], CsvShape] = LruCache(4096)


def csv_shape(fd: int, name: str, *, final: bool = False) -> tuple[tuple[int, ...], CsvShape]:
    """The signature of the CSV file open at *fd* and its shape up to its size now (memoized
    per signature). *final*: nobody writes the file, so a last record without a newline
    counts."""
    key = signature(fd)
    return key, _shapes.get_or_make((*key, final), lambda: _scan(fd, key[2], name, final))


@attrs.define
class OpenLog:
    """A CSV log of a job, open for reading, with the shape it had when opened."""

    name: str
    fd: int | None
    shape: CsvShape
    #: identifies the file and the state it was read in (None when absent)
    signature: tuple[int, ...] | None = None

    @classmethod
    def open(cls, name: str, dir_fd: int | None, *, final: bool = False) -> OpenLog:
        fd = None if dir_fd is None else open_file(name, dir_fd)
        if fd is None:
            return cls(name, None, EMPTY_SHAPE)
        try:
            key, shape = csv_shape(fd, name, final=final)
        except BaseException:
            os.close(fd)
            raise
        return cls(name, fd, shape, key)

    @property
    def count(self) -> int:
        return self.shape.count

    def rows(
        self, offset: int = 0, limit: int | None = None, batch: int = 512
    ) -> Iterator[list[dict[str, str | None]]]:
        """The data rows (as header -> value; a short row's missing values are None, a long
        row's extra values are dropped), in lists of up to *batch*."""
        if self.fd is None or self.shape.count == 0:
            return
        header = self.shape.header
        width = len(header)
        stop = None if limit is None else offset + limit
        rows = itertools.islice(
            _data_rows(self.fd, self.shape.start, self.shape.stop, self.name), offset, stop
        )
        while True:
            chunk = list(itertools.islice(rows, batch))
            if not chunk:
                return
            out: list[dict[str, str | None]] = []
            for row in chunk:
                if len(row) == width:
                    out.append(dict(zip(header, row, strict=True)))
                else:
                    padded: list[str | None] = [*row[:width], *([None] * (width - len(row)))]
                    out.append(dict(zip(header, padded, strict=True)))
            yield out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

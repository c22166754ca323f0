"""Where an import's files come from (`binaries-location`, import-export.md).

    location = parse_location(text, config.commands.import_)   # checks the text, no I/O
    async with location:                                       # opens, and cleans up after
        problems = await location.check(["p001.tif", "p001.jpg"])   # path -> "Missing file: ..."
        async with location.source("p001.tif") as source:          # for put_binary: streamed
            await repository.put_binary(uri, source, ...)

| written | what |
|---|---|
| `/path/to/dir` | a local folder, which must lie inside one of `ALLOWED_BINARIES_DIRS` |
| `zip:/path/to/file.zip` | a local ZIP file (same rule) |
| `sftp://user@host[:port]/dir` | a folder over SFTP, logged in with `SSH_PRIVATE_KEY` |
| `zip+sftp://user@host[:port]/file.zip` | a ZIP file over SFTP (read where it is) |
| `http(s)://host/dir/` | files under a URL (HEAD to check, GET to fetch) |

The paths in a row are relative to the location; a path that leads out of it (`..`), or a
local file that resolves (through symbolic links) outside the allowed folders, counts as a
problem of the row, never as a file.

`source(path)` gives what the repository client uploads: a local file's path, or the bytes
streamed straight from the ZIP member, the SFTP file or the HTTP response, never copied to a
temporary file first. The declared size (the ZIP's directory, the SFTP stat, Content-Length)
and the bytes actually read are both held to `COMMANDS.IMPORT.MAX_FILE_SIZE` per file and
`MAX_JOB_FILES_SIZE` for the job in all; past either the file fails with FetchError (the row
fails, and the upload is cut off). A `zip+sftp://` archive is read at random on the server
(`plastrond.sftp.RemoteFile`: a read-ahead buffer over pipelined SFTP reads), never copied
here. `fetch(path)` copies one file out to a temporary file (the import itself never does: it
is how the tests read a location's files). Blocking work (the file system, ZIP reading,
paramiko) runs in worker threads.

An item's files are counted to the job as they are read; when its transaction is rolled back
and tried again, the attempt's bytes are given back first (`Charge`, `Location.refund`).
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import posixpath
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import httpx
import trio

from ..config import ImportConfig
from ..errors import PlastronError, describe
from ..sftp import (
    RemoteFile,
    SftpAddress,
    SftpError,
    SftpSettings,
    connect,
    login_settings,
    open_sftp,
    parse_sftp_url,
)
from .names import NameIndex, exact_key, locate, missing, zip_member_name

__all__ = [
    "BinariesError",
    "Charge",
    "FetchError",
    "HttpLocation",
    "LocalLocation",
    "Location",
    "SftpLocation",
    "SizeLimits",
    "Source",
    "ZipLocation",
    "mime_type",
    "parse_location",
]

T = TypeVar("T")

#: bytes copied at a time when downloading or extracting
CHUNK: Final = 1024 * 1024
SECTION: Final = "COMMANDS.IMPORT"


class BinariesError(PlastronError):
    """The binaries location is refused or cannot be opened: the job cannot go on. One line."""


class FetchError(PlastronError):
    """One file could not be read from the location (the row fails). One line."""


def mime_type(path: str) -> str:
    """The MIME type of a file, told from its name; application/octet-stream when unknown."""
    guessed, _ = mimetypes.guess_type(posixpath.basename(path), strict=False)
    return guessed or "application/octet-stream"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@attrs.frozen
class SizeLimits:
    """Ceilings on the files of one job, in bytes (`COMMANDS.IMPORT`)."""

    file: int
    job: int

    @classmethod
    def of(cls, config: ImportConfig) -> SizeLimits:
        return cls(file=config.max_file_size, job=config.max_job_files_size)


@attrs.define
class Charge:
    """The bytes of files one attempt at an item has brought from the location. An attempt
    that was rolled back and is tried again gives them back (`Location.refund`), so that a
    retried item's files count once toward `MAX_JOB_FILES_SIZE`."""

    bytes: int = 0


@attrs.frozen
class Stream:
    """A file's bytes streamed from its location, and its declared size when known."""

    chunks: AsyncIterator[bytes]
    size: int | None
    #: `sha-256=<hex>` when it could be computed first (a ZIP member, read once more in a
    #: worker thread: Fedora then checks the bytes as they arrive, instead of being asked for
    #: its digest afterwards, which makes it read the whole file again)
    digest: str | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks


#: what `Location.source` gives: a local file, or bytes streamed from the location
Source = Path | Stream


class Location:
    """A binaries location (base class). Use it as an async context manager."""

    #: the location as written in the request
    written: str

    def __init__(
        self, written: str, concurrency: int = 4, limits: SizeLimits | None = None
    ) -> None:
        self.written = written
        self.limiter = trio.CapacityLimiter(max(1, concurrency))
        self.limits = limits or SizeLimits.of(ImportConfig())
        #: bytes of files this job has brought so far (counted as they are read)
        self.job_bytes = 0
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._lock = trio.Lock()

    async def __aenter__(self) -> Location:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()

    async def open(self) -> None:
        """Make sure the location can be used (BinariesError when not)."""

    async def aclose(self) -> None:
        if self._temp is not None:
            temp, self._temp = self._temp, None
            await trio.to_thread.run_sync(temp.cleanup)

    async def _thread(self, func: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(func, *args, limiter=self.limiter)

    def _temp_path(self, name: str) -> Path:
        if self._temp is None:
            self._temp = tempfile.TemporaryDirectory(prefix="plastrond-import-")
        fd, path = tempfile.mkstemp(
            prefix="f-", suffix=posixpath.splitext(name)[1][:16], dir=self._temp.name
        )
        os.close(fd)
        return Path(path)

    async def check(self, paths: Sequence[str]) -> dict[str, str]:
        """The problem with each path that cannot be fetched (`Missing file: <path>`, ...)."""
        problems: dict[str, str] = {}
        for path in dict.fromkeys(paths):
            problem = await self._check_one(path)
            if problem:
                problems[path] = problem
        return problems

    async def _check_one(self, path: str) -> str | None:
        # Each kind of location (local, zip, sftp, http) below says how it checks a path.
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def fetch(self, path: str) -> AsyncIterator[Path]:
        """A local file holding the content of *path* (FetchError when it cannot be read)."""
        local = self._temp_path(path)
        try:
            await self._download(path, local)
            yield local
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(local.unlink, True)

    async def _download(self, path: str, local: Path) -> None:
        # Each kind of location below says how it copies a file out.
        raise NotImplementedError

    # -- streaming ---------------------------------------------------------------------------

    def _check_size(self, path: str, size: int, what: str, counted: int = 0) -> None:
        """FetchError when a file of *size* bytes is past the per-file ceiling, or would bring
        the job's files past theirs (*counted*: how many of its bytes the job already holds)."""
        if size > self.limits.file:
            raise FetchError(
                f"{path}: {what} {size} bytes is more than the {self.limits.file} allowed per "
                f"file ({SECTION}.MAX_FILE_SIZE)"
            )
        if self.job_bytes - counted + size > self.limits.job:
            raise FetchError(
                f"{path}: {what} {size} bytes would bring the job's files past the "
                f"{self.limits.job} bytes allowed ({SECTION}.MAX_JOB_FILES_SIZE)"
            )

    def _charge(self, n: int, charge: Charge | None) -> None:
        self.job_bytes += n
        if charge is not None:
            charge.bytes += n

    def refund(self, charge: Charge) -> None:
        """Give back what an attempt at an item brought (it was rolled back, and the item is
        tried again, reading its files again)."""
        self.job_bytes -= charge.bytes
        charge.bytes = 0

    @contextlib.asynccontextmanager
    async def source(self, path: str, charge: Charge | None = None) -> AsyncIterator[Source]:
        """What to upload for *path*: streamed from the location (no temporary copy), its
        declared and real size held to the limits, its bytes counted to the job (and to
        *charge*). FetchError when it cannot be read or is too large (also raised from inside
        the stream, cutting the upload off)."""
        async with self._stream(path) as (declared, chunks):
            if declared is not None:
                self._check_size(path, declared, "declared size")
            digest = await self._digest(path)
            yield Stream(self._counted(path, declared, chunks, charge), declared, digest)

    async def _digest(self, path: str) -> str | None:
        return None

    async def _counted(
        self,
        path: str,
        declared: int | None,
        chunks: AsyncIterator[bytes],
        charge: Charge | None,
    ) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in chunks:
            counted = seen
            seen += len(chunk)
            if declared is not None and seen > declared:
                raise FetchError(f"{path}: more bytes than its declared size {declared}")
            self._check_size(path, seen, "size", counted)
            self._charge(len(chunk), charge)
            yield chunk

    def _stream(
        self, path: str
    ) -> contextlib.AbstractAsyncContextManager[tuple[int | None, AsyncIterator[bytes]]]:
        # Each kind of location below says how it streams a file: (declared size, chunks).
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Local folders and ZIP files
# --------------------------------------------------------------------------------------------


def _allowed_root(path: str, config: ImportConfig, written: str) -> str:
    """The allowed folder (resolved) that holds *path* (resolved), or BinariesError."""
    if not config.allowed_binaries_dirs:
        raise BinariesError(
            f"binaries-location {written} is on the local file system, and no local folder is "
            f"allowed ({SECTION}.ALLOWED_BINARIES_DIRS)"
        )
    for allowed in config.allowed_binaries_dirs:
        root = os.path.realpath(allowed)
        if _inside(path, root):
            return root
    raise BinariesError(
        f"binaries-location {written} is outside the folders allowed for imports "
        f"({SECTION}.ALLOWED_BINARIES_DIRS)"
    )


def _local_path(text: str, config: ImportConfig, written: str) -> tuple[str, str]:
    if "\0" in text:
        raise BinariesError("binaries-location holds a NUL character")
    if not os.path.isabs(text):
        raise BinariesError(f"binaries-location {written} is not an absolute path")
    real = os.path.realpath(text)
    return real, _allowed_root(real, config, written)


class LocalLocation(Location):
    """A folder on this machine, inside an allowed folder."""

    def __init__(self, written: str, folder: str, root: str, concurrency: int = 4) -> None:
        super().__init__(written, concurrency)
        self.folder = folder
        self.root = root
        #: folder -> (its modification time, the names in it), for names not found as written
        self._listings: dict[str, tuple[int, NameIndex]] = {}

    async def open(self) -> None:
        if not await trio.to_thread.run_sync(os.path.isdir, self.folder):
            raise BinariesError(f"binaries-location {self.written} is not an existing folder")

    def _listing(self, folder: str) -> NameIndex | None:
        """The names in *folder* (read again once it changes), or None when it cannot be read."""
        try:
            changed = os.stat(folder).st_mtime_ns
            kept = self._listings.get(folder)
            if kept is None or kept[0] != changed:
                kept = (changed, NameIndex(os.listdir(folder)))
                self._listings[folder] = kept
        except OSError:
            return None
        return kept[1]

    def _resolve(self, path: str) -> tuple[str | None, str | None]:
        """(the real path of *path*, None) or (None, the problem)."""
        joined = os.path.normpath(os.path.join(self.folder, path))
        if not _inside(joined, self.folder):
            return None, f"File outside the binaries location: {path}"
        if joined != self.folder and not os.path.lexists(joined):
            relative = os.path.relpath(joined, self.folder)
            found, near = locate(self.folder, relative, os.path.lexists, self._listing)
            if found is None:
                return None, missing(path, near)
            joined = found
        real = os.path.realpath(joined)
        if not _inside(real, self.root):
            return None, f"File outside the allowed folders: {path}"
        try:
            mode = os.stat(real).st_mode
        except FileNotFoundError:
            return None, f"Missing file: {path}"
        except OSError as e:
            return None, f"Cannot read file {path}: {describe(e)}"
        if not stat.S_ISREG(mode):
            return None, f"Not a file: {path}"
        if not os.access(real, os.R_OK):
            return None, f"Cannot read file {path}: permission denied"
        return real, None

    async def check(self, paths: Sequence[str]) -> dict[str, str]:
        def run() -> dict[str, str]:
            found: dict[str, str] = {}
            for path in dict.fromkeys(paths):
                problem = self._resolve(path)[1]
                if problem:
                    found[path] = problem
            return found

        return await self._thread(run)

    @contextlib.asynccontextmanager
    async def fetch(self, path: str) -> AsyncIterator[Path]:
        real, problem = await self._thread(self._resolve, path)
        if real is None:
            raise FetchError(problem or f"Missing file: {path}")
        yield Path(real)

    @contextlib.asynccontextmanager
    async def source(self, path: str, charge: Charge | None = None) -> AsyncIterator[Source]:
        # A local file is uploaded from where it is (the client sends it by its size); found
        # and measured in one trip to a worker thread.
        def resolve() -> tuple[str | None, str | None, int]:
            real, problem = self._resolve(path)
            return real, problem, os.stat(real).st_size if real is not None else 0

        real, problem, size = await self._thread(resolve)
        if real is None:
            raise FetchError(problem or f"Missing file: {path}")
        self._check_size(path, size, "size")
        self._charge(size, charge)
        yield Path(real)


class ZipLocation(Location):
    """A ZIP file: a local one, or one on an SFTP server (`zip+sftp://`), read where it is
    (its directory once, then each member as it is uploaded, through `RemoteFile`)."""

    def __init__(
        self,
        written: str,
        zip_path: str | None,
        concurrency: int = 4,
        remote: SftpLocation | None = None,
    ) -> None:
        super().__init__(written, concurrency)
        self.zip_path = zip_path
        self.remote = remote
        self._zip: zipfile.ZipFile | None = None
        #: each member's name as meant (`names.zip_member_name`) -> its entry
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._names = NameIndex()
        #: the archive on the SFTP server, read at random (`zip+sftp://`)
        self._remote_file: RemoteFile | None = None

    async def open(self) -> None:
        source: str | RemoteFile
        if self.remote is not None:
            # Read where it is, member by member: no local copy of the archive.
            await self.remote.open()
            self._remote_file = await self._open_remote()
            source = self._remote_file
        else:
            assert self.zip_path is not None
            source = self.zip_path

        def load() -> zipfile.ZipFile:
            try:
                return zipfile.ZipFile(source)
            except FileNotFoundError:
                raise BinariesError(f"binaries-location {self.written}: no such ZIP file") from None
            except (OSError, zipfile.BadZipFile) as e:
                raise BinariesError(
                    f"binaries-location {self.written} is not a readable ZIP file: {describe(e)}"
                ) from None

        self._zip = await trio.to_thread.run_sync(load)
        for info in self._zip.infolist():
            if not info.is_dir():
                name = posixpath.normpath(zip_member_name(info).lstrip("/"))
                self._members.setdefault(exact_key(name), info)
                self._names.add(name)

    def _member(self, path: str) -> zipfile.ZipInfo | None:
        """The entry *path* names (compared in normalization form C), or None."""
        return self._members.get(exact_key(posixpath.normpath(path)))

    def _missing(self, path: str) -> str:
        return missing(path, self._names.near(posixpath.normpath(path)), "the ZIP file")

    @property
    def remote_file(self) -> RemoteFile | None:
        """The archive read over SFTP, while open (`zip+sftp://`): its `fetches` say how many
        round trips reading it took."""
        return self._remote_file

    async def _open_remote(self) -> RemoteFile:
        assert self.remote is not None
        remote = self.remote
        try:
            return await remote.open_file(remote.address.path)
        except FileNotFoundError:
            raise BinariesError(f"binaries-location {self.written}: no such ZIP file") from None
        except Exception as e:  # paramiko's SSHException derives from Exception alone
            raise BinariesError(
                f"binaries-location {self.written}: cannot open the ZIP file over SFTP: "
                f"{describe(e)}"
            ) from None

    async def aclose(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        remote_file, self._remote_file = self._remote_file, None
        if remote_file is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(remote_file.close)
        if self.remote is not None:
            await self.remote.aclose()
        await super().aclose()

    async def _check_one(self, path: str) -> str | None:
        return None if self._member(path) is not None else self._missing(path)

    async def _download(self, path: str, local: Path) -> None:
        info = self._member(path)
        archive = self._zip
        if info is None or archive is None:
            raise FetchError(self._missing(path))

        def extract() -> None:
            try:
                with archive.open(info) as source, local.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
            except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as e:
                raise FetchError(f"cannot read {path} from the ZIP file: {describe(e)}") from None

        await self._thread(extract)

    async def _digest(self, path: str) -> str | None:
        info = self._member(path)
        archive = self._zip
        if info is None or archive is None or self.remote is not None:
            # Over SFTP, reading the member twice would double the transfer: the client
            # hashes it as it streams and compares with the digest Fedora reports.
            return None

        def digest() -> str | None:
            hasher = hashlib.sha256()
            try:
                with archive.open(info) as member:
                    while data := member.read(CHUNK):
                        hasher.update(data)
            except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError):
                return None  # the stream itself will fail, with the reason
            return f"sha-256={hasher.hexdigest()}"

        return await self._thread(digest)

    @contextlib.asynccontextmanager
    async def _stream(self, path: str) -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
        info = self._member(path)
        archive = self._zip
        if info is None or archive is None:
            raise FetchError(self._missing(path))
        errors = (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError)
        try:
            member = await self._thread(archive.open, info)
        except errors as e:
            raise FetchError(f"cannot read {path} from the ZIP file: {describe(e)}") from None

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                try:
                    data = await self._thread(member.read, CHUNK)
                except errors as e:  # a bad CRC, a broken deflate stream...
                    raise FetchError(
                        f"cannot read {path} from the ZIP file: {describe(e)}"
                    ) from None
                if not data:
                    return
                yield data

        try:
            yield info.file_size, chunks()
        finally:
            member.close()


# --------------------------------------------------------------------------------------------
# SFTP
# --------------------------------------------------------------------------------------------


class SftpLocation(Location):
    """A folder on an SFTP server. One SSH connection, an SFTP channel per worker thread."""

    def __init__(
        self, written: str, address: SftpAddress, settings: SftpSettings, concurrency: int = 4
    ) -> None:
        super().__init__(written, concurrency)
        self.address = address
        self.settings = settings
        self._client: Any = None
        self._channels: list[Any] = []
        #: folder -> (its modification time, the names in it), for names not found as written
        self._listings: dict[str, tuple[int, NameIndex]] = {}

    async def open(self) -> None:
        if self._client is None:
            try:
                self._client = await trio.to_thread.run_sync(connect, self.address, self.settings)
            except SftpError as e:
                raise BinariesError(f"binaries-location {self.written}: {e}") from None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        channels, self._channels = self._channels, []

        def close() -> None:
            for channel in channels:
                with contextlib.suppress(Exception):
                    channel.close()
            if client is not None:
                client.close()

        await trio.to_thread.run_sync(close)
        await super().aclose()

    def _remote(self, path: str) -> str:
        return posixpath.join(self.address.path, path)

    def _locate(self, sftp: Any, path: str) -> tuple[str | None, str | None]:
        """(the remote path of *path*, None), each part compared as a person sees it (see
        `names.locate`), or (None, the problem): in a worker thread, with its channel."""
        remote = self._remote(path)
        try:
            sftp.stat(remote)
            return remote, None
        except FileNotFoundError:
            pass

        def exists(candidate: str) -> bool:
            try:
                sftp.stat(candidate)
            except FileNotFoundError:
                return False
            return True

        def names_in(folder: str) -> NameIndex | None:
            try:
                changed = int(sftp.stat(folder).st_mtime or 0)
                kept = self._listings.get(folder)
                if kept is None or kept[0] != changed:
                    kept = (changed, NameIndex(sftp.listdir(folder)))
                    self._listings[folder] = kept
            except OSError:
                return None
            return kept[1]

        found, near = locate(self.address.path, path, exists, names_in)
        return (found, None) if found is not None else (None, missing(path, near))

    async def _with_channel(self, work: Callable[[Any], T]) -> T:
        async with self.limiter:
            channel = self._channels.pop() if self._channels else None
            client = self._client
            if client is None:
                raise FetchError(f"binaries-location {self.written} is closed")

            def run() -> tuple[Any, T]:
                sftp = channel or open_sftp(client, self.address, self.settings.timeout)
                return sftp, work(sftp)

            try:
                sftp, result = await trio.to_thread.run_sync(run)
            except BaseException:
                if channel is not None:
                    with contextlib.suppress(Exception):
                        channel.close()
                raise
            self._channels.append(sftp)
            return result

    async def _check_one(self, path: str) -> str | None:
        def probe(sftp: Any) -> str | None:
            try:
                remote, problem = self._locate(sftp, path)
                if remote is None:
                    return problem
                attributes = sftp.stat(remote)
            except FileNotFoundError:
                return f"Missing file: {path}"
            except OSError as e:
                return f"Cannot read file {path}: {describe(e)}"
            if not stat.S_ISREG(attributes.st_mode or 0):
                return f"Not a file: {path}"
            return None

        try:
            return await self._with_channel(probe)
        except Exception as e:  # paramiko's SSHException derives from Exception alone
            return f"Cannot check file {path} over SFTP: {describe(e)}"

    async def open_file(self, remote: str) -> RemoteFile:
        """The remote file at the absolute path *remote*, open for reading at random (its
        channel stays in this location's pool, closed with it). FileNotFoundError, OSError or
        paramiko's exceptions when it cannot be opened."""

        def start(sftp: Any) -> RemoteFile:
            handle = sftp.open(remote, "rb")
            try:
                size = handle.stat().st_size
            except BaseException:
                handle.close()
                raise
            return RemoteFile(handle, size or 0, name=remote)

        return await self._with_channel(start)

    async def _download(self, path: str, local: Path) -> None:
        def get(sftp: Any) -> None:
            remote, problem = self._locate(sftp, path)
            if remote is None:
                raise FetchError(problem or f"Missing file: {path}")
            sftp.get(remote, str(local))

        try:
            await self._with_channel(get)
        except FetchError:
            raise
        except FileNotFoundError:
            raise FetchError(f"Missing file: {path}") from None
        except Exception as e:
            raise FetchError(f"cannot download {path} over SFTP: {describe(e)}") from None

    @contextlib.asynccontextmanager
    async def _stream(self, path: str) -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
        client = self._client
        if client is None:
            raise FetchError(f"binaries-location {self.written} is closed")
        channel = self._channels.pop() if self._channels else None

        def start() -> tuple[Any, Any, int]:
            sftp = channel or open_sftp(client, self.address, self.settings.timeout)
            try:
                found, problem = self._locate(sftp, path)
                if found is None:
                    raise FetchError(problem or f"Missing file: {path}")
                handle = sftp.open(found, "rb")
                size = handle.stat().st_size
                # read ahead, with a bounded number of requests in flight (memory stays flat)
                handle.prefetch(size, max_concurrent_requests=32)
            except BaseException:
                sftp.close()
                raise
            return sftp, handle, size

        try:
            sftp, handle, size = await self._thread(start)
        except FetchError:
            raise
        except FileNotFoundError:
            raise FetchError(f"Missing file: {path}") from None
        except Exception as e:  # paramiko's SSHException derives from Exception alone
            raise FetchError(f"cannot download {path} over SFTP: {describe(e)}") from None

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                try:
                    data = await self._thread(handle.read, CHUNK)
                except Exception as e:
                    raise FetchError(f"cannot download {path} over SFTP: {describe(e)}") from None
                if not data:
                    return
                yield data

        healthy = False
        try:
            yield size, chunks()
            healthy = True
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(handle.close)
            if healthy:
                self._channels.append(sftp)
            else:
                with contextlib.suppress(Exception):
                    sftp.close()


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


class HttpLocation(Location):
    """Files under an http(s) URL."""

    def __init__(
        self,
        written: str,
        base: str,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(written, concurrency)
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=True, timeout=self.timeout, transport=self.transport
            )
        return self._client

    def url(self, path: str) -> str:
        return self.base + quote(path, safe="/")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        await super().aclose()

    async def _check_one(self, path: str) -> str | None:
        url = self.url(path)
        try:
            async with self.limiter:
                response = await self._http.head(url)
                if response.status_code in (405, 501):
                    async with self._http.stream("GET", url) as streamed:
                        response = streamed
        except httpx.HTTPError as e:
            return f"Cannot check file {path}: {type(e).__name__}: {e}".rstrip(": ")
        if response.status_code in (404, 410):
            return f"Missing file: {path}"
        if response.status_code != 200:
            return f"Cannot check file {path}: HTTP {response.status_code}"
        return None

    async def _download(self, path: str, local: Path) -> None:
        async with (
            self._stream(path) as (_declared, chunks),
            await trio.open_file(local, "wb") as out,
        ):
            async for chunk in chunks:
                await out.write(chunk)

    @contextlib.asynccontextmanager
    async def _stream(self, path: str) -> AsyncIterator[tuple[int | None, AsyncIterator[bytes]]]:
        url = self.url(path)
        try:
            async with self.limiter, self._http.stream("GET", url) as response:
                if response.status_code in (404, 410):
                    raise FetchError(f"Missing file: {path}")
                if response.status_code != 200:
                    raise FetchError(f"cannot download {path}: HTTP {response.status_code}")
                length = response.headers.get("Content-Length", "")
                declared = int(length) if length.isdigit() else None

                async def chunks() -> AsyncIterator[bytes]:
                    try:
                        async for chunk in response.aiter_bytes(CHUNK):
                            yield chunk
                    except httpx.HTTPError as e:
                        raise FetchError(
                            f"cannot download {path}: {type(e).__name__}: {e}"
                        ) from None

                yield declared, chunks()
        except httpx.HTTPError as e:
            raise FetchError(f"cannot download {path}: {type(e).__name__}: {e}") from None


# --------------------------------------------------------------------------------------------


def parse_location(
    text: str,
    config: ImportConfig,
    *,
    concurrency: int | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Location:
    """The location *text* names, checked against *config* (no I/O), or BinariesError."""
    location = _location(text, config, concurrency=concurrency, transport=transport)
    location.limits = SizeLimits.of(config)
    return location


def _location(
    text: str,
    config: ImportConfig,
    *,
    concurrency: int | None,
    transport: httpx.AsyncBaseTransport | None,
) -> Location:
    written = text.strip()
    if not written:
        raise BinariesError("binaries-location is empty")
    workers = concurrency or config.max_concurrent_items
    scheme = written.split(":", 1)[0].lower() if ":" in written else ""
    try:
        if scheme in ("http", "https"):
            if "@" in urlsplit(written).netloc:
                # as for sftp://: it would be kept in the job's config.yml, which
                # GET /jobs/<id> serves to anyone who asks
                raise BinariesError(
                    "binaries-location must not carry a user name or password "
                    "(it is kept in the job's folder and shown by the job API)"
                )
            return HttpLocation(written, written, workers, transport=transport)
        if scheme in ("sftp", "zip+sftp"):
            address = parse_sftp_url(written, "binaries-location")
            settings = login_settings(config, SECTION, f"binaries-location {written}")
            if scheme == "sftp":
                return SftpLocation(written, address, settings, workers)
            remote = SftpLocation(written, address, settings, 1)
            return ZipLocation(written, None, workers, remote=remote)
        if scheme == "zip":
            real, _root = _local_path(written[4:], config, written)
            return ZipLocation(written, real, workers)
    except SftpError as e:
        raise BinariesError(str(e)) from None
    if scheme and "://" in written:
        raise BinariesError(
            f"binaries-location {written}: unknown scheme {scheme!r} "
            "(expected a folder, zip:, sftp://, zip+sftp:// or http(s)://)"
        )
    real, root = _local_path(written, config, written)
    return LocalLocation(written, real, root, workers)

"""Where an export's ZIP goes: a local file inside an allowed folder, or a file over SFTP.

`parse_destination(text, config)` checks an `output-dest` without touching anything and returns
a `LocalDestination` or `SftpDestination`, or raises `DestinationError` with one line that
says why it is refused. `destination.open()` (blocking: run it in a worker thread) returns a
`Sink`: a binary stream to write the ZIP into, then `commit()` to put the file in place
atomically, or `abort()` to leave nothing behind. Both kinds write `.<name>.<random>.part`
beside the target and rename it at the end, so a reader never sees half a ZIP.

Parts cut short: `abort()` removes its part (over SFTP, through a new connection when the one
it wrote on has failed; what it still cannot remove it names in `left`). A part whose export
died with its process is swept by the next export to the same destination: while an export
runs, `touch()` (every `TOUCH_SECONDS`, from another thread, on a channel of its own) keeps its
part's modification time fresh, so `open()` takes every other `.<name>.*.part` beside the target
that has not changed for `STALE_PART_SECONDS` (by the destination's own clock: compared with
the new part's time) for one left behind, and removes it (named in `swept`).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final, Protocol
from urllib.parse import urlsplit

import attrs

from ..config import ExportConfig
from ..durable import fsync_dir
from ..errors import describe
from ..jobs.result import JobError
from ..sftp import (
    SFTP_TIMEOUT,
    SftpAddress,
    SftpError,
    SftpSettings,
    connect,
    login_settings,
    open_sftp,
    parse_sftp_url,
)

__all__ = [
    "Destination",
    "DestinationError",
    "LocalDestination",
    "SftpDestination",
    "Sink",
    "parse_destination",
    "with_zip_suffix",
]

#: the configuration section of the export command's keys, named in messages
SECTION: Final = "COMMANDS.EXPORT"
#: bytes buffered before a write goes to the file or the SFTP server
WRITE_BUFFER: Final = 1024 * 1024
#: seconds between two touches of the part an export is writing
TOUCH_SECONDS: Final = 20.0
#: a part unchanged for this long (seconds) was left by an export that was cut short
STALE_PART_SECONDS: Final = 120.0
#: seconds allowed to the new connection that removes a part the failed one could not
CLEANUP_TIMEOUT: Final = 10.0
#: what an SFTP failure mid-export asks of the user
_SFTP_ADVICE: Final = "check that the host answers and has room, then run the export again"


class DestinationError(JobError):
    """The output destination is refused or cannot be written; the message is one line."""


class Sink(Protocol):
    """An open destination: write the ZIP into `stream`, then commit or abort."""

    stream: IO[bytes]
    #: stale parts of earlier exports to the same destination that `open()` removed
    swept: list[str]
    #: after `abort()`: the part it could not remove (the next export to it sweeps it)
    left: str | None

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def touch(self) -> None:
        """Mark the part as being written (blocking; safe beside a write in another thread)."""
        ...


def part_pattern(name: str) -> re.Pattern[str]:
    """The names of the parts of exports to the file *name* (`.<name>.<random>.part`)."""
    return re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]+\.part")


def _stale(mtime: float | None, now: float | None) -> bool:
    return mtime is not None and now is not None and now - mtime > STALE_PART_SECONDS


def with_zip_suffix(text: str) -> str:
    """*text* ending in `.zip` (any case): as written, or with `.zip` appended."""
    return text if text.lower().endswith(".zip") else f"{text}.zip"


# --------------------------------------------------------------------------------------------
# Local files
# --------------------------------------------------------------------------------------------


@attrs.frozen
class LocalDestination:
    #: the `output-dest` as written, `.zip` appended when missing
    written: str
    #: the folder the file goes into, every symbolic link resolved
    folder: Path
    name: str
    #: the allowed folder (resolved) that holds it
    root: Path

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def bag_name(self) -> str:
        return _bag_name(self.name)

    def describe(self) -> str:
        return str(self.path)

    def open(self) -> Sink:
        """Create the folder if needed, and a temporary file in it (blocking)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DestinationError(f"cannot create the folder {self.folder}: {describe(e)}") from e
        # Checked again now that the folder exists: a link made meanwhile must not lead out.
        real = Path(os.path.realpath(self.folder))
        if not _inside(real, self.root):
            raise DestinationError(f"output-dest {self.written} is outside the allowed folders")
        if self.path.is_dir():
            raise DestinationError(f"output-dest {self.written} is a folder")
        try:
            fd, part = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".part", dir=real)
        except OSError as e:
            raise DestinationError(f"cannot write in {real}: {describe(e)}") from e
        os.fchmod(fd, 0o644)
        sink = _LocalSink(os.fdopen(fd, "wb", buffering=WRITE_BUFFER), Path(part), real / self.name)
        sink.swept = _sweep_local(real, self.name, Path(part), os.fstat(fd).st_mtime)
        return sink


def _sweep_local(folder: Path, name: str, mine: Path, now: float) -> list[str]:
    """Remove the stale parts of exports to *name* in *folder* (not *mine*); their paths."""
    pattern = part_pattern(name)
    swept = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name == mine.name or not pattern.fullmatch(entry.name):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and _stale(
                    entry.stat(follow_symlinks=False).st_mtime, now
                ):
                    os.unlink(entry.path)
                    swept.append(entry.path)
    return swept


class _LocalSink:
    def __init__(self, stream: IO[bytes], part: Path, final: Path) -> None:
        self.stream = stream
        self.part = part
        self.final = final
        self.swept: list[str] = []
        self.left: str | None = None

    def touch(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.part)

    def commit(self) -> None:
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        os.replace(self.part, self.final)
        fsync_dir(self.final.parent)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        try:
            self.part.unlink(missing_ok=True)
        except OSError:
            self.left = str(self.part)


def _local(text: str, config: ExportConfig) -> LocalDestination:
    if "\0" in text:
        raise DestinationError("output-dest holds a NUL character")
    written = with_zip_suffix(text)
    path = Path(written)
    if not path.is_absolute():
        raise DestinationError(f"output-dest {text} is not an absolute path")
    if not config.allowed_output_dirs:
        raise DestinationError(
            f"output-dest {text} is a local path, and no local folder is allowed "
            f"({SECTION}.ALLOWED_OUTPUT_DIRS)"
        )
    # The folder is resolved (links, `..`) as it is now; the file name itself is never
    # followed: the finished file replaces whatever entry has that name.
    folder = Path(os.path.realpath(path.parent))
    for allowed in config.allowed_output_dirs:
        root = Path(os.path.realpath(allowed))
        if _inside(folder, root):
            return LocalDestination(written=written, folder=folder, name=path.name, root=root)
    raise DestinationError(f"output-dest {text} is outside the folders allowed for exports")


def _inside(folder: Path, root: Path) -> bool:
    return folder == root or folder.is_relative_to(root)


# --------------------------------------------------------------------------------------------
# SFTP
# --------------------------------------------------------------------------------------------


@attrs.frozen
class SftpDestination:
    written: str
    user: str
    host: str
    port: int
    #: the remote path, as the URL names it (absolute)
    path: str
    key_file: Path
    known_hosts: Path | None = None
    accept_unknown_hosts: bool = False
    timeout: float = SFTP_TIMEOUT

    @property
    def bag_name(self) -> str:
        return _bag_name(PurePosixPath(self.path).name)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return f"sftp://{self.user}@{self.address}{self.path}"

    def _login(self, timeout: float) -> tuple[Any, Any]:
        """An SSH client logged in, and an SFTP channel on it (blocking); DestinationError."""
        address = SftpAddress(user=self.user, host=self.host, port=self.port, path=self.path)
        settings = SftpSettings(
            key_file=self.key_file,
            known_hosts=self.known_hosts,
            accept_unknown_hosts=self.accept_unknown_hosts,
            timeout=timeout,
            section=SECTION,
        )
        try:
            client = connect(address, settings)
        except SftpError as e:
            raise DestinationError(str(e)) from e
        try:
            return client, open_sftp(client, address, timeout)
        except SftpError as e:
            client.close()
            raise DestinationError(str(e)) from e

    def open(self) -> Sink:
        """Log in and open a temporary remote file beside the target (blocking)."""
        client, sftp = self._login(self.timeout)
        folder = str(PurePosixPath(self.path).parent)
        name = PurePosixPath(self.path).name
        part = f"{folder.rstrip('/')}/.{name}.{secrets.token_hex(6)}.part"
        try:
            try:
                if stat.S_ISDIR(sftp.stat(self.path).st_mode or 0):
                    raise DestinationError(f"output-dest {self.written} is a folder")
            except FileNotFoundError:
                pass
            remote = sftp.open(part, "wb")
            now = sftp.stat(part).st_mtime
            keeper = open_sftp(client, SftpAddress(self.user, self.host, self.port, part), 30)
        except (OSError, SftpError) as e:
            client.close()
            raise DestinationError(
                f"cannot write {folder} on SFTP host {self.address}: {describe(e)}"
            ) from e
        except DestinationError:
            client.close()
            raise
        remote.set_pipelined(True)
        sink = _SftpSink(self, client, sftp, keeper, remote, part)
        sink.swept = _sweep_sftp(sftp, folder, name, part, now)
        return sink


def _sweep_sftp(sftp: Any, folder: str, name: str, mine: str, now: float | None) -> list[str]:
    """Remove the stale parts of exports to *name* in the remote *folder* (not *mine*)."""
    pattern = part_pattern(name)
    swept: list[str] = []
    try:
        entries = sftp.listdir_attr(folder)
    except OSError:
        return swept
    for entry in entries:
        path = f"{folder.rstrip('/')}/{entry.filename}"
        if path == mine or not pattern.fullmatch(entry.filename):
            continue
        if stat.S_ISREG(entry.st_mode or 0) and _stale(entry.st_mtime, now):
            with contextlib.suppress(OSError):
                sftp.remove(path)
                swept.append(path)
    return swept


class _SftpRaw(io.RawIOBase):
    """A remote file as an unseekable raw stream: the ZIP is written front to back (with data
    descriptors), never going back over the network to patch a header. A write that fails
    is a DestinationError that names the host."""

    def __init__(self, remote: Any, failed: Callable[[BaseException], DestinationError]) -> None:
        self._remote = remote
        self._failed = failed
        self.written = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        try:
            self._remote.write(view.tobytes())
        except Exception as e:  # OSError, and paramiko's SSHException (Exception alone)
            raise self._failed(e) from e
        self.written += len(view)
        return len(view)


class _SftpSink:
    def __init__(
        self,
        destination: SftpDestination,
        client: Any,
        sftp: Any,
        keeper: Any,
        remote: Any,
        part: str,
    ) -> None:
        self.destination = destination
        self.client = client
        self.sftp = sftp
        #: a channel of its own for `touch`, beside the writes on `sftp`
        self.keeper = keeper
        self.remote = remote
        self.part = part
        self.final = destination.path
        self.address = destination.address
        self.swept: list[str] = []
        self.left: str | None = None
        self.stream: IO[bytes] = io.BufferedWriter(_SftpRaw(remote, self._failed), WRITE_BUFFER)

    def _failed(self, e: BaseException) -> DestinationError:
        return DestinationError(
            f"SFTP host {self.address} failed while {self.final} was written there: "
            f"{_sftp_reason(e, self.destination.timeout)} ({_SFTP_ADVICE})"
        )

    def touch(self) -> None:
        with contextlib.suppress(Exception):
            self.keeper.utime(self.part, None)

    def commit(self) -> None:
        try:
            self.stream.flush()
            self.remote.close()  # waits for the server to acknowledge every pipelined write
            try:
                self.sftp.posix_rename(self.part, self.final)
            except OSError:
                # A server without the posix-rename extension will not rename over a file.
                with contextlib.suppress(OSError):
                    self.sftp.remove(self.final)
                self.sftp.rename(self.part, self.final)
        except DestinationError:
            self.abort()
            raise
        except Exception as e:
            self.abort()
            raise self._failed(e) from e
        self.client.close()

    def abort(self) -> None:
        # Best effort: the connection may be what failed; then a new one removes the part.
        with contextlib.suppress(Exception):
            self.remote.close()
        try:
            self.sftp.remove(self.part)
        except FileNotFoundError:
            pass
        except Exception:
            self._remove_anew()
        finally:
            self.client.close()

    def _remove_anew(self) -> None:
        try:
            client, sftp = self.destination._login(CLEANUP_TIMEOUT)
        except DestinationError:
            self.left = self.part
            return
        try:
            sftp.remove(self.part)
        except FileNotFoundError:
            pass
        except Exception:
            self.left = self.part
        finally:
            client.close()


def _sftp(text: str, config: ExportConfig) -> SftpDestination:
    if text.endswith("/") or urlsplit(text).path in ("", "/"):
        raise DestinationError(f"output-dest {text} must name a file (sftp://user@host/path)")
    written = with_zip_suffix(text)
    key = f"the key in {SECTION}.SSH_PRIVATE_KEY"
    try:
        parse_sftp_url(text, "output-dest", key=key)
        address = parse_sftp_url(written, "output-dest", key=key)
    except SftpError as e:
        raise DestinationError(str(e)) from None
    path = address.path
    if path == "/" or path.endswith("/"):
        raise DestinationError(f"output-dest {text} must name a file (sftp://user@host/path)")
    try:
        settings = login_settings(config, SECTION, "output-dest")
    except SftpError as e:
        raise DestinationError(str(e)) from None
    return SftpDestination(
        written=written,
        user=address.user,
        host=address.host,
        port=address.port,
        path=path,
        key_file=settings.key_file,
        known_hosts=settings.known_hosts,
        accept_unknown_hosts=settings.accept_unknown_hosts,
    )


# --------------------------------------------------------------------------------------------


Destination = LocalDestination | SftpDestination


def parse_destination(text: str, config: ExportConfig) -> Destination:
    """The destination *text* names, checked against *config*, or DestinationError."""
    text = text.strip()
    if not text:
        raise DestinationError("output-dest is empty")
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    if scheme == "sftp":
        return _sftp(text, config)
    if scheme:
        raise DestinationError(
            f"output-dest {text} is neither a local path nor sftp://user@host[:port]/path"
        )
    return _local(text, config)


def _bag_name(filename: str) -> str:
    stem = filename[: -len(".zip")] if filename.lower().endswith(".zip") else filename
    stem = stem.strip().strip(".")
    return stem or "export"


def _sftp_reason(e: BaseException, timeout: float) -> str:
    if isinstance(e, TimeoutError):
        return f"no answer for {timeout:g} s"
    return describe(e)

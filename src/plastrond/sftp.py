"""SFTP connections for the commands that read or write over SSH (import and export).

`connect(address, settings)` logs in with the configured private key and returns a paramiko
`SSHClient` (`open_sftp(client, address, timeout)` opens an SFTP channel on it), or raises
`SftpError` with one line that names the host and the configuration key to look at. Host keys
are checked against `SFTP_KNOWN_HOSTS` (the system's known hosts when unset); an unknown host is
refused unless `SFTP_ACCEPT_UNKNOWN_HOSTS` is true, and then its key is remembered in that file.

`login_settings(keys, section, what)` makes a command's section's keys (`config.SftpKeys`) the
settings of a connection, or says that no key is configured.

`parse_sftp_url(text, what)` splits `sftp://user@host[:port]/path` (also `zip+sftp://`).

`RemoteFile(handle, size)` reads a remote file at random, as `zipfile` reads an archive (seek,
tell, read): each read the buffer cannot serve fetches at least `READ_AHEAD` bytes in one
pipelined `readv` (32 KiB SFTP requests in flight together), so that zipfile's many small
reads (a member's header, its name, its extra field) cost one round trip between them rather
than one each, and a large read costs one round trip instead of one per 32 KiB.

Everything here blocks (paramiko): call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

import attrs

from .errors import PlastronError, describe

if TYPE_CHECKING:
    import paramiko

    from .config import SftpKeys

__all__ = [
    "READ_AHEAD",
    "SFTP_TIMEOUT",
    "RemoteFile",
    "SftpAddress",
    "SftpError",
    "SftpSettings",
    "connect",
    "login_settings",
    "open_sftp",
    "parse_sftp_url",
]

#: seconds allowed for the TCP connection, the SSH banner, and the authentication
SFTP_TIMEOUT: Final = 30.0
#: the fewest bytes `RemoteFile` fetches at once
READ_AHEAD: Final = 64 * 1024
#: SFTP read requests one fetch keeps in flight (of paramiko's 32 KiB each)
READS_IN_FLIGHT: Final = 64


class SftpError(PlastronError):
    """An SFTP connection or transfer failed, or an sftp:// URL is unusable; one line."""


@attrs.frozen
class SftpAddress:
    """Where an sftp:// URL points: who logs in where, and the remote path."""

    user: str
    host: str
    port: int
    path: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return f"sftp://{self.user}@{self.address}{self.path}"


@attrs.frozen
class SftpSettings:
    """How to log in: the configuration keys of one command's section."""

    key_file: Path
    known_hosts: Path | None = None
    accept_unknown_hosts: bool = False
    timeout: float = SFTP_TIMEOUT
    #: the configuration section the keys come from, named in error messages
    section: str = "COMMANDS"


def login_settings(keys: SftpKeys, section: str, what: str) -> SftpSettings:
    """How to log in as *section* (`COMMANDS.IMPORT`) configures it, for the URL that *what*
    (`binaries-location ...`, `output-dest`) names; SftpError when the section has no key."""
    if keys.ssh_private_key is None:
        raise SftpError(
            f"{what} is an SFTP URL, and no key is configured ({section}.SSH_PRIVATE_KEY)"
        )
    return SftpSettings(
        key_file=keys.ssh_private_key,
        known_hosts=keys.sftp_known_hosts,
        accept_unknown_hosts=keys.sftp_accept_unknown_hosts,
        section=section,
    )


def parse_sftp_url(text: str, what: str, *, key: str = "the configured private key") -> SftpAddress:
    """The parts of `sftp://user@host[:port]/path` (any scheme ending in `sftp`); SftpError
    naming *what* (e.g. "binaries-location") when it is not usable (*key* says what logs in
    instead of a password)."""
    try:
        parts = urlsplit(text)
        port = parts.port or 22
    except ValueError:
        raise SftpError(f"{what} {text} is not a usable sftp:// URL") from None
    if parts.password is not None:
        raise SftpError(f"{what} must not carry a password; {key} is used")
    if not parts.username or not parts.hostname:
        raise SftpError(f"{what} {text} must name a user and a host (sftp://user@host/path)")
    if parts.query or parts.fragment:
        raise SftpError(f"{what} {text} must not have a query or fragment")
    path = unquote(parts.path) or "/"
    return SftpAddress(user=unquote(parts.username), host=parts.hostname, port=port, path=path)


def _known(client: Any, address: SftpAddress) -> bool:
    name = address.host if address.port == 22 else f"[{address.host}]:{address.port}"
    return client.get_host_keys().lookup(name) is not None


def _load_host_keys(client: Any, settings: SftpSettings) -> None:
    if settings.known_hosts is None:
        client.load_system_host_keys()
        return
    if settings.known_hosts.exists():
        client.load_host_keys(str(settings.known_hosts))
    elif not settings.accept_unknown_hosts:
        raise FileNotFoundError(2, "no such file", str(settings.known_hosts))


def connect(address: SftpAddress, settings: SftpSettings) -> paramiko.SSHClient:
    """An SSH client logged in at *address* (blocking)."""
    import paramiko

    section = settings.section
    try:
        key = paramiko.PKey.from_path(settings.key_file)
    except OSError as e:
        raise SftpError(
            f"cannot read {settings.key_file} for SFTP: {describe(e)} ({section}.SSH_PRIVATE_KEY)"
        ) from e
    except (paramiko.SSHException, ValueError) as e:
        raise SftpError(
            f"{settings.key_file} is not a usable private key: {e} ({section}.SSH_PRIVATE_KEY)"
        ) from e
    client = paramiko.SSHClient()
    try:
        _load_host_keys(client, settings)
        policy: paramiko.MissingHostKeyPolicy = (
            paramiko.AutoAddPolicy() if settings.accept_unknown_hosts else paramiko.RejectPolicy()
        )
        client.set_missing_host_key_policy(policy)
        known_before = _known(client, address)
        client.connect(
            address.host,
            port=address.port,
            username=address.user,
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=settings.timeout,
            banner_timeout=settings.timeout,
            auth_timeout=settings.timeout,
        )
        if settings.accept_unknown_hosts and settings.known_hosts is not None and not known_before:
            # Remembered, so that a later change of the host's key is noticed.
            client.save_host_keys(str(settings.known_hosts))
    except paramiko.BadHostKeyException as e:
        client.close()
        raise SftpError(
            f"SFTP host {address.address} offered a key that does not match known_hosts "
            f"({e.key.get_name()}); refused"
        ) from e
    except paramiko.AuthenticationException as e:
        client.close()
        raise SftpError(
            f"SFTP login as {address.user} at {address.address} refused: {e} "
            f"(check {section}.SSH_PRIVATE_KEY)"
        ) from e
    except paramiko.SSHException as e:
        client.close()
        if "not found in known_hosts" in str(e):
            raise SftpError(
                f"SFTP host {address.address} is not in known_hosts; refused "
                f"({section}.SFTP_KNOWN_HOSTS, SFTP_ACCEPT_UNKNOWN_HOSTS)"
            ) from e
        raise SftpError(f"SFTP to {address.address} failed: {e}") from e
    except OSError as e:  # socket errors and time-outs too
        client.close()
        if isinstance(e, FileNotFoundError | PermissionError) and e.filename:
            raise SftpError(
                f"cannot read {e.filename} for SFTP: {describe(e)} ({section}.SFTP_KNOWN_HOSTS)"
            ) from e
        raise SftpError(f"cannot connect to SFTP host {address.address}: {describe(e)}") from e
    return client


def open_sftp(client: paramiko.SSHClient, address: SftpAddress, timeout: float) -> Any:
    """A new SFTP channel on *client* whose reads and writes time out after *timeout* seconds,
    so that a server that stops answering fails the work instead of hanging it (blocking)."""
    import paramiko

    try:
        sftp = client.open_sftp()
    except (paramiko.SSHException, OSError) as e:
        raise SftpError(f"SFTP to {address.address} failed: {describe(e)}") from e
    channel = sftp.get_channel()
    if channel is not None:
        channel.settimeout(timeout)
    return sftp


class RemoteFile:
    """A remote file opened for reading (a paramiko `SFTPFile`), read at random through a
    read-ahead buffer: what `zipfile.ZipFile` needs (`seek`, `tell`, `read`, `seekable`).
    The buffer holds one fetch (at least `READ_AHEAD` bytes, at most what one read asked
    for), so memory stays bounded whatever the file's size. SFTP failures are raised as
    OSError (with the reason), which zipfile's callers already handle. Not thread-safe by
    itself: zipfile serializes the reads of its members (its lock is held around each
    seek-and-read). Blocking: call it from worker threads."""

    def __init__(
        self, handle: Any, size: int, *, name: str = "", read_ahead: int = READ_AHEAD
    ) -> None:
        self._handle = handle
        self.size = size
        self.name = name
        self.read_ahead = max(1, read_ahead)
        self._pos = 0
        self._buffer = b""
        self._buffer_at = 0
        #: how many fetches (round trips) were made, and bytes fetched, in all
        self.fetches = 0
        self.fetched = 0
        self.closed = False

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._pos + offset
        elif whence == os.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = position
        return position

    def read(self, n: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        left = max(0, self.size - self._pos)
        n = left if n is None or n < 0 else min(n, left)
        if n == 0:
            return b""
        parts: list[bytes] = []
        offset = self._pos - self._buffer_at
        if 0 <= offset < len(self._buffer):
            part = self._buffer[offset : offset + n]
            parts.append(part)
            self._pos += len(part)
            n -= len(part)
        if n > 0:
            want = min(max(n, self.read_ahead), self.size - self._pos)
            data = self._fetch(self._pos, want)
            self._buffer, self._buffer_at = data, self._pos
            part = data[:n]
            parts.append(part)
            self._pos += len(part)
        if self._pos >= self._buffer_at + len(self._buffer):
            self._buffer = b""  # all of it read: not kept
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _fetch(self, offset: int, length: int) -> bytes:
        self.fetches += 1
        try:
            blocks = self._handle.readv(
                [(offset, length)], max_concurrent_prefetch_requests=READS_IN_FLIGHT
            )
            data = b"".join(blocks)
        except OSError as e:
            raise OSError(e.errno, f"SFTP read failed: {describe(e)}") from e
        except Exception as e:  # paramiko's SSHException and SFTPError derive from Exception
            raise OSError(errno.EIO, f"SFTP read failed: {describe(e)}") from e
        self.fetched += len(data)
        return data

    def close(self) -> None:
        """Close the remote file (its SFTP channel is the caller's)."""
        if not self.closed:
            self.closed = True
            self._buffer = b""
            # closing a file on a broken connection: nothing to keep
            with contextlib.suppress(Exception):
                self._handle.close()

    def __enter__(self) -> RemoteFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

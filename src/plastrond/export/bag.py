"""A BagIt bag (RFC 8493) written straight into a ZIP stream, one entry after another.

`BagZipWriter(stream, "export-42")` opens the ZIP on any writable binary stream (a local file,
or an SFTP file that cannot seek) and writes `export-42/bagit.txt` at once. Payload files are
added whole with `add_file` from a file on disk whose digests are already known (or computed
while copying); `close()` writes the manifests, `bag-info.txt`, the tag manifests and the ZIP's
central directory. Nothing is kept in memory but one copy buffer: the manifest lines go to
files in a scratch folder as the payload grows.

Every method blocks: call them from a worker thread (`trio.to_thread.run_sync`), one at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import struct
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Final

import attrs

__all__ = [
    "ALGORITHMS",
    "BAGIT_VERSION",
    "BagZipWriter",
    "Digester",
    "PayloadFile",
    "encode_manifest_path",
]

BAGIT_VERSION: Final = "1.0"
#: manifest algorithms, as bagit-python writes by default
ALGORITHMS: Final = ("sha256", "sha512")
#: bytes copied at a time into the ZIP
COPY_CHUNK: Final = 1024 * 1024
#: the MIME types whose files are compressed in the ZIP (others, images mostly, are stored)
_COMPRESSIBLE_PREFIXES: Final = ("text/",)
_COMPRESSIBLE: Final = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/n-triples",
        "application/rdf+xml",
        "application/xml",
        "application/xhtml+xml",
        "application/csv",
    }
)
#: the ZIP "extended timestamp" extra field (Info-ZIP, 0x5455): the exact UTC mtime
_EXTENDED_TIMESTAMP: Final = 0x5455


class Digester:
    """The manifest digests of one stream of bytes, fed chunk by chunk."""

    def __init__(self) -> None:
        self._hashers = {name: hashlib.new(name) for name in ALGORITHMS}
        self.size = 0

    def update(self, chunk: bytes) -> None:
        for hasher in self._hashers.values():
            hasher.update(chunk)
        self.size += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}


@attrs.frozen
class PayloadFile:
    """One file of the payload, as the manifests record it."""

    #: path below `data/`, with `/` separators
    name: str
    size: int
    digests: Mapping[str, str]


def compressible(mime_type: str | None) -> bool:
    if not mime_type:
        return False
    base = mime_type.split(";", 1)[0].strip().lower()
    return base.startswith(_COMPRESSIBLE_PREFIXES) or base in _COMPRESSIBLE or base.endswith("+xml")


def encode_manifest_path(path: str) -> str:
    """A path as a manifest line holds it: CR, LF and `%` percent-encoded (RFC 8493 2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def check_payload_name(name: str) -> str:
    """*name* if it is a safe relative path below `data/` (no empty, `.` or `..` segment)."""
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts) or "\\" in name or "\0" in name:
        raise ValueError(f"not a safe payload path: {name!r}")
    return name


class BagZipWriter:
    """Writes one bag, named *bag_name* (the ZIP's single top folder), into *stream*."""

    def __init__(
        self,
        stream: IO[bytes],
        bag_name: str,
        *,
        scratch_dir: str | os.PathLike[str] | None = None,
        software_agent: str = "plastrond",
    ) -> None:
        if not bag_name or "/" in bag_name or bag_name in (".", ".."):
            raise ValueError(f"not a usable bag name: {bag_name!r}")
        self.bag_name = bag_name
        self.software_agent = software_agent
        self._zip = zipfile.ZipFile(stream, "w", allowZip64=True)
        self._names: set[str] = set()
        self._scratch = Path(tempfile.mkdtemp(prefix="bag-manifests-", dir=scratch_dir))
        self._manifests: dict[str, IO[str]] = {
            name: (self._scratch / f"manifest-{name}.txt").open("w", encoding="utf-8", newline="")
            for name in ALGORITHMS
        }
        self.payload_bytes = 0
        self.payload_files = 0
        self._tags: dict[str, dict[str, str]] = {name: {} for name in ALGORITHMS}
        self._closed = False
        self._add_directory("data/")
        self._add_tag(
            "bagit.txt", f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n"
        )

    # -- payload ----------------------------------------------------------------------------

    def add_file(
        self,
        name: str,
        source: str | os.PathLike[str],
        *,
        mtime: float | None = None,
        digests: Mapping[str, str] | None = None,
        mime_type: str | None = None,
    ) -> PayloadFile:
        """Copy the file *source* into the payload as `data/<name>`.

        With *digests* (every algorithm of `ALGORITHMS`, as computed while the file was
        written) the bytes are not hashed again. *mtime* (seconds since the epoch) becomes the
        entry's modification time; by default, the source file's.
        """
        check_payload_name(name)
        size = os.stat(source).st_size
        if mtime is None:
            mtime = os.stat(source).st_mtime
        digester = (
            None if digests is not None and all(a in digests for a in ALGORITHMS) else Digester()
        )
        info = self._info(f"data/{name}", mtime, compressible(mime_type), size)
        copied = 0
        with open(source, "rb") as src, self._zip.open(info, "w", force_zip64=size >= 2**31) as dst:
            while chunk := src.read(COPY_CHUNK):
                if digester is not None:
                    digester.update(chunk)
                dst.write(chunk)
                copied += len(chunk)
        if copied != size:
            raise OSError(f"{source} changed while it was added to the bag")
        found = digester.hexdigests() if digester is not None else dict(digests or {})
        entry = PayloadFile(name=name, size=size, digests={a: found[a] for a in ALGORITHMS})
        for algorithm, manifest in self._manifests.items():
            manifest.write(f"{entry.digests[algorithm]}  {encode_manifest_path('data/' + name)}\n")
        self.payload_bytes += size
        self.payload_files += 1
        return entry

    # -- finishing --------------------------------------------------------------------------

    def close(self, info: Mapping[str, str] | None = None) -> None:
        """Write the manifests, `bag-info.txt` (with *info* as extra tags), the tag manifests
        and the ZIP directory. The stream itself is left open for its owner to commit."""
        if self._closed:
            return
        self._closed = True
        for algorithm, manifest in self._manifests.items():
            manifest.close()
            path = self._scratch / f"manifest-{algorithm}.txt"
            self._add_tag_file(f"manifest-{algorithm}.txt", path)
        lines = {
            "Bagging-Date": dt.date.today().isoformat(),
            "Bag-Software-Agent": self.software_agent,
            "Payload-Oxum": f"{self.payload_bytes}.{self.payload_files}",
            **(info or {}),
        }
        text = "".join(f"{key}: {_one_line(value)}\n" for key, value in lines.items())
        self._add_tag("bag-info.txt", text)
        for algorithm in ALGORITHMS:
            body = "".join(
                f"{digest}  {encode_manifest_path(name)}\n"
                for name, digest in sorted(self._tags[algorithm].items())
            )
            self._add_tag(f"tagmanifest-{algorithm}.txt", body, record=False)
        self._zip.close()
        self._cleanup()

    def abort(self) -> None:
        """Give up: release the scratch files (the stream's owner discards what was written)."""
        self._closed = True
        # The ZIP is left unfinished: nothing more is written to the stream, not even by the
        # ZipFile's own finalizer (its end record, into a stream its owner may have closed).
        self._zip.fp = None
        for manifest in self._manifests.values():
            manifest.close()
        self._cleanup()

    def _cleanup(self) -> None:
        # also after `close()` did it (an abort when the stream's owner failed to commit)
        shutil.rmtree(self._scratch, ignore_errors=True)

    # -- entries ----------------------------------------------------------------------------

    def _info(self, path: str, mtime: float, compress: bool, size: int) -> zipfile.ZipInfo:
        arcname = f"{self.bag_name}/{path}"
        if arcname in self._names:
            raise ValueError(f"{arcname} is already in the bag")
        self._names.add(arcname)
        info = zipfile.ZipInfo(arcname, date_time=_dos_time(mtime))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = (0o100644 & 0xFFFF) << 16
        info.file_size = size
        seconds = max(0, min(int(mtime), 2**31 - 1))
        info.extra = struct.pack("<HHBl", _EXTENDED_TIMESTAMP, 5, 1, seconds)
        return info

    def _add_directory(self, path: str) -> None:
        info = self._info(path, time.time(), False, 0)
        info.external_attr = (0o40755 << 16) | 0x10
        self._zip.writestr(info, b"")

    def _add_tag(self, name: str, text: str, *, record: bool = True) -> None:
        data = text.encode("utf-8")
        info = self._info(name, time.time(), True, len(data))
        self._zip.writestr(info, data)
        if record:
            for algorithm in ALGORITHMS:
                self._tags[algorithm][name] = hashlib.new(algorithm, data).hexdigest()

    def _add_tag_file(self, name: str, path: Path) -> None:
        digester = Digester()
        size = path.stat().st_size
        info = self._info(name, time.time(), True, size)
        with path.open("rb") as src, self._zip.open(info, "w", force_zip64=size >= 2**31) as dst:
            while chunk := src.read(COPY_CHUNK):
                digester.update(chunk)
                dst.write(chunk)
        for algorithm, digest in digester.hexdigests().items():
            self._tags[algorithm][name] = digest


def _dos_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    """The ZIP's local-time stamp (2-second steps, 1980-2107) of *mtime*."""
    t = time.localtime(mtime)
    if t.tm_year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _one_line(value: str) -> str:
    return " ".join(str(value).split())

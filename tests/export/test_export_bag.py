"""BagZipWriter: bags that bagit-python validates, from seekable and unseekable streams."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path

import bagit
import pytest

from plastrond.export import BagZipWriter, Digester
from plastrond.export.bag import compressible, encode_manifest_path
from tests.support.export import unzip


class Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek or tell, like an SFTP upload."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        self.data += bytes(b)
        return len(b)


def _payload(tmp_path: Path) -> list[tuple[str, Path, float]]:
    files = []
    for name, content, mtime in [
        ("abc/page 1.tif", b"\x00" * 70_000, 1_500_000_000.0),
        ("abc/page 1.jpg", b"jpeg", 1_600_000_000.0),
        ("metadata.ttl", b"<a> <b> <c> .\n", 1_700_000_000.0),
        ("h\u00e9llo/na me.txt", b"space and accent", 1_600_000_123.0),
    ]:
        path = tmp_path / f"src-{len(files)}"
        path.write_bytes(content)
        files.append((name, path, mtime))
    return files


@pytest.mark.parametrize("seekable", [True, False])
def test_bag_validates_and_keeps_mtimes(tmp_path: Path, seekable: bool) -> None:
    target = tmp_path / "out.zip"
    raw: io.RawIOBase = open(target, "wb") if seekable else Unseekable()  # noqa: SIM115
    stream = io.BufferedWriter(raw)
    bag = BagZipWriter(stream, "export-1", scratch_dir=tmp_path)
    for name, path, mtime in _payload(tmp_path):
        bag.add_file(name, path, mtime=mtime, mime_type="image/tiff")
    bag.close({"External-Identifier": "job 1"})
    stream.flush()
    if not seekable:
        assert isinstance(raw, Unseekable)
        target.write_bytes(bytes(raw.data))
    raw.close()
    folder = unzip(target, tmp_path / "x")
    assert folder.name == "export-1"
    valid = bagit.Bag(str(folder))
    valid.validate()
    assert valid.info["Payload-Oxum"] == f"{70_000 + 4 + 14 + 16}.4"
    assert valid.info["External-Identifier"] == "job 1"
    assert set(valid.algorithms) == {"sha256", "sha512"}
    with zipfile.ZipFile(target) as zf:
        info = zf.getinfo("export-1/data/abc/page 1.jpg")
        # The Info-ZIP extended timestamp holds the exact UTC modification time.
        tag, size, flags, seconds = struct.unpack("<HHBl", info.extra[:9])
        assert (tag, size, flags, seconds) == (0x5455, 5, 1, 1_600_000_000)
        assert info.compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("export-1/bag-info.txt").compress_type == zipfile.ZIP_DEFLATED
        assert zf.testzip() is None
    # The scratch folder of the manifests is gone.
    assert not list(tmp_path.glob("bag-manifests-*"))


def test_precomputed_digests_are_used_as_given(tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"content")
    digester = Digester()
    digester.update(b"content")
    out = io.BytesIO()
    bag = BagZipWriter(out, "b", scratch_dir=tmp_path)
    entry = bag.add_file("x/f.bin", source, digests=digester.hexdigests())
    assert entry.digests["sha256"] == hashlib.sha256(b"content").hexdigest()
    assert entry.size == 7
    bag.close()
    with zipfile.ZipFile(out) as zf:
        manifest = zf.read("b/manifest-sha512.txt").decode()
    assert manifest == f"{hashlib.sha512(b'content').hexdigest()}  data/x/f.bin\n"


def test_empty_bag_still_has_a_data_folder(tmp_path: Path) -> None:
    target = tmp_path / "empty.zip"
    with target.open("wb") as f:
        bag = BagZipWriter(f, "empty", scratch_dir=tmp_path)
        bag.close()
    folder = unzip(target, tmp_path / "x")
    assert (folder / "data").is_dir()
    bagit.Bag(str(folder)).validate()


@pytest.mark.parametrize("name", ["", "../evil", "a//b", "a/./b", "/abs", "a\\b", "a/.."])
def test_unsafe_payload_names_are_refused(tmp_path: Path, name: str) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    bag = BagZipWriter(io.BytesIO(), "b", scratch_dir=tmp_path)
    with pytest.raises(ValueError, match="not a safe payload path"):
        bag.add_file(name, source)
    bag.abort()


def test_same_name_twice_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    bag = BagZipWriter(io.BytesIO(), "b", scratch_dir=tmp_path)
    bag.add_file("a/f", source)
    with pytest.raises(ValueError, match="already in the bag"):
        bag.add_file("a/f", source)
    bag.abort()
    assert not list(tmp_path.glob("bag-manifests-*"))


def test_manifest_paths_are_percent_encoded() -> None:
    assert encode_manifest_path("data/a%b\nc\rd") == "data/a%25b%0Ac%0Dd"


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        ("text/plain; charset=utf-8", True),
        ("application/xml", True),
        ("application/mods+xml", True),
        ("image/tiff", False),
        ("image/jpeg", False),
        (None, False),
    ],
)
def test_only_textual_types_are_compressed(mime: str | None, expected: bool) -> None:
    assert compressible(mime) is expected

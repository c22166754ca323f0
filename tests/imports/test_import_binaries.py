"""Binaries locations: local folders inside an allowed root, ZIP files, HTTP, SFTP."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest

from plastrond.config import ImportConfig
from plastrond.imports.binaries import (
    BinariesError,
    FetchError,
    HttpLocation,
    LocalLocation,
    SftpLocation,
    ZipLocation,
    mime_type,
    parse_location,
)
from tests.support.imports import corrupt, make_zip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An allowed folder holding a binaries folder, and a secret outside it."""
    allowed = tmp_path / "allowed"
    files = allowed / "batch"
    (files / "sub").mkdir(parents=True)
    (files / "p1.tif").write_bytes(b"II*\x00tiff")
    (files / "sub" / "p2.jpg").write_bytes(b"\xff\xd8jpeg")
    (files / "folder.tif").mkdir()
    (allowed / "beside.txt").write_text("inside the root, outside the batch")
    (tmp_path / "secret.txt").write_text("outside")
    (files / "out.txt").symlink_to(tmp_path / "secret.txt")
    (files / "in.txt").symlink_to(allowed / "beside.txt")
    return allowed


def config(*allowed: Path, **keys: object) -> ImportConfig:
    return ImportConfig(allowed_binaries_dirs=tuple(allowed), **keys)  # type: ignore[arg-type]


# -- parsing ------------------------------------------------------------------------------------


def test_a_local_folder_inside_an_allowed_root(root: Path) -> None:
    location = parse_location(str(root / "batch"), config(root))
    assert isinstance(location, LocalLocation)
    assert location.root == str(root)


def test_local_folders_are_refused_when_none_is_allowed(root: Path) -> None:
    with pytest.raises(BinariesError, match=r"no local folder is allowed \(COMMANDS\.IMPORT"):
        parse_location(str(root / "batch"), config())


@pytest.mark.parametrize("where", ["{tmp}", "{root}/../", "{root}/batch/../.."])
def test_a_folder_outside_the_allowed_roots_is_refused(root: Path, where: str) -> None:
    text = where.format(tmp=root.parent, root=root)
    with pytest.raises(BinariesError, match="outside the folders allowed for imports"):
        parse_location(text, config(root))


def test_a_symlink_to_outside_is_refused_as_a_location(root: Path) -> None:
    (root / "link").symlink_to(root.parent)
    with pytest.raises(BinariesError, match="outside the folders allowed"):
        parse_location(str(root / "link"), config(root))


def test_a_relative_location_is_refused(root: Path) -> None:
    with pytest.raises(BinariesError, match="is not an absolute path"):
        parse_location("batch", config(root))


def test_a_zip_must_be_inside_an_allowed_root_too(root: Path) -> None:
    with pytest.raises(BinariesError, match="outside the folders allowed"):
        parse_location(f"zip:{root.parent}/x.zip", config(root))
    assert isinstance(parse_location(f"zip:{root}/x.zip", config(root)), ZipLocation)


def test_sftp_needs_a_key(root: Path) -> None:
    with pytest.raises(BinariesError, match=r"no key is configured \(COMMANDS\.IMPORT\.SSH_"):
        parse_location("sftp://u@host/dir", config(root))
    location = parse_location("sftp://u@host:2200/dir", config(root, ssh_private_key=root))
    assert isinstance(location, SftpLocation)
    assert (location.address.user, location.address.port, location.address.path) == (
        "u",
        2200,
        "/dir",
    )


def test_unknown_schemes_are_refused(root: Path) -> None:
    with pytest.raises(BinariesError, match="unknown scheme 'ftp'"):
        parse_location("ftp://host/dir", config(root))


def test_tiff_is_told_by_its_name() -> None:
    assert mime_type("a/p1.tif") == "image/tiff"
    assert mime_type("P1.TIFF") == "image/tiff"
    assert mime_type("x.unknown-ext") == "application/octet-stream"


# -- local folders ------------------------------------------------------------------------------


async def test_local_files_are_checked_and_fetched_in_place(root: Path) -> None:
    async with parse_location(str(root / "batch"), config(root)) as location:
        problems = await location.check(
            [
                "p1.tif",
                "sub/p2.jpg",
                "in.txt",
                "missing.tif",
                "folder.tif",
                "out.txt",
                "../beside.txt",
            ]
        )
        assert problems == {
            "missing.tif": "Missing file: missing.tif",
            "folder.tif": "Not a file: folder.tif",
            "out.txt": "File outside the allowed folders: out.txt",
            "../beside.txt": "File outside the binaries location: ../beside.txt",
        }
        async with location.fetch("sub/p2.jpg") as path:
            assert path == root / "batch" / "sub" / "p2.jpg"
        with pytest.raises(FetchError, match="outside the allowed folders"):
            async with location.fetch("out.txt"):
                pass


async def test_a_missing_local_folder_fails_on_opening(root: Path) -> None:
    location = parse_location(str(root / "nope"), config(root))
    with pytest.raises(BinariesError, match="is not an existing folder"):
        async with location:
            pass


# -- ZIP files ----------------------------------------------------------------------------------


async def test_zip_members_are_checked_and_extracted(root: Path) -> None:
    make_zip(root / "batch.zip", {"p1.tif": b"tiff" * 100, "dir/p2.jpg": b"jpeg" * 100})
    async with parse_location(f"zip:{root}/batch.zip", config(root)) as location:
        assert await location.check(["p1.tif", "./dir/p2.jpg", "p3.jpg"]) == {
            "p3.jpg": "Missing file: p3.jpg"
        }
        async with location.fetch("dir/p2.jpg") as path:
            assert path.read_bytes() == b"jpeg" * 100
            temporary = path
        assert not temporary.exists()


async def test_a_corrupt_zip_member_fails_when_fetched(root: Path) -> None:
    archive = make_zip(
        root / "bad.zip", {"good.jpg": b"g" * 5000, "bad.jpg": bytes(range(256)) * 40}
    )
    corrupt(archive, "bad.jpg")
    async with parse_location(f"zip:{archive}", config(root)) as location:
        assert await location.check(["bad.jpg"]) == {}
        with pytest.raises(FetchError, match=r"cannot read bad\.jpg from the ZIP file"):
            async with location.fetch("bad.jpg"):
                pass
        async with location.fetch("good.jpg") as path:
            assert path.read_bytes() == b"g" * 5000


async def test_a_file_that_is_no_zip_fails_on_opening(root: Path) -> None:
    (root / "not.zip").write_text("plain text")
    with pytest.raises(BinariesError, match="is not a readable ZIP file"):
        async with parse_location(f"zip:{root}/not.zip", config(root)):
            pass


# -- HTTP ---------------------------------------------------------------------------------------


def http_files() -> httpx.MockTransport:
    files = {"/files/p1.tif": b"tiff", "/files/with%20space.jpg": b"jpeg"}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        if path == "/files/broken.jpg":
            return httpx.Response(500)
        if path not in files:
            return httpx.Response(404)
        body = files[path]
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Length": str(len(body))})
        return httpx.Response(200, content=body)

    return httpx.MockTransport(handler)


async def test_http_files_are_checked_with_head_and_fetched_with_get() -> None:
    location = parse_location("https://files.example/files", config(), transport=http_files())
    assert isinstance(location, HttpLocation)
    async with location:
        assert await location.check(["p1.tif", "with space.jpg", "nope.tif", "broken.jpg"]) == {
            "nope.tif": "Missing file: nope.tif",
            "broken.jpg": "Cannot check file broken.jpg: HTTP 500",
        }
        async with location.fetch("with space.jpg") as path:
            assert path.read_bytes() == b"jpeg"
        with pytest.raises(FetchError, match=r"cannot download broken\.jpg: HTTP 500"):
            async with location.fetch("broken.jpg"):
                pass


# -- SFTP ---------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_sftp_folder_and_zip(sshd, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    (remote / "sub").mkdir(parents=True)
    (remote / "p1.tif").write_bytes(b"tiff" * 1000)
    (remote / "sub" / "p2.jpg").write_bytes(b"jpeg")
    make_zip(remote / "batch.zip", {"z1.jpg": b"zip member"})
    keys = {"ssh_private_key": sshd.private_key, "sftp_known_hosts": sshd.known_hosts}
    async with parse_location(f"{sshd.url}{remote}", config(**keys)) as location:
        assert await location.check(["p1.tif", "sub/p2.jpg", "sub", "nope.jpg"]) == {
            "sub": "Not a file: sub",
            "nope.jpg": "Missing file: nope.jpg",
        }
        async with location.fetch("p1.tif") as path:
            assert path.read_bytes() == b"tiff" * 1000
    zipped = f"zip+sftp://{sshd.user}@{sshd.host}:{sshd.port}{remote}/batch.zip"
    async with parse_location(zipped, config(**keys)) as location:
        assert await location.check(["z1.jpg", "z2.jpg"]) == {"z2.jpg": "Missing file: z2.jpg"}
        async with location.fetch("z1.jpg") as path:
            assert path.read_bytes() == b"zip member"


@pytest.mark.integration
async def test_a_zip_over_sftp_is_read_where_it_is_with_few_round_trips(
    sshd, tmp_path: Path
) -> None:
    """zip+sftp:// reads the archive on the server at random: the many small reads zipfile
    makes (each member's header, name, extra field) are served by a read-ahead buffer, so
    300 small members cost a few fetches, not one round trip per read."""
    remote = tmp_path / "remote"
    remote.mkdir()
    members = {f"dir/m{n:03d}.jpg": os.urandom(200) for n in range(300)}
    members["big.tif"] = os.urandom(3 * 1024 * 1024 + 5)
    make_zip(remote / "batch.zip", members)
    keys = {"ssh_private_key": sshd.private_key, "sftp_known_hosts": sshd.known_hosts}
    zipped = f"zip+sftp://{sshd.user}@{sshd.host}:{sshd.port}{remote}/batch.zip"
    temp_before = set(os.listdir(tempfile.gettempdir()))
    location = parse_location(zipped, config(**keys))
    assert isinstance(location, ZipLocation)
    async with location:
        assert set(os.listdir(tempfile.gettempdir())) == temp_before  # nothing copied here
        remote_file = location.remote_file
        assert remote_file is not None
        for name, data in members.items():
            async with location.source(name) as source:
                assert not isinstance(source, Path)
                assert source.size == len(data)
                assert b"".join([chunk async for chunk in source]) == data
        size = (remote / "batch.zip").stat().st_size
        # the archive read about once (the buffer may overlap a little), in few round trips
        assert size <= remote_file.fetched < size + 64 * 1024
        assert remote_file.fetches <= 20, remote_file.fetches
    assert remote_file.closed


@pytest.mark.integration
async def test_a_zip_over_sftp_that_is_missing_or_no_zip_is_refused(sshd, tmp_path: Path) -> None:
    (tmp_path / "not.zip").write_text("plain text")
    keys = {"ssh_private_key": sshd.private_key, "sftp_known_hosts": sshd.known_hosts}
    base = f"zip+sftp://{sshd.user}@{sshd.host}:{sshd.port}{tmp_path}"
    with pytest.raises(BinariesError, match=r"nope\.zip: no such ZIP file$"):
        async with parse_location(f"{base}/nope.zip", config(**keys)):
            pass
    with pytest.raises(BinariesError, match=r"not\.zip is not a readable ZIP file"):
        async with parse_location(f"{base}/not.zip", config(**keys)):
            pass


@pytest.mark.integration
async def test_sftp_unknown_host_is_refused(sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    location = parse_location(
        f"{sshd.url}{tmp_path}",
        config(ssh_private_key=sshd.private_key, sftp_known_hosts=known),
    )
    with pytest.raises(BinariesError) as info:
        async with location:
            pass
    assert str(info.value) == (
        f"binaries-location {sshd.url}{tmp_path}: SFTP host {sshd.host}:{sshd.port} is not in "
        "known_hosts; refused (COMMANDS.IMPORT.SFTP_KNOWN_HOSTS, SFTP_ACCEPT_UNKNOWN_HOSTS)"
    )

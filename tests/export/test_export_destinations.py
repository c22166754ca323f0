"""output-dest: local paths confined to the allowed folders, sftp:// URLs, atomic local files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plastrond.config import ExportConfig
from plastrond.export import (
    DestinationError,
    LocalDestination,
    SftpDestination,
    parse_destination,
    with_zip_suffix,
)


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def config(*allowed: Path, **keys: object) -> ExportConfig:
    return ExportConfig(allowed_output_dirs=allowed, **keys)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a", "a.zip"), ("a.zip", "a.zip"), ("A.ZIP", "A.ZIP"), ("a.tar", "a.tar.zip")],
)
def test_zip_suffix(text: str, expected: str) -> None:
    assert with_zip_suffix(text) == expected


def test_local_path_inside_allowed_folder(allowed: Path) -> None:
    dest = parse_destination(f"{allowed}/sub/export-42", config(allowed))
    assert isinstance(dest, LocalDestination)
    assert dest.written == f"{allowed}/sub/export-42.zip"
    assert dest.path == allowed.resolve() / "sub" / "export-42.zip"
    assert dest.bag_name == "export-42"


@pytest.mark.parametrize(
    "relative",
    ["../outside.zip", "sub/../../outside.zip", "./../exports-evil/x.zip", "../../x", "a/../../x"],
)
def test_dot_dot_tricks_are_refused(allowed: Path, relative: str) -> None:
    with pytest.raises(DestinationError, match="outside the folders allowed"):
        parse_destination(f"{allowed}/{relative}", config(allowed))


def test_sibling_with_common_prefix_is_refused(allowed: Path, tmp_path: Path) -> None:
    (tmp_path / "exports-other").mkdir()
    with pytest.raises(DestinationError, match="outside"):
        parse_destination(f"{tmp_path}/exports-other/x.zip", config(allowed))


def test_symlink_out_of_the_allowed_folder_is_refused(allowed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (allowed / "link").symlink_to(outside)
    with pytest.raises(DestinationError, match="outside"):
        parse_destination(f"{allowed}/link/x.zip", config(allowed))


def test_allowed_folder_reached_through_a_link_is_fine(allowed: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(allowed)
    dest = parse_destination(f"{alias}/x", config(allowed))
    assert isinstance(dest, LocalDestination)
    assert dest.folder == allowed.resolve()


def test_second_allowed_folder(allowed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    dest = parse_destination(f"{other}/x.zip", config(allowed, other))
    assert isinstance(dest, LocalDestination)
    assert dest.root == other.resolve()


def test_relative_path_is_refused(allowed: Path) -> None:
    with pytest.raises(DestinationError, match="not an absolute path"):
        parse_destination("exports/x.zip", config(allowed))


def test_no_allowed_folder_refuses_every_local_path(allowed: Path) -> None:
    with pytest.raises(DestinationError, match="ALLOWED_OUTPUT_DIRS"):
        parse_destination(f"{allowed}/x.zip", config())


@pytest.mark.parametrize("text", ["http://example.com/x.zip", "file:///tmp/x.zip", "   "])
def test_other_schemes_and_empty_are_refused(allowed: Path, text: str) -> None:
    with pytest.raises(DestinationError):
        parse_destination(text, config(allowed))


def test_local_sink_is_atomic(allowed: Path) -> None:
    dest = parse_destination(f"{allowed}/new/x", config(allowed))
    sink = dest.open()
    sink.stream.write(b"half a zip")
    # Nothing under the final name until commit; the part file is hidden beside it.
    assert not (allowed / "new" / "x.zip").exists()
    parts = list((allowed / "new").glob(".x.zip.*.part"))
    assert len(parts) == 1
    sink.stream.write(b" and the rest")
    sink.commit()
    assert (allowed / "new" / "x.zip").read_bytes() == b"half a zip and the rest"
    assert oct((allowed / "new" / "x.zip").stat().st_mode & 0o777) == "0o644"
    assert list((allowed / "new").iterdir()) == [allowed / "new" / "x.zip"]


def test_local_sink_abort_leaves_nothing(allowed: Path) -> None:
    (allowed / "x.zip").write_bytes(b"an older export")
    dest = parse_destination(f"{allowed}/x.zip", config(allowed))
    sink = dest.open()
    sink.stream.write(b"partial")
    sink.abort()
    assert list(allowed.iterdir()) == [allowed / "x.zip"]
    assert (allowed / "x.zip").read_bytes() == b"an older export"


def test_local_destination_that_is_a_folder_is_refused(allowed: Path) -> None:
    (allowed / "x.zip").mkdir()
    dest = parse_destination(f"{allowed}/x.zip", config(allowed))
    with pytest.raises(DestinationError, match="is a folder"):
        dest.open()


def test_link_swapped_in_after_the_check_is_caught(allowed: Path, tmp_path: Path) -> None:
    dest = parse_destination(f"{allowed}/late/x.zip", config(allowed))
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, allowed / "late")
    with pytest.raises(DestinationError, match="outside"):
        dest.open()
    assert list(outside.iterdir()) == []


# -- sftp:// ---------------------------------------------------------------------------------


def sftp_config(**keys: object) -> ExportConfig:
    return ExportConfig(ssh_private_key=Path("/keys/id"), **keys)  # type: ignore[arg-type]


def test_sftp_url_with_port() -> None:
    dest = parse_destination("sftp://archelon@host.example:2200/exports/42", sftp_config())
    assert isinstance(dest, SftpDestination)
    assert (dest.user, dest.host, dest.port, dest.path) == (
        "archelon",
        "host.example",
        2200,
        "/exports/42.zip",
    )
    assert dest.written == "sftp://archelon@host.example:2200/exports/42.zip"
    assert dest.bag_name == "42"
    assert dest.key_file == Path("/keys/id")
    assert dest.accept_unknown_hosts is False


def test_sftp_default_port_and_policy() -> None:
    dest = parse_destination(
        "sftp://u@h/x.zip",
        sftp_config(sftp_accept_unknown_hosts=True, sftp_known_hosts=Path("/k")),
    )
    assert isinstance(dest, SftpDestination)
    assert dest.port == 22
    assert dest.accept_unknown_hosts is True
    assert dest.known_hosts == Path("/k")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sftp://host/x.zip", "must name a user and a host"),
        ("sftp://u:secret@host/x.zip", "must not carry a password"),
        ("sftp://u@host/", "must name a file"),
        ("sftp://u@host/dir/", "must name a file"),
        ("sftp://u@host:99999/x", "not a usable sftp:// URL"),
    ],
)
def test_bad_sftp_urls(text: str, message: str) -> None:
    with pytest.raises(DestinationError, match=message) as info:
        parse_destination(text, sftp_config())
    assert "secret" not in str(info.value)


def test_sftp_needs_a_key() -> None:
    with pytest.raises(DestinationError, match="SSH_PRIVATE_KEY"):
        parse_destination("sftp://u@h/x.zip", ExportConfig())

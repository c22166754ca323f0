"""File names as staff write them (issue 25): ZIPs made by the real tools, names decoded as each
tool meant them; names compared as a person sees them (NFC and NFD are one name); a name that
is only nearly right named in the row's error. The archives are made here by the programs
themselves (Info-ZIP `zip`, 7-Zip's `7z`, libarchive's `bsdtar`, Python's `zipfile`, and
Apache Ant's `<zip>`, which writes what Windows' "Send to > Compressed (zipped) folder" writes:
names in the system's OEM code page and the UTF-8 name in an Info-ZIP Unicode Path field)."""

from __future__ import annotations

import os
import struct
import subprocess
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from rdflib import URIRef

from plastrond.config import ImportConfig
from plastrond.imports.binaries import FetchError, parse_location
from tests.support.imports import DCTERMS_TITLE, HAS_FILE, HAS_MEMBER, import_config, run_import

#: the files staff scan and name: Japanese, French (written NFD on disk, as macOS writes it),
#: Greek, Cyrillic, in a subfolder too; the CSV names them in NFC, as keyboards type them
NAMES = ["写真 1.jpg", "résumé.jpg", "φωτογραφία.tif", "scans/Дом 2.jpg", "scans/Ærø.txt"]


def _on_disk(name: str) -> str:
    return unicodedata.normalize("NFD", name)


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    """A folder of files whose names are NFD on disk, each holding its NFC name."""
    folder = tmp_path / "allowed" / "scans-folder"
    for name in NAMES:
        path = folder / _on_disk(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode("utf-8"))
    return folder


def _run(*command: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)


def info_zip(source: Path, archive: Path) -> None:
    # Info-ZIP zip 3.0 switches to en_US.UTF-8 when it can (and then sets the UTF-8 flag); on a
    # machine without that locale, and on macOS, it stores the names' bytes as they are
    env = {**os.environ, "LOCPATH": str(archive.parent / "no-locales"), "LC_ALL": "C.UTF-8"}
    _run("zip", "-q", "-r", str(archive), ".", cwd=source, env=env)


def seven_zip(source: Path, archive: Path) -> None:
    _run("7z", "a", "-tzip", "-bd", str(archive), ".", cwd=source)


def bsdtar(source: Path, archive: Path) -> None:
    _run("bsdtar", "--format", "zip", "-cf", str(archive), ".", cwd=source)


def python_zipfile(source: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(source).as_posix())


def windows_explorer(encoding: str) -> Callable[[Path, Path], None]:
    """Apache Ant's <zip> writing as Windows' compressed folders do (in the OEM code page
    *encoding*, without the UTF-8 flag, with the Unicode Path field)."""

    def make(source: Path, archive: Path) -> None:
        build = archive.parent / f"build-{encoding}.xml"
        build.write_text(
            '<project default="zip"><target name="zip">'
            f'<zip destfile="{archive}" encoding="{encoding}" useLanguageEncodingFlag="false"'
            f' createUnicodeExtraFields="always"><fileset dir="{source}"/></zip>'
            "</target></project>"
        )
        _run("ant", "-q", "-f", str(build), cwd=archive.parent)

    return make


TOOLS = {
    "info-zip": info_zip,
    "7z": seven_zip,
    "bsdtar": bsdtar,
    "python": python_zipfile,
    "windows-cp932": windows_explorer("Shift_JIS"),
    "windows-cp850": windows_explorer("cp850"),
}


def extra_fields(info: zipfile.ZipInfo) -> list[int]:
    found, at = [], 0
    while at + 4 <= len(info.extra):
        kind, size = struct.unpack_from("<HH", info.extra, at)
        found.append(kind)
        at += 4 + size
    return found


def config(root: Path) -> ImportConfig:
    return ImportConfig(allowed_binaries_dirs=(root,))


@pytest.mark.parametrize("tool", list(TOOLS))
async def test_zips_from_every_tool_hold_the_names_the_csv_types(
    scans: Path, tmp_path: Path, tool: str
) -> None:
    archive = tmp_path / "allowed" / f"{tool}.zip"
    TOOLS[tool](scans, archive)
    with zipfile.ZipFile(archive) as made:
        members = [i for i in made.infolist() if not i.is_dir()]
        assert len(members) == len(NAMES)
        utf8_flag = {bool(i.flag_bits & 0x800) for i in members if not i.filename.isascii()}
        # what each tool writes, as the README says (so that each rule is tested here)
        if tool == "info-zip":
            assert utf8_flag == {False} and all(0x7075 not in extra_fields(i) for i in members)
        elif tool.startswith("windows"):
            assert utf8_flag == {False} and all(0x7075 in extra_fields(i) for i in members)
        else:
            assert utf8_flag == {True}
    async with parse_location(f"zip:{archive}", config(tmp_path / "allowed")) as location:
        assert await location.check(NAMES) == {}
        for name in NAMES:
            async with location.fetch(name) as path:
                assert path.read_bytes() == name.encode("utf-8")


async def test_a_stale_unicode_path_field_is_ignored(scans: Path, tmp_path: Path) -> None:
    """A Unicode Path field whose CRC no longer matches the stored name (the name was changed
    by a tool that knows nothing of the field) is not believed: the stored name is."""
    archive = tmp_path / "allowed" / "renamed.zip"
    windows_explorer("cp850")(scans, archive)
    data = bytearray(archive.read_bytes())
    stored = "Ærø".encode("cp850")
    renamed = "Æro".encode("cp850")  # the same length: the headers stay valid
    assert data.count(stored) == 2  # the local header's name and the central directory's
    archive.write_bytes(bytes(data).replace(stored, renamed))
    async with parse_location(f"zip:{archive}", config(tmp_path / "allowed")) as location:
        problems = await location.check(["scans/Ærø.txt"])
        assert problems["scans/Ærø.txt"].startswith("Missing file: scans/Ærø.txt")


async def test_a_name_nearly_right_is_named_in_the_error(scans: Path, tmp_path: Path) -> None:
    archive = tmp_path / "allowed" / "info-zip.zip"
    info_zip(scans, archive)
    wanted = ["写真 1.JPG", "Résumé.jpg", "scans/Дом  2.jpg", "nothing like it.jpg"]
    for written in (f"zip:{archive}", str(scans)):
        async with parse_location(written, config(tmp_path / "allowed")) as location:
            where = "the ZIP file" if written.startswith("zip:") else "the binaries location"
            assert await location.check(wanted) == {
                "写真 1.JPG": f"Missing file: 写真 1.JPG ({where} has '写真 1.jpg', which differs "
                "in case: write the name in the CSV as it is there)",
                "Résumé.jpg": f"Missing file: Résumé.jpg ({where} has "
                f"'{_on_disk('résumé.jpg')}', which differs in case: write the name in "
                "the CSV as it is there)",
                "scans/Дом  2.jpg": f"Missing file: scans/Дом  2.jpg ({where} has 'scans/Дом 2.jpg'"
                ", which differs in spaces: write the name in the CSV as it is there)",
                "nothing like it.jpg": "Missing file: nothing like it.jpg",
            }
            with pytest.raises(FetchError, match="which differs in case"):
                async with location.source("写真 1.JPG"):
                    pass


async def test_a_folder_with_nfd_names_has_the_files_the_csv_names_in_nfc(scans: Path) -> None:
    async with parse_location(str(scans), config(scans.parent)) as location:
        assert await location.check(NAMES) == {}
        for name in NAMES:
            async with location.source(name) as source:
                assert isinstance(source, Path) and source.read_bytes() == name.encode("utf-8")
                assert source.name == os.path.basename(_on_disk(name))


@pytest.mark.integration
async def test_an_sftp_folder_and_a_zip_over_sftp_match_names_as_seen(
    sshd, scans: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "allowed" / "info-zip.zip"
    info_zip(scans, archive)
    keys = ImportConfig(ssh_private_key=sshd.private_key, sftp_known_hosts=sshd.known_hosts)
    for written in (
        f"{sshd.url}{scans}",
        f"zip+sftp://{sshd.user}@{sshd.host}:{sshd.port}{archive}",
    ):
        async with parse_location(written, keys) as location:
            assert await location.check(NAMES) == {}
            for name in NAMES:
                async with location.fetch(name) as path:
                    assert path.read_bytes() == name.encode("utf-8")
            problems = await location.check(["scans/ДОМ 2.jpg"])
            assert "has 'scans/Дом 2.jpg', which differs in case" in problems["scans/ДОМ 2.jpg"]
            with pytest.raises(FetchError, match="which differs in case"):
                async with location.source("scans/ДОМ 2.jpg"):
                    pass


# -- the import, on each Fedora -------------------------------------------------------------------

ITEM = "http://purl.org/dc/dcmitype/Image,http://vocab.lib.umd.edu/rightsStatement#InC"


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["info-zip", "windows-cp932", "folder"])
async def test_files_named_in_every_script_import_from_a_zip_and_a_folder(
    repo, target, scans: Path, tmp_path: Path, kind: str
) -> None:
    if kind == "folder":
        location = str(scans)
    else:
        archive = tmp_path / "allowed" / f"{kind}.zip"
        TOOLS[kind](scans, archive)
        location = f"zip:{archive}"
    body = "Identifier,Title,Object Type,Rights Statement,FILES\n" + "".join(
        f"id-{n},Scan {n},{ITEM},{name}\n" for n, name in enumerate(NAMES)
    )
    config = import_config(tmp_path / "jobs", rest_url=repo.root, allowed=(tmp_path / "allowed",))
    outcome = await run_import(
        config,
        repo,
        body,
        model="Item",
        binaries_location=location,
        container=target.uri,
    )
    assert outcome.state == "import_complete", outcome.body["validation"]
    assert outcome.count["created"] == len(NAMES)
    # the names as the CSV writes them (NFC), whatever form the location holds them in
    assert sorted(file_titles(target)) == sorted(os.path.basename(n) for n in NAMES)


def file_titles(target) -> list[str]:
    """The title of every file of every page of the items in *target*: the file's name as the
    import wrote it (Fedora 4.7 keeps only a Latin-1 form of it in Content-Disposition, and so
    in ebucore:filename, issue 25 item 1: the title is the name)."""
    titles = []
    for item in target.items():
        for page in target.graph(item).objects(URIRef(item), HAS_MEMBER):
            for file in target.graph(str(page)).objects(page, HAS_FILE):
                description = target.graph(f"{file}/fcr:metadata")
                titles.append(str(description.value(file, DCTERMS_TITLE)))
    return titles

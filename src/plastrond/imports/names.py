"""File names as a person sees them: how a ZIP member's name is decoded, and how a name the CSV
writes is matched to the names a binaries location holds.

A ZIP member's name (`zip_member_name`), as the tool that made the archive meant it:

1. the UTF-8 flag (general purpose bit 11) is set: UTF-8 (7-Zip, bsdtar, Python, Info-ZIP
   `zip` where an `en_US.UTF-8` locale exists, Windows 11's File Explorer);
2. else an Info-ZIP Unicode Path extra field (0x7075) whose CRC-32 matches the stored name: the
   UTF-8 name it holds (Windows' "Send to > Compressed (zipped) folder" before Windows 11 and
   WinRAR store the name in the system's OEM code page, cp437, cp850, cp932..., and the UTF-8
   name beside it); a field whose CRC does not match was left behind by a rename and is ignored;
3. else the stored bytes when they are valid UTF-8 (Info-ZIP `zip` on Linux without that locale,
   macOS's Finder and `zip`: UTF-8 with neither flag nor field);
4. else cp437, the format's own code page.

Names are compared in Unicode normalization form C (`exact_key`): `résumé.jpg` typed in a CSV
(NFC, as keyboards write it) is the file macOS wrote as `re\u0301sume\u0301.jpg` (NFD). When no
name matches, `near_key` (compatibility forms, case and runs of spaces ignored) finds the name
that was probably meant, and `missing` says so in the row's error.
"""

from __future__ import annotations

import posixpath
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable
from typing import Final

__all__ = [
    "NameIndex",
    "difference",
    "exact_key",
    "locate",
    "missing",
    "near_key",
    "zip_member_name",
]

#: general purpose bit 11: the name (and comment) are UTF-8
UTF8_FLAG: Final = 0x800
#: Info-ZIP Unicode Path extra field ("up"): version 1, CRC-32 of the stored name, UTF-8 name
UNICODE_PATH: Final = 0x7075
_SPACES: Final = re.compile(r"\s+")


def _unicode_path(extra: bytes, stored: bytes) -> str | None:
    """The name an Info-ZIP Unicode Path field in *extra* gives, when it is there, of version 1,
    made for the *stored* name (its CRC-32) and UTF-8; else None."""
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        data = extra[at + 4 : at + 4 + size]
        at += 4 + size
        if kind != UNICODE_PATH or len(data) < 5 or data[0] != 1:
            continue
        (crc,) = struct.unpack_from("<I", data, 1)
        if crc != zlib.crc32(stored):
            return None  # stale: the stored name was changed after the field was written
        try:
            return data[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def zip_member_name(info: zipfile.ZipInfo) -> str:
    """*info*'s name as the tool that made the archive meant it (see the module's rules)."""
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    # zipfile decoded the stored bytes as cp437, which maps every byte: encoding gives them back
    stored = info.orig_filename.encode("cp437")
    # (a field is believed even beside an ASCII name: a tool may store a name it cannot write
    # in its code page as an escape, Ant's `%U00E9`, and the real one in the field)
    name = _unicode_path(info.extra, stored)
    if name is None:
        try:
            name = stored.decode("utf-8")
        except UnicodeDecodeError:
            return info.filename
    return name.split("\0", 1)[0]


def exact_key(name: str) -> str:
    """*name* as compared: in normalization form C (NFD and NFC spellings are one name)."""
    return unicodedata.normalize("NFC", name)


def near_key(name: str) -> str:
    """*name* with what a person does not see, or easily mistypes, taken out: compatibility
    forms (full-width letters, ligatures), case, and runs of spaces (around `/` too)."""
    return _spaces(_case(_forms(name)))


def _spaces(name: str) -> str:
    return "/".join(_SPACES.sub(" ", part).strip() for part in name.split("/"))


def _forms(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


def _case(name: str) -> str:
    return name.casefold()


_FOLDS: Final = {"spaces": _spaces, "character forms": _forms, "case": _case}


def difference(wanted: str, found: str) -> str:
    """What sets *found* apart from *wanted* (whose near keys are equal), in a few words: each
    fold without which the two still differ."""
    kinds = []
    for kind in _FOLDS:
        a, b = exact_key(wanted), exact_key(found)
        for other, fold in _FOLDS.items():
            if other != kind:
                a, b = fold(a), fold(b)
        if a != b:
            kinds.append(kind)
    return " and ".join(kinds or ["case"])


def missing(path: str, near: str | None, where: str = "the binaries location") -> str:
    """The problem of a row naming *path*, which *where* does not have; *near* is the name it
    has that was probably meant."""
    if near is None:
        return f"Missing file: {path}"
    return (
        f"Missing file: {path} ({where} has {near!r}, which differs in "
        f"{difference(path, near)}: write the name in the CSV as it is there)"
    )


def locate(
    root: str,
    relative: str,
    exists: Callable[[str], bool],
    names_in: Callable[[str], NameIndex | None],
) -> tuple[str | None, str | None]:
    """Where the file *relative* (to the folder *root*) is, each part of it compared as a person
    sees it: (its path, None), or (None, the relative path probably meant, if any). *exists*
    says whether a path is there as written; *names_in* gives the names in a folder (None when
    it cannot be read). Called when the path as written is not there."""
    current = root
    parts = relative.split("/")
    for n, part in enumerate(parts):
        path = posixpath.join(current, part)
        if exists(path):
            current = path
            continue
        names = names_in(current)
        name = names.find(part) if names is not None else None
        if name is None:
            near = names.near(part) if names is not None else None
            if near is None:
                return None, None
            seen = posixpath.relpath(current, root)
            return None, posixpath.normpath("/".join([seen, near, *parts[n + 1 :]]))
        current = posixpath.join(current, name)
    return current, None


class NameIndex:
    """Names (paths inside a location) looked up as a person sees them."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._exact: dict[str, str] = {}
        self._near: dict[str, str] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        self._exact.setdefault(exact_key(name), name)
        self._near.setdefault(near_key(name), name)

    def find(self, name: str) -> str | None:
        """The name held that *name* is (equal in normalization form C), or None."""
        return self._exact.get(exact_key(name))

    def near(self, name: str) -> str | None:
        """The name held that *name* probably means (see `near_key`), or None."""
        return self._near.get(near_key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and exact_key(name) in self._exact

    def __len__(self) -> int:
        return len(self._exact)

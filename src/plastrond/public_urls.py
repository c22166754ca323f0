"""Public URLs of resources, from `PUBLICATION_WORKFLOW.PUBLIC_URL_PATTERN` (handles.md).

The pattern is Python format syntax with the fields:

- `path`: the resource's path below the repository root (`/pcdm/ab/cd/ef/12/abcdef12-...`);
- `container_path`: its parent container's path (`/pcdm/ab/cd/ef/12`);
- `relpath`: `container_path` without the leading `/` (`pcdm/ab/cd/ef/12`);
- `uuid`: the UUID in the last segment of the resource's path (a container's UUID above it
  does not count: it would give every resource in it the same URL);
- `iiif_id`: the path with `/` replaced by `:`, prefixed `fcrepo` (`fcrepo:pcdm:ab:...`).

`check_pattern` is for start-up (a pattern naming an unknown field is a configuration error);
`public_url` fills it for one resource, or raises `PublicUrlError` in one line when a field
cannot be filled for it (no UUID in its path, say).
"""

from __future__ import annotations

import re
import string
from typing import Final

from .errors import PlastronError

__all__ = ["FIELDS", "PublicUrlError", "check_pattern", "fields_of", "public_url"]

FIELDS: Final = ("path", "container_path", "relpath", "uuid", "iiif_id")
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class PublicUrlError(PlastronError, ValueError):
    """A public URL cannot be made for a resource (or a pattern is wrong); one line."""


def pattern_fields(pattern: str) -> list[str]:
    """The fields *pattern* names, or PublicUrlError when it is not a format string."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as e:
        raise PublicUrlError(f"not a valid pattern {pattern!r}: {e}") from None
    names = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if not base or base.isdigit():
            raise PublicUrlError(f"pattern {pattern!r}: fields must be named ({', '.join(FIELDS)})")
        names.append(base)
    return names


def check_pattern(pattern: str) -> None:
    """PublicUrlError when *pattern* names a field other than FIELDS."""
    unknown = [name for name in pattern_fields(pattern) if name not in FIELDS]
    if unknown:
        raise PublicUrlError(
            f"pattern {pattern!r} names unknown field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(dict.fromkeys(unknown))} (known: {', '.join(FIELDS)})"
        )


def fields_of(uri: str, root: str) -> dict[str, str]:
    """The fields that can be filled for *uri* under the repository *root* (both in the same,
    external form). `uuid` is missing when the path's last segment holds none."""
    root = root.rstrip("/")
    if uri != root and not uri.startswith(root + "/"):
        raise PublicUrlError(f"{uri} is not under the repository root {root}")
    path = uri[len(root) :].split("#")[0].split("?")[0] or "/"
    container = path.rstrip("/").rpartition("/")[0]
    fields = {
        "path": path,
        "container_path": container,
        "relpath": container.lstrip("/"),
        "iiif_id": "fcrepo" + path.replace("/", ":"),
    }
    found = _UUID.findall(path.rstrip("/").rpartition("/")[2])
    if found:
        fields["uuid"] = found[-1]
    return fields


def public_url(pattern: str, uri: str, root: str) -> str:
    """*pattern* filled for *uri*; PublicUrlError when a field it names cannot be filled."""
    fields = fields_of(uri, root)
    for name in pattern_fields(pattern):
        if name not in fields:
            what = "no UUID in its path" if name == "uuid" else f"no {name}"
            raise PublicUrlError(f"cannot make the public URL of {uri}: {what} ({pattern!r})")
    try:
        return pattern.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise PublicUrlError(f"cannot make the public URL of {uri} with {pattern!r}: {e}") from e

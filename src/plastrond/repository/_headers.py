"""The HTTP headers the client speaks with Fedora, as plain functions (no I/O): digests,
Content-Disposition file names, preconditions, X-Forwarded-*."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "DIGESTS",
    "URN_DIGEST_NAMES",
    "content_disposition",
    "filename_of",
    "forwarded_headers",
    "header_safe",
    "parse_digest_header",
    "preconditions",
]

#: Digest algorithms by the names Fedora accepts (6.1.0 wants the value in hex, see DIGESTS)
DIGESTS: Mapping[str, str] = {
    "sha": "sha1",
    "sha-256": "sha256",
    "sha-512": "sha512",
    "md5": "md5",
}
#: `urn:<name>:<hex>` digest names in binary descriptions -> the names of DIGESTS
URN_DIGEST_NAMES = {
    "sha1": "sha",
    "sha-1": "sha",
    "sha256": "sha-256",
    "sha-256": "sha-256",
    "sha512": "sha-512",
    "sha-512": "sha-512",
    "md5": "md5",
}


def forwarded_headers(rest_endpoint: str) -> dict[str, str]:
    """X-Forwarded-Host (host, and port when not the scheme's default) and X-Forwarded-Proto
    that make a repository reached at its origin name itself by *rest_endpoint*."""
    parts = urlsplit(rest_endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return {"X-Forwarded-Host": host, "X-Forwarded-Proto": parts.scheme}


def preconditions(
    headers: dict[str, str], if_match: str | None, if_state_token: str | None
) -> None:
    if if_state_token and if_state_token.strip()[:1] in ('"', "W"):
        # an ETag standing in for the state token (Fedora 4.7, see GraphResource)
        if_match, if_state_token = if_match or if_state_token, None
    if if_match:
        # Fedora 6.1.0 hands out weak ETags (W/"...") for RDF sources but only ever matches
        # their strong form in If-Match.
        value = if_match.strip()
        headers["If-Match"] = value[2:] if value.startswith("W/") else value
    if if_state_token:
        headers["X-If-State-Token"] = if_state_token.strip()


def header_safe(what: str, value: str) -> str:
    if not value.isascii() or not value.isprintable() or not value.strip():
        raise ValueError(f"{what} must be printable ASCII: {value!r}")
    return value


_PLAIN_FILENAME = re.compile(r"[\x20-\x7e]+")
#: what may stand in a quoted `filename="..."`: printable ISO-8859-1 (HTTP's obs-text), since
#: Fedora 4.7 reads only `filename`, in ISO-8859-1, and ignores `filename*`
_LATIN1_FILENAME_CHAR = re.compile(r"[\x20-\x7e\xa0-\xff]")


def content_disposition(filename: str) -> str:
    """`attachment; filename="..."`, adding an RFC 6266 `filename*` (which Fedora 6 prefers)
    when the name is not plain ASCII or holds a quote or backslash. The `filename` fallback
    keeps the ISO-8859-1 letters (sent as such, see `_send`), which is all Fedora 4.7 reads."""
    name = filename.replace("\r", " ").replace("\n", " ").strip() or "file"
    if _PLAIN_FILENAME.fullmatch(name) and '"' not in name and "\\" not in name:
        return f'attachment; filename="{name}"'
    fallback = "".join(
        c if _LATIN1_FILENAME_CHAR.fullmatch(c) and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


_DISPOSITION_PARAM = re.compile(r';\s*([a-zA-Z*]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def filename_of(disposition: str | None) -> str | None:
    if not disposition:
        return None
    params: dict[str, str] = {
        str(k).lower(): str(v).strip() for k, v in _DISPOSITION_PARAM.findall(disposition)
    }
    extended = params.get("filename*")
    if extended and "''" in extended:
        charset, _, encoded = extended.partition("''")
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    plain = params.get("filename")
    if plain is None:
        return None
    if plain.startswith('"') and plain.endswith('"') and len(plain) >= 2:
        plain = plain[1:-1]
    return plain


def parse_digest_header(value: str | None) -> dict[str, str]:
    """`sha-256=<hex>, sha=<hex>` -> {"sha-256": hex, "sha": hex}, names lower-cased."""
    result: dict[str, str] = {}
    if not value:
        return result
    for part in value.split(","):
        name, sep, digest = part.strip().partition("=")
        if sep and name and digest:
            result[name.strip().lower()] = digest.strip().lower()
    return result

"""URIs: `Link` headers, and the translation between the names a caller uses and the URLs the
server is asked for.

Three forms of one resource's URI can meet:

- external: under `REPO_EXTERNAL_URL`, the name the rest of the world (and every caller of the
  client) uses;
- internal: under `REST_ENDPOINT`, where the server is reached and how it names resources;
- in a Fedora 4 transaction: under `REST_ENDPOINT/tx:<id>`, the internal form with the
  transaction's segment inserted.

`UriMap` turns one form into another; callers only ever see the external form.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from ..parsing import dot_segment

__all__ = ["Link", "UriMap", "dot_segment", "names_resource", "parse_links", "under"]


@attrs.frozen
class Link:
    """One target of a `Link` header: `<target>; rel="..."; other="..."`."""

    target: str
    rel: str
    params: tuple[tuple[str, str], ...] = ()


_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^\s=;,]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,"]*))?)*)')
_PARAM = re.compile(r'\s*;\s*([^\s=;,]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"]*))?')
_ESCAPE = re.compile(r"\\(.)")


def parse_links(values: list[str]) -> list[Link]:
    """Every link in the given `Link` header values (RFC 8288), in order.

    A link with several relation types (`rel="a b"`) yields one Link per type.
    """
    links: list[Link] = []
    for value in values:
        for match in _LINK.finditer(value):
            rels: list[str] = []
            others: list[tuple[str, str]] = []
            for name, raw in _PARAM.findall(match.group(2)):
                raw = raw.strip()
                if raw[:1] == '"' and raw[-1:] == '"' and len(raw) >= 2:
                    raw = raw[1:-1]
                    if "\\" in raw:
                        raw = _ESCAPE.sub(r"\1", raw)
                if name.lower() == "rel":
                    rels.append(raw)
                else:
                    others.append((name.lower(), raw))
            target = match.group(1).strip()
            params = tuple(others)
            for rel in (rels[0].split() if rels else None) or [""]:
                links.append(Link(target=target, rel=rel, params=params))
    return links


def under(uri: str, base: str) -> bool:
    """Whether *uri* is *base* itself or names something below it."""
    if not uri.startswith(base):
        return False
    return len(uri) == len(base) or uri[len(base)] in "/#?"


def names_resource(uri: str, base: str) -> bool:
    """Whether *uri* names a resource at or below *base* once any client or server has
    resolved it: no query, no fragment (a hash URI is part of a resource, not one), no `.`
    or `..` segment in any spelling (httpx removes them before sending; Jetty and Tomcat
    decode `%2e%2e` and `..;`), no control character or space."""
    if not under(uri, base) or any(c in uri for c in "?#\\ ") or not uri.isprintable():
        return False
    path = urlsplit(uri).path
    return not any(dot_segment(segment) for segment in path.split("/"))


@attrs.frozen
class UriMap:
    """Rewrites URIs between the external, internal and transaction forms.

    *internal* is `REST_ENDPOINT`; *external* is `REPO_EXTERNAL_URL` (or the same as internal);
    *tx_base* is `REST_ENDPOINT/tx:<id>` while a Fedora 4 transaction is open, else None.
    """

    internal: str
    external: str
    tx_base: str | None = None
    #: `REPOSITORY.ORIGIN`: where requests really go (the server names itself *internal*, as
    #: told by X-Forwarded-Host/-Proto); None when requests go to *internal*
    origin: str | None = None

    @property
    def identity(self) -> bool:
        """True when every URI stays as it is (no external URL, no Fedora 4 transaction)."""
        return self.internal == self.external and self.tx_base is None and self.origin is None

    def from_origin(self, uri: str) -> str:
        """*uri* in the internal form, when a server that does not honour X-Forwarded-Host
        named itself by its origin."""
        if self.origin is not None and under(uri, self.origin):
            return self.internal + uri[len(self.origin) :]
        return uri

    def request_url(self, url: str) -> str:
        """The URL a request for *url* (an internal-form URL) is really sent to."""
        if self.origin is not None and under(url, self.internal):
            return self.origin + url[len(self.internal) :]
        return url

    def with_tx_base(self, tx_base: str | None) -> UriMap:
        return attrs.evolve(self, tx_base=tx_base)

    def outbound(self, uri: str) -> str:
        """The URL to ask the server for (or to write in a body) for the caller's *uri*."""
        if self.external != self.internal and under(uri, self.external):
            uri = self.internal + uri[len(self.external) :]
        if self.tx_base is not None and under(uri, self.internal) and not under(uri, self.tx_base):
            uri = self.tx_base + uri[len(self.internal) :]
        return uri

    def inbound(self, uri: str) -> str:
        """The caller's form of a URI the server sent (Location, Link, graph terms)."""
        uri = self.from_origin(uri)
        if self.tx_base is not None and under(uri, self.tx_base):
            uri = self.internal + uri[len(self.tx_base) :]
        if self.external != self.internal and under(uri, self.internal):
            uri = self.external + uri[len(self.internal) :]
        return uri

    def is_local(self, uri: str) -> bool:
        """Whether *uri* (in any form) names a resource of this repository (`names_resource`
        of one of its bases: never a URI that resolves to something else)."""
        return (
            names_resource(uri, self.external)
            or names_resource(uri, self.internal)
            or (self.origin is not None and names_resource(uri, self.origin))
        )

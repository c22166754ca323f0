"""What the client returns about resources: HEAD's answer, a graph as read, a write, an
open download."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import attrs
import httpx
from rdflib import Graph

from ._headers import filename_of, parse_digest_header
from ._uris import Link, parse_links

__all__ = ["BinaryStream", "GraphResource", "ResourceInfo", "WriteResult"]

LDP = "http://www.w3.org/ns/ldp#"


@attrs.frozen
class ResourceInfo:
    """What HEAD tells about a resource."""

    uri: str
    #: the `rel="type"` link targets, e.g. `http://www.w3.org/ns/ldp#NonRDFSource`
    types: frozenset[str]
    #: where the resource's RDF lives: itself, or `<binary>/fcr:metadata` for a binary
    description_uri: str
    etag: str | None
    state_token: str | None
    content_type: str | None
    content_length: int | None
    last_modified: str | None
    links: tuple[Link, ...] = ()

    @property
    def is_binary(self) -> bool:
        return LDP + "NonRDFSource" in self.types

    @property
    def is_container(self) -> bool:
        return LDP + "Container" in self.types or LDP + "BasicContainer" in self.types


@attrs.frozen
class GraphResource:
    """An RDF source as read: its URI, its graph, and what to send back to update it safely.

    On Fedora 6.1.0 the ETag of an RDF source depends on Accept and Prefer, and only the ETag of
    the default representation (as `head()` returns it) satisfies If-Match; `state_token`
    (`X-State-Token`, Fedora 6) is the same for every representation: pass it back as
    `if_state_token`. Fedora 4.7 has no state token; its ETag is the same for every
    representation, so `state_token` is the ETag there, and `if_state_token` sends it as
    If-Match.
    """

    uri: str
    graph: Graph
    etag: str | None
    state_token: str | None


@attrs.frozen
class WriteResult:
    """A resource written by PUT or POST."""

    uri: str
    #: where its RDF lives (the resource itself, or `<binary>/fcr:metadata`)
    description_uri: str
    #: True when the request created the resource (201), False when it replaced it
    created: bool
    etag: str | None = None
    #: a binary's digests as sent and checked by the server (our algorithm names -> hex)
    digests: Mapping[str, str] = attrs.field(factory=dict)
    #: a binary's length in bytes as sent, when it was known before sending
    size: int | None = None


class BinaryStream:
    """An open download: headers now, bytes as they arrive."""

    def __init__(self, uri: str, response: httpx.Response, chunk_size: int) -> None:
        self.uri = uri
        self._response = response
        self._chunk_size = chunk_size

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    def _header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    @property
    def content_type(self) -> str | None:
        return self._header("Content-Type")

    @property
    def length(self) -> int | None:
        value = self._header("Content-Length")
        return int(value) if value and value.isdigit() else None

    @property
    def filename(self) -> str | None:
        return filename_of(self._header("Content-Disposition"))

    @property
    def etag(self) -> str | None:
        return self._header("ETag")

    @property
    def describedby(self) -> str | None:
        """The `Link: <...>; rel="describedby"` target as the server sent it (internal form)."""
        for link in parse_links(self._response.headers.get_list("Link")):
            if link.rel == "describedby":
                return link.target
        return None

    @property
    def digests(self) -> dict[str, str]:
        """The `Digest` the server sent (algorithm -> lower-case hex), if it was asked for one."""
        return parse_digest_header(self._response.headers.get("Digest"))

    def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes(chunk_size or self._chunk_size)

"""The repository client: one pooled httpx.AsyncClient under trio, and views of it.

`RepositoryClient(config)` owns the connection pool. `client.on_behalf_of(user)` and the client
yielded by `client.transaction()` are views that share the pool and add a delegated user or a
transaction to every request they send.

Beside it, without I/O: what it returns (`_resources`), the headers it speaks (`_headers`),
when it sends a request again (`_retry`), URIs and links (`_uris`), RDF formats (`_rdf`),
transactions' styles (`_transaction`), errors (`_errors`), authentication (`_auth`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from rdflib import Graph, URIRef

from plastrond import metrics
from plastrond.config import RepositoryConfig
from plastrond.errors import failure_of
from plastrond.parsing import user_name

from ._agents import DAEMON_AGENT
from ._agents import labelled as labelled_agent
from ._auth import auth_from_config, ssl_from_config
from ._errors import (
    ChecksumMismatch,
    RepositoryConnectionError,
    RepositoryError,
    RepositoryHTTPError,
    ResourceGone,
    ResourceNotFound,
    TransactionError,
    TransactionNotBegun,
    http_error,
    reason_from_body,
)
from ._headers import (
    DIGESTS,
    URN_DIGEST_NAMES,
    content_disposition,
    forwarded_headers,
    header_safe,
    parse_digest_header,
    preconditions,
)
from ._prime import declarations, graph_namespaces, registered, sparql_namespaces
from ._prime import known_needs_priming as prime_needed
from ._prime import prime as prime_server
from ._rdf import READ_FORMAT, WRITE_FORMAT, map_sparql, parse_ntriples, serialize_for_write
from ._resources import BinaryStream, GraphResource, ResourceInfo, WriteResult
from ._retry import IDEMPOTENT, RetryPolicy, describe, retry_after
from ._transaction import FCREPO4, FCREPO6, Transaction, parse_http_date, style_of_location
from ._uris import UriMap, parse_links, under

__all__ = ["RepositoryClient"]

log = logging.getLogger("plastrond.repository")

LDP = "http://www.w3.org/ns/ldp#"
PREFER_CONTAINMENT = LDP + "PreferContainment"
#: `Prefer` omit URIs for the server-managed triples: Fedora 6 and Fedora 4.7 name it apart
#: (each ignores the other's)
SERVER_MANAGED = "http://fedora.info/definitions/fcrepo#ServerManaged"
SERVER_MANAGED_FCREPO4 = "http://fedora.info/definitions/v4/repository#ServerManaged"
LENIENT = 'handling=lenient; received="minimal"'
FEDORA_NS = "http://fedora.info/definitions/v4/repository#"
FCREPO_NS = "http://fedora.info/definitions/fcrepo#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

#: the `rel` of the Link with which Fedora 6 names its transaction endpoint
_TX_ENDPOINT = "http://fedora.info/definitions/v4/transaction#endpoint"
_ERROR_BODY_LIMIT = 64 * 1024
PREMIS_DIGEST = "http://www.loc.gov/premis/rdf/v1#hasMessageDigest"
Body = bytes | Callable[[], AsyncIterator[bytes]] | AsyncIterable[bytes] | None
BinarySource = os.PathLike[str] | bytes | AsyncIterable[bytes]


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing, and costs nothing to offer a response to."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` that keeps no cookies. Fedora hands out session cookies; a
    delegated request must never ride on a session opened by another, so none are kept.

    (A jar whose policy refuses every cookie kept none either, but httpx still wrapped every
    response and its request in urllib's objects to offer it that jar: about 5% of the
    client's CPU per request.)"""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        pass  # none are kept


_NO_COOKIES = _NoCookies()


@attrs.define
class _Naming:
    """How URIs are rewritten, shared by every view of one client.

    With REPOSITORY.ORIGIN, whether the server honours X-Forwarded-Host (and so names itself
    by REST_ENDPOINT) is learnt from its answer to one HEAD of the root, before the first
    request: a server that does not is treated as if REST_ENDPOINT were an external URL of
    the origin, so the URIs in request bodies name its resources the way it does.
    """

    map: UriMap
    probe_pending: bool = False
    lock: trio.Lock = attrs.field(factory=trio.Lock)


@attrs.frozen
class _Shared:
    """What every view of one client shares."""

    http: httpx.AsyncClient
    config: RepositoryConfig
    naming: _Naming
    retry: RetryPolicy
    keep_alive_interval: float
    rollback_timeout: float
    digest_algorithm: str
    chunk_size: int
    hash_limiter: trio.CapacityLimiter
    #: the terms to prime a ModeShape Fedora with before the first write (`_prime`), if any
    prime: Callable[[], Awaitable[Graph | None]] | None = None
    #: what the server turned out to be: "tx_style" once a transaction has begun
    learned: dict[str, str] = attrs.field(factory=dict)


class RepositoryClient:
    """An async client of a Fedora repository (4.7 or 6.x), to be used under trio.

    ```
    async with RepositoryClient(config.repository) as repo:
        created = await repo.create_container(repo.uri("/pcdm"), graph, slug="item-1")
        async with repo.on_behalf_of("jsmith").transaction() as tx:
            await tx.update(created.uri, "INSERT DATA { <> <...> \"...\" }")
    ```
    Every URI a caller passes or gets back is in the external form (under `REPO_EXTERNAL_URL`
    when configured, else under `REST_ENDPOINT`).
    """

    _shared: _Shared
    _delegate: str | None
    _tx: Transaction | None
    #: the User-Agent this view sends instead of the client's, if any
    _agent: str | None
    _owner: bool
    _priming: bool

    def __init__(
        self,
        config: RepositoryConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        retry: RetryPolicy | None = None,
        keep_alive_interval: float = 60.0,
        rollback_timeout: float | None = None,
        digest_algorithm: str = "sha-256",
        chunk_size: int = 1024 * 1024,
        user_agent: str | None = None,
        prime: Callable[[], Awaitable[Graph | None]] | None = None,
    ) -> None:
        if digest_algorithm not in DIGESTS:
            raise ValueError(
                f"unsupported digest algorithm {digest_algorithm!r} "
                f"(expected one of {', '.join(DIGESTS)})"
            )
        if keep_alive_interval <= 0:
            raise ValueError("keep_alive_interval must be positive")
        internal = config.rest_endpoint.rstrip("/")
        external = (config.repo_external_url or internal).rstrip("/")
        origin = config.origin.rstrip("/") if config.origin else None
        default_headers = {"User-Agent": user_agent or DAEMON_AGENT}
        if origin is not None and origin != internal:
            default_headers.update(forwarded_headers(internal))
        else:
            origin = None
        auth = auth_from_config(config)
        verify = ssl_from_config(config)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        client = _CookielessClient(
            auth=auth,
            verify=verify,
            timeout=httpx.Timeout(config.timeout),
            limits=limits,
            transport=transport,
            headers=default_headers,
            follow_redirects=False,
            # Counts and times every request (plastrond_repository_requests_total, ...).
            event_hooks=metrics.REPOSITORY_EVENT_HOOKS,
        )
        self._shared = _Shared(
            http=client,
            config=config,
            naming=_Naming(
                UriMap(internal=internal, external=external, origin=origin),
                probe_pending=origin is not None,
            ),
            retry=retry or RetryPolicy(),
            keep_alive_interval=keep_alive_interval,
            rollback_timeout=rollback_timeout if rollback_timeout is not None else config.timeout,
            digest_algorithm=digest_algorithm,
            chunk_size=chunk_size,
            hash_limiter=trio.CapacityLimiter(4),
            prime=prime,
        )
        self._delegate = None
        self._tx = None
        self._agent = None
        self._owner = True
        self._priming = prime is not None

    def _view(
        self, *, delegate: str | None, tx: Transaction | None, priming: bool = True
    ) -> RepositoryClient:
        view = object.__new__(RepositoryClient)
        view._shared = self._shared
        view._delegate = delegate
        view._tx = tx
        view._agent = self._agent
        view._owner = False
        view._priming = priming and self._shared.prime is not None
        return view

    async def _may_need_priming(self) -> bool:
        """False once the server is known to be one that is never primed (Fedora 6)."""
        return await prime_needed(self, known_only=True)

    async def _prime_before_write(self, uri: str) -> None:
        """Before a write to *uri*: the server primed with the terms of the client's `prime`
        (once per process and server; nothing on Fedora 6; see `_prime`), the placeholder in
        the container nearest to *uri* that takes it."""
        if not self._priming or not await self._may_need_priming():
            return
        assert self._shared.prime is not None
        graph = await self._shared.prime()
        if graph is not None:
            parent = uri.rstrip("/").removesuffix("/fcr:metadata").rpartition("/")[0]
            # always outside any transaction, whatever view the write goes through
            outside = self._view(delegate=self._delegate, tx=None, priming=False)
            await prime_server(outside, graph, parent or self.root)

    @property
    def _map(self) -> UriMap:
        base = self._shared.naming.map
        return base.with_tx_base(self._tx.tx_base) if self._tx is not None else base

    async def _probe_origin(self) -> None:
        """Learn whether the origin honours X-Forwarded-Host (see `_Naming`)."""
        naming = self._shared.naming
        async with naming.lock:
            if not naming.probe_pending:
                return
            current = naming.map
            assert current.origin is not None
            # The root's own triples name it as the server names itself (Fedora 4.7 puts no
            # URI in the headers of the root, Fedora 6 does); only the start is read.
            headers = {
                "Accept": "application/n-triples",
                "Prefer": f'return=representation; omit="{LDP}PreferContainment '
                f'{LDP}PreferMembership"',
                "User-Agent": self.user_agent,
            }
            head = b""
            try:
                async with self._shared.http.stream(
                    "GET", current.origin + "/", headers=headers
                ) as response:
                    async for chunk in response.aiter_bytes():
                        head += chunk
                        if b"\n" in head or len(head) > 8192:
                            break
            except httpx.TransportError:
                return  # the request that follows reports the problem, and asks again
            subject = head.split(b">", 1)[0].lstrip(b"<").decode("utf-8", "replace")
            if response.is_success and under(subject.rstrip("/"), current.origin):
                log.info(
                    "the repository at %s ignores X-Forwarded-Host; URIs are translated to %s",
                    current.origin,
                    current.internal,
                )
                naming.map = UriMap(internal=current.origin, external=current.external)
            naming.probe_pending = False

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> RepositoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (views leave it to the client that made them)."""
        if self._owner:
            await self._shared.http.aclose()

    # -- naming ---------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """The repository root as callers name it (external form)."""
        return self._shared.naming.map.external

    @property
    def default_container(self) -> str:
        """The container new objects go into (`RELPATH` under the root)."""
        return self.uri(self._shared.config.relpath)

    def uri(self, path: str) -> str:
        """The URI of *path* below the repository root."""
        path = path.strip()
        if not path or path == "/":
            return self.root
        return f"{self.root}/{path.lstrip('/')}"

    def contains(self, uri: str) -> bool:
        """Whether *uri* names a resource of this repository (in either form), as it will
        be resolved: a query, a fragment or a `.`/`..` segment in any spelling is refused
        (`_uris.names_resource`), since httpx or the server would resolve it elsewhere."""
        return self._shared.naming.map.is_local(uri)

    @property
    def delegate(self) -> str | None:
        """The user this view acts for (`On-Behalf-Of`), if any."""
        return self._delegate

    @property
    def transaction_info(self) -> Transaction | None:
        """The transaction this view works in, if any."""
        return self._tx

    @property
    def takes_forward_links(self) -> bool:
        """Whether a body written through this view may name repository resources that do
        not exist yet: inside a Fedora 6 transaction it may (the server keeps no referential
        check); Fedora 4.7 refuses such a triple (`400 PathNotFoundException`), and outside a
        transaction the server's kind is not known here, so False."""
        return self._tx is not None and self._tx.style == FCREPO6

    async def server_style(self, probe: str | None = None) -> str:
        """`FCREPO4` or `FCREPO6`: which kind of server this is. REPOSITORY.TRANSACTION_STYLE
        when it names one, else what a transaction or an earlier call taught, else learnt from
        one HEAD of *probe* (the root by default): Fedora 6 links every resource to its
        Memento time map (`rel="timemap"`) and the root to its transaction endpoint
        (`rel="...transaction#endpoint"`); Fedora 4.7 implements neither."""
        wanted = self._shared.config.transaction_style
        if wanted in (FCREPO4, FCREPO6):
            return wanted
        known = self._shared.learned.get("tx_style")
        if known is not None:
            return known
        response = await self._send("HEAD", probe or self.root)
        links = parse_links(response.headers.get_list("Link"))
        fcrepo6 = any(ln.rel in ("timemap", _TX_ENDPOINT) for ln in links)
        style = FCREPO6 if fcrepo6 else FCREPO4
        self._shared.learned.setdefault("tx_style", style)
        return self._shared.learned["tx_style"]

    async def stored_binary(self, uri: str) -> tuple[dict[str, str], int | None]:
        """What one HEAD (with `Want-Digest`) says of the binary at *uri*: the digests the
        server reports (our algorithm names; Fedora 4.7 reports none) and its length."""
        response = await self._send(
            "HEAD", uri, headers={"Want-Digest": self._shared.digest_algorithm}
        )
        length = response.headers.get("Content-Length")
        return (
            parse_digest_header(response.headers.get("Digest")),
            int(length) if length and length.isdigit() else None,
        )

    @property
    def user_agent(self) -> str:
        """The User-Agent this view's requests carry (see `_agents`)."""
        return self._agent or self._shared.http.headers["User-Agent"]

    def labelled(self, purpose: str) -> RepositoryClient:
        """A view whose requests (transactions begun through it included) say *purpose*
        in their User-Agent, `plastrond/0.1.0 (import)`: UMD's indexing pipeline reads it
        from the events Fedora emits (`_agents`). Only a purpose of `_agents.PURPOSES`."""
        view = self._view(delegate=self._delegate, tx=self._tx)
        view._agent = labelled_agent(self.user_agent, purpose)
        return view

    def on_behalf_of(self, user: str | None) -> RepositoryClient:
        """A view that asks the server to act as *user* (`On-Behalf-Of`); None for no one."""
        if user is not None:
            name = user_name(user)
            if name is None:
                raise ValueError(f"not a usable user name for On-Behalf-Of: {user.strip()!r}")
            user = name
        return self._view(delegate=user, tx=self._tx)

    # -- reading --------------------------------------------------------------------------

    async def head(self, uri: str) -> ResourceInfo:
        response = await self._send("HEAD", uri)
        return self._info(uri, response)

    async def exists(self, uri: str) -> bool:
        """True when *uri* answers HEAD; False when it is missing or deleted."""
        try:
            await self._send("HEAD", uri)
        except ResourceNotFound:
            return False
        return True

    async def get_graph(
        self, uri: str, *, containment: bool = True, server_managed: bool = True
    ) -> GraphResource:
        """The RDF of *uri* (for a binary, pass its `description_uri`).

        `containment=False` leaves out `ldp:contains` (cheap for large containers);
        `server_managed=False` leaves out the triples the server maintains.
        """
        headers = {"Accept": READ_FORMAT}
        omit = []
        if not containment:
            omit.append(PREFER_CONTAINMENT)
        if not server_managed:
            omit.extend((SERVER_MANAGED, SERVER_MANAGED_FCREPO4))
        if omit:
            headers["Prefer"] = f'return=representation; omit="{" ".join(omit)}"'
        response = await self._send("GET", uri, headers=headers)
        mapper = None if self._map.identity else self._map.inbound
        graph = parse_ntriples(response.content, mapper)
        etag = response.headers.get("ETag")
        return GraphResource(
            uri=uri,
            graph=graph,
            etag=etag,
            # Fedora 4.7 has no X-State-Token, but its ETag is the same for every
            # representation and is matched by If-Match: it serves as the state token.
            state_token=response.headers.get("X-State-Token") or etag,
        )

    @asynccontextmanager
    async def open_binary(
        self, uri: str, *, want_digest: bool = False
    ) -> AsyncIterator[BinaryStream]:
        """Stream the content of a binary: `async with repo.open_binary(uri) as b:` then
        `async for chunk in b.iter_bytes(): ...`. With *want_digest* the server is asked to
        send its digest (`b.digests`)."""
        headers = {"Want-Digest": self._shared.digest_algorithm} if want_digest else {}
        response = await self._send("GET", uri, headers=headers, stream=True, follow_redirects=True)
        try:
            yield BinaryStream(uri, response, self._shared.chunk_size)
        finally:
            await response.aclose()

    async def download(self, uri: str, path: os.PathLike[str], *, verify: bool = True) -> int:
        """Save the content of a binary to *path* and return its size.

        The bytes go to `<path>.part` first and are renamed into place once complete; with
        *verify*, the digest the server reports is checked against the bytes received.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        algorithm = self._shared.digest_algorithm
        # Fedora 4.7 sends no Digest (it ignores Want-Digest) but always records a SHA-1 in the
        # binary's description: hash that too, to check against it.
        hashers = {a: hashlib.new(DIGESTS[a]) for a in {algorithm, "sha"}} if verify else {}
        size = 0
        try:
            async with self.open_binary(uri, want_digest=verify) as binary:
                async with await trio.open_file(partial, "wb") as out:
                    async for chunk in binary.iter_bytes():
                        for hasher in hashers.values():
                            hasher.update(chunk)
                        await out.write(chunk)
                        size += len(chunk)
                    await out.flush()
                    await trio.to_thread.run_sync(os.fsync, out.fileno())
                reported = binary.digests
                described = binary.describedby
                if described is not None:
                    described = self._map.inbound(described)
            if hashers:
                ours = {a: h.hexdigest() for a, h in hashers.items()}
                if not any(a in reported for a in ours):
                    reported = await self._described_digests(described or f"{uri}/fcr:metadata")
                self._compare_digests("GET", uri, 200, ours, reported, "received bytes")
            await trio.Path(partial).rename(target)
        except BaseException:
            with trio.CancelScope(shield=True):
                await trio.Path(partial).unlink(missing_ok=True)
            raise
        return size

    # -- writing RDF ----------------------------------------------------------------------

    async def create_container(
        self,
        parent: str | None = None,
        graph: Graph | None = None,
        *,
        slug: str | None = None,
        prefixes: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """POST a new container into *parent* (default: `RELPATH`), described by *graph*.

        In *graph*, `URIRef("")` names the new resource. Fedora 6 takes *slug* as the last
        path segment, or mints one when that name is taken. *prefixes* (prefix -> namespace)
        are declared in the body; without them, those of `declarations` (on a Fedora 4.7, a
        prefix for each namespace of the graph the server has not registered: every write
        registers its new namespaces under a declared prefix, never a made-up `nsNNN`).
        """
        headers = {"Content-Type": WRITE_FORMAT}
        if slug is not None:
            headers["Slug"] = header_safe("Slug", slug)
        if self._shared.naming.probe_pending:
            await self._probe_origin()
        await self._prime_before_write(f"{(parent or self.default_container).rstrip('/')}/new")
        if prefixes is None:
            prefixes = await declarations(self, graph_namespaces(graph))
        body = _declared(prefixes) + serialize_for_write(graph, self._body_mapper())
        response = await self._send(
            "POST", parent or self.default_container, headers=headers, body=body
        )
        registered(self, dict(prefixes))
        return self._written(parent or self.default_container, response, binary=False)

    async def put_container(
        self,
        uri: str,
        graph: Graph | None = None,
        *,
        lenient: bool = False,
        if_match: str | None = None,
        if_state_token: str | None = None,
    ) -> WriteResult:
        """PUT a container at *uri*: create it, or replace its RDF with *graph*.

        With *lenient*, server-managed triples in *graph* (as read by `get_graph`) are ignored
        instead of refused (`Prefer: handling=lenient; received="minimal"`): they are left out
        of the body, because Fedora 4.7, unlike 6, refuses a lenient PUT that carries them
        (and a strict replacing PUT that lacks them).
        """
        headers = {"Content-Type": WRITE_FORMAT}
        if graph is not None and lenient:
            graph = without_server_managed(graph)
        elif graph is None or len(without_server_managed(graph)) == len(graph):
            # Nothing server-managed in the body, so lenient changes nothing on Fedora 6; on
            # Fedora 4.7 it is what lets a PUT replace an existing container's RDF (strict, 4.7
            # refuses a body that lacks the container's server-managed types).
            lenient = True
        if lenient:
            headers["Prefer"] = LENIENT
        preconditions(headers, if_match, if_state_token)
        if self._shared.naming.probe_pending:
            await self._probe_origin()
        await self._prime_before_write(uri)
        prefixes = await declarations(self, graph_namespaces(graph))
        body = _declared(prefixes) + serialize_for_write(graph, self._body_mapper())
        response = await self._send("PUT", uri, headers=headers, body=body)
        registered(self, prefixes)
        return self._written(uri, response, binary=False)

    async def update(
        self,
        uri: str,
        sparql: str,
        *,
        if_match: str | None = None,
        if_state_token: str | None = None,
    ) -> None:
        """PATCH *uri* with a SPARQL Update (for a binary, patch its `description_uri`)."""
        headers = {"Content-Type": "application/sparql-update"}
        preconditions(headers, if_match, if_state_token)
        if self._shared.naming.probe_pending:
            await self._probe_origin()
        await self._prime_before_write(uri)
        prefixes = await declarations(self, sparql_namespaces(sparql, self.root))
        mapper = self._body_mapper()
        if mapper is not None:
            sparql = map_sparql(sparql, mapper)
        declared = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in sorted(prefixes.items()))
        # (not noted as registered: an IRI of the update may be an object, which registers
        # nothing; declared again, a registered namespace is left as it is)
        await self._send("PATCH", uri, headers=headers, body=(declared + sparql).encode("utf-8"))

    async def delete(self, uri: str, *, purge: bool = False, if_match: str | None = None) -> None:
        """DELETE *uri*. Fedora (4 and 6) leaves a tombstone that answers 410; with *purge* the
        tombstone is removed too, freeing the path for reuse."""
        headers: dict[str, str] = {}
        preconditions(headers, if_match, None)
        await self._send("DELETE", uri, headers=headers)
        if purge:
            await self._send("DELETE", f"{uri.rstrip('/')}/fcr:tombstone")

    # -- writing binaries -----------------------------------------------------------------

    async def create_binary(
        self,
        parent: str | None,
        source: BinarySource,
        *,
        filename: str,
        mime_type: str,
        slug: str | None = None,
        digest: str | None = None,
    ) -> WriteResult:
        """POST a binary into *parent* (default: `RELPATH`). See `put_binary` for *source* and
        *digest*."""
        headers: dict[str, str] = {}
        if slug is not None:
            headers["Slug"] = header_safe("Slug", slug)
        return await self._write_binary(
            "POST", parent or self.default_container, source, filename, mime_type, digest, headers
        )

    async def put_binary(
        self,
        uri: str,
        source: BinarySource,
        *,
        filename: str,
        mime_type: str,
        digest: str | None = None,
        if_match: str | None = None,
        size: int | None = None,
    ) -> WriteResult:
        """PUT a binary at *uri*, creating it or replacing its content.

        *source* is a file path (hashed first in a worker thread, then streamed), bytes, or an
        async iterator of bytes (streamed once). The server checks the bytes against the
        `Digest` header we send: *digest* (`"sha-256=<hex>"`) when given, else the one we
        computed. An async iterator without *digest* is hashed as it streams and the result
        compared with the digest the server reports afterwards. *size*, when known, is sent as
        the Content-Length of an async iterator (instead of a chunked body; the stream must then
        hold exactly that many bytes).
        """
        headers: dict[str, str] = {}
        preconditions(headers, if_match, None)
        if size is not None and not isinstance(source, bytes | os.PathLike):
            headers["Content-Length"] = str(size)
        return await self._write_binary("PUT", uri, source, filename, mime_type, digest, headers)

    async def _write_binary(
        self,
        method: str,
        uri: str,
        source: BinarySource,
        filename: str,
        mime_type: str,
        digest: str | None,
        headers: dict[str, str],
    ) -> WriteResult:
        await self._prime_before_write(uri if method == "PUT" else f"{uri.rstrip('/')}/new")
        headers["Content-Type"] = header_safe("MIME type", mime_type)
        headers["Content-Disposition"] = content_disposition(filename)
        given = parse_digest_header(digest) if digest else {}
        if digest and not given:
            raise ValueError(f"not a digest of the form algorithm=hex: {digest!r}")
        algorithm = self._shared.digest_algorithm
        body: Body
        streamed_hasher = None
        if isinstance(source, bytes):
            if not given:
                given = {algorithm: hashlib.new(DIGESTS[algorithm], source).hexdigest()}
            body = source
        elif isinstance(source, os.PathLike):
            path = Path(source)
            # One trip to a worker thread measures the file and hashes it (unless *digest* is
            # given); a file of at most one chunk comes back whole and is sent from memory
            # (most page images of a typical import: no further thread trips to stream it).
            size, hexdigest, content = await trio.to_thread.run_sync(
                _measure_file,
                path,
                None if given else DIGESTS[algorithm],
                self._shared.chunk_size,
                limiter=self._shared.hash_limiter,
            )
            if hexdigest is not None:
                given = {algorithm: hexdigest}
            headers["Content-Length"] = str(size)
            body = content if content is not None else _file_chunks(path, self._shared.chunk_size)
        else:
            if given:
                body = source
            else:
                # Hashed as it streams, also in SHA-1: Fedora 4.7 records only the digests it
                # computes itself (SHA-1) for bytes sent without a Digest header.
                streamed_hasher = {
                    a: hashlib.new(DIGESTS[a]) for a in dict.fromkeys((algorithm, "sha"))
                }
                body = _hashing(source, *streamed_hasher.values())
        if given:
            headers["Digest"] = ", ".join(f"{alg}={value}" for alg, value in given.items())
        try:
            response = await self._send(method, uri, headers=headers, body=body)
        except RepositoryHTTPError as e:
            # SHA-1 is "sha" to Fedora 6 and "sha1" to Fedora 4.7 (each refuses the other's
            # name; both take "sha-256"): say it the other way once.
            other = {"sha": "sha1", "sha1": "sha"}
            if not (
                e.status in (400, 409)
                and "digest" in e.reason.lower()
                and any(alg in other for alg in given)
                and (body is None or isinstance(body, bytes) or callable(body))
            ):
                raise
            given = {other.get(alg, alg): value for alg, value in given.items()}
            headers["Digest"] = ", ".join(f"{alg}={value}" for alg, value in given.items())
            response = await self._send(method, uri, headers=headers, body=body)
        result = self._written(uri, response, binary=True)
        if streamed_hasher is not None:
            ours = {a: h.hexdigest() for a, h in streamed_hasher.items()}
            await self._check_stored_digest(method, result, algorithm, ours)
            given = ours
        sent = headers.get("Content-Length")
        if isinstance(source, bytes):
            sent = str(len(source))
        return attrs.evolve(
            result,
            digests={a: v.lower() for a, v in given.items()},
            size=int(sent) if sent and sent.isdigit() else None,
        )

    async def _check_stored_digest(
        self, method: str, result: WriteResult, algorithm: str, ours: Mapping[str, str]
    ) -> None:
        """After streaming bytes whose digest we could not send first: compare the server's
        (*algorithm*'s when it reports it, else any other of *ours*)."""
        response = await self._send("HEAD", result.uri, headers={"Want-Digest": algorithm})
        reported = parse_digest_header(response.headers.get("Digest"))
        if algorithm not in reported:
            # Fedora 4.7 ignores Want-Digest; the description records the digests it computed
            reported = {**reported, **await self._described_digests(result.description_uri)}
        common = [a for a in ours if a in reported]
        if not common:
            log.warning(
                "%s %s: the server reported no %s digest; stored bytes not verified",
                method,
                result.uri,
                " or ".join(ours),
            )
            return
        self._compare_digests(
            method,
            result.uri,
            response.status_code,
            {common[0]: ours[common[0]]},
            reported,
            "streamed bytes",
        )

    async def _described_digests(self, description_uri: str) -> dict[str, str]:
        """The `premis:hasMessageDigest` values of a binary's description, by our algorithm
        names (`urn:sha1:<hex>` is "sha"; Fedora 4.7 writes `urn:sha256:`, 6 `urn:sha-256:`)."""
        try:
            read = await self.get_graph(description_uri, containment=False)
        except RepositoryError as e:
            log.warning("%s: digests not readable: %s", description_uri, e)
            return {}
        found: dict[str, str] = {}
        for value in read.graph.objects(None, URIRef(PREMIS_DIGEST)):
            scheme, _, rest = str(value).partition(":")
            name, _, hexdigest = rest.partition(":")
            name = URN_DIGEST_NAMES.get(name.lower(), "")
            if scheme == "urn" and name and hexdigest:
                found[name] = hexdigest.lower()
        return found

    @staticmethod
    def _compare_digests(
        method: str,
        uri: str,
        status: int,
        ours: Mapping[str, str],
        reported: Mapping[str, str],
        what: str,
    ) -> None:
        for algorithm, value in ours.items():
            theirs = reported.get(algorithm)
            if theirs is not None and theirs != value:
                raise ChecksumMismatch(
                    method,
                    uri,
                    status,
                    f"{what} have {algorithm} {value}, the server reports {theirs}",
                )

    # -- transactions ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(
        self, *, keep_alive_interval: float | None = None
    ) -> AsyncIterator[RepositoryClient]:
        """Open a transaction; yield a view of this client that works inside it.

        The transaction is kept alive by a background task while the block runs, committed when
        the block ends normally, and rolled back when it raises or is cancelled (the rollback
        runs shielded from cancellation, within `rollback_timeout` seconds).
        """
        if self._tx is not None:
            raise TransactionError(f"already in transaction {self._tx.uri}; they do not nest")
        interval = keep_alive_interval or self._shared.keep_alive_interval
        tx = await self._begin()
        view = self._view(delegate=self._delegate, tx=tx)
        log.debug("transaction %s (%s) begun", tx.uri, tx.style)
        outcome: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keep_alive, tx, interval, nursery.cancel_scope)
                try:
                    yield view
                except BaseException as exc:  # rolled back below, then raised again
                    outcome = exc
                finally:
                    nursery.cancel_scope.cancel()
        except BaseException as exc:  # the nursery's own exit was cancelled from outside
            if outcome is None:
                outcome = failure_of(exc) or exc
        if tx.failure is not None:
            await self._rollback(tx)
            raise tx.failure from (outcome if not isinstance(outcome, trio.Cancelled) else None)
        if outcome is not None:
            await self._rollback(tx)
            raise outcome
        try:
            await self._tx_control(tx, "commit")
        except BaseException as exc:
            await self._rollback(tx)
            if isinstance(exc, RepositoryError):
                raise TransactionError(f"commit of transaction {tx.uri} failed: {exc}") from exc
            raise
        tx.state = "committed"
        log.debug("transaction %s committed after %d keep-alives", tx.uri, tx.keep_alives)

    async def _begin(self) -> Transaction:
        if self._shared.naming.probe_pending:
            await self._probe_origin()
        root = self._shared.naming.map.internal
        url = f"{root}/fcr:tx"
        wanted = self._shared.config.transaction_style
        style = wanted if wanted != "auto" else self._shared.learned.get("tx_style")
        # A Fedora 4.7 transaction works as the user who began it (On-Behalf-Of on the work
        # inside is ignored), so a delegated one is begun on the user's behalf; Fedora 6 takes
        # the delegation on each request and refuses transaction control from a non-admin.
        begin_as = self._delegate if style == FCREPO4 else None
        try:
            response = await self._view(delegate=begin_as, tx=None)._send("POST", url, raw_url=True)
        except RepositoryError as e:
            raise TransactionNotBegun(f"cannot begin a transaction: {e}") from e
        location = response.headers.get("Location", "")
        found = style_of_location(root, self._shared.naming.map.from_origin(location))
        if found is not None and wanted in ("auto", found):
            self._shared.learned["tx_style"] = found
        if found == FCREPO4 and self._delegate is not None and begin_as is None:
            # learned only now that this is Fedora 4.7: begin again as the user
            await self._rollback(Transaction(uri=location, style=FCREPO4))
            return await self._begin()
        if found is None or (wanted != "auto" and wanted != found):
            what = f"a {found} transaction" if found else f"an unrecognised Location {location!r}"
            if found is not None:
                await self._rollback(Transaction(uri=location, style=found))
            raise TransactionNotBegun(
                f"POST {url}: expected a {'' if wanted == 'auto' else wanted + ' '}transaction, "
                f"the server began {what} (check REPOSITORY.TRANSACTION_STYLE)"
            )
        return Transaction(
            uri=location,
            style=found,
            expires=parse_http_date(
                response.headers.get("Atomic-Expires") or response.headers.get("Expires")
            ),
        )

    async def _keep_alive(
        self, tx: Transaction, interval: float, body_scope: trio.CancelScope
    ) -> None:
        while True:
            await trio.sleep(interval)
            try:
                await self._tx_control(tx, "keep-alive")
            except RepositoryHTTPError as e:
                if e.status in (404, 409, 410):
                    tx.state = "failed"
                    tx.failure = TransactionError(
                        f"transaction {tx.uri} ended while still in use: {e}"
                    )
                    body_scope.cancel()
                    return
                log.warning("keep-alive of transaction %s failed, trying again: %s", tx.uri, e)
            except RepositoryError as e:
                log.warning("keep-alive of transaction %s failed, trying again: %s", tx.uri, e)

    async def _tx_control(self, tx: Transaction, operation: str) -> httpx.Response:
        if operation == "commit":
            method, url = tx.commit_request()
        elif operation == "rollback":
            method, url = tx.rollback_request()
        else:
            method, url = tx.keep_alive_request()
        # The transaction itself belongs to the client's own account: Fedora 6.1.0 answers 403
        # to a keep-alive, commit or rollback sent on behalf of a user who is not an admin.
        base = self._view(delegate=None, tx=None)
        response = await base._send(method, url, raw_url=True, repeatable=operation != "commit")
        if operation == "keep-alive":
            tx.keep_alives += 1
            expires = parse_http_date(
                response.headers.get("Atomic-Expires") or response.headers.get("Expires")
            )
            if expires is not None:
                tx.expires = expires
        return response

    async def end_transaction(self, uri: str, style: str) -> str | None:
        """Roll back the transaction at *uri* (of *style*) that another process began and may
        have left open, or committing: "rolled back" (it was open: nothing of it is kept),
        "gone" (404 or 410: committed, expired or rolled back already), or None when the
        server cannot say."""
        try:
            await self._tx_control(Transaction(uri=uri, style=style), "rollback")
        except (ResourceNotFound, ResourceGone):
            return "gone"
        except RepositoryError as e:
            log.warning("transaction %s: cannot end it: %s", uri, e)
            return None
        return "rolled back"

    async def _rollback(self, tx: Transaction) -> None:
        """Roll back, shielded from cancellation but bounded in time; never raises."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self._shared.rollback_timeout
            try:
                await self._tx_control(tx, "rollback")
            except RepositoryError as e:
                log.warning("rollback of transaction %s failed: %s", tx.uri, e)
            else:
                if tx.state == "open":
                    tx.state = "rolled back"
                log.debug("transaction %s rolled back", tx.uri)
        if scope.cancelled_caught:
            log.warning(
                "rollback of transaction %s took longer than %gs; the server will expire it",
                tx.uri,
                self._shared.rollback_timeout,
            )

    # -- sending: every request but the origin probe's (`_probe_origin`) goes through _send --

    def _body_mapper(self) -> Callable[[str], str] | None:
        return None if self._map.identity else self._map.outbound

    async def _send(
        self,
        method: str,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        follow_redirects: bool = False,
        raw_url: bool = False,
        repeatable: bool | None = None,
    ) -> httpx.Response:
        """Send one request, retrying as `RetryPolicy` allows; return a 2xx response or raise.

        *uri* is the caller's (external) URI unless *raw_url*; a streamed response must be
        closed by the caller.
        """
        shared = self._shared
        if shared.naming.probe_pending:
            await self._probe_origin()
        # parsed here once: httpx parses a str URL twice per request (merge, then Request)
        url = httpx.URL(self._map.request_url(uri if raw_url else self._map.outbound(uri)))
        all_headers = dict(headers) if headers else {}
        if self._delegate is not None:
            all_headers["On-Behalf-Of"] = self._delegate
        if self._agent is not None:
            all_headers["User-Agent"] = self._agent
        if self._tx is not None and self._tx.style == FCREPO6:
            all_headers["Atomic-ID"] = self._tx.uri
        # ISO-8859-1 letters in a header (a Content-Disposition filename) go as such
        wire = [(k.encode("ascii"), v.encode("latin-1")) for k, v in all_headers.items()]
        replayable = body is None or isinstance(body, bytes) or callable(body)
        idempotent = (method in IDEMPOTENT) if repeatable is None else repeatable
        policy = shared.retry
        attempt = 0
        while True:
            content = body() if callable(body) else body
            request = shared.http.build_request(method, url, headers=wire, content=content)
            started = time.perf_counter()
            try:
                response = await shared.http.send(
                    request, stream=stream, follow_redirects=follow_redirects
                )
            except httpx.TransportError as e:
                if policy.may_retry_transport(
                    e, replayable=replayable, idempotent=idempotent, attempt=attempt
                ):
                    delay = policy.delay(attempt)
                    log.info("%s %s: %s; trying again in %.1fs", method, uri, describe(e), delay)
                    attempt += 1
                    await trio.sleep(delay)
                    continue
                raise RepositoryConnectionError(method, uri, describe(e)) from e
            status = response.status_code
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s %s -> %d (%.0f ms)",
                    method,
                    uri,
                    status,
                    (time.perf_counter() - started) * 1000,
                )
            if 200 <= status < 300:
                return response
            if method == "DELETE" and attempt > 0 and status in (404, 410):
                # An earlier attempt got through before its answer was lost.
                return response
            if policy.may_retry_status(
                status, method, replayable=replayable, idempotent=idempotent, attempt=attempt
            ):
                await response.aclose()
                delay = policy.delay(attempt, retry_after(response))
                log.info("%s %s: %d; trying again in %.1fs", method, uri, status, delay)
                attempt += 1
                await trio.sleep(delay)
                continue
            reason = await _reason(response, stream)
            raise http_error(method, uri, status, reason)

    # -- responses ------------------------------------------------------------------------

    def _info(self, uri: str, response: httpx.Response) -> ResourceInfo:
        links = tuple(
            attrs.evolve(link, target=self._map.inbound(link.target))
            for link in parse_links(response.headers.get_list("Link"))
        )
        described = next((ln.target for ln in links if ln.rel == "describedby"), uri)
        length = response.headers.get("Content-Length")
        return ResourceInfo(
            uri=uri,
            types=frozenset(ln.target for ln in links if ln.rel == "type"),
            description_uri=described,
            etag=response.headers.get("ETag"),
            state_token=response.headers.get("X-State-Token"),
            content_type=response.headers.get("Content-Type"),
            content_length=int(length) if length and length.isdigit() else None,
            last_modified=response.headers.get("Last-Modified"),
            links=links,
        )

    def _written(self, uri: str, response: httpx.Response, *, binary: bool) -> WriteResult:
        location = response.headers.get("Location")
        created = response.status_code == 201
        if location:
            uri = self._map.inbound(location.strip())
        described = uri
        if binary:
            described = f"{uri}/fcr:metadata"
            links = response.headers.get_list("Link")
            if any("describedby" in value for value in links):
                for link in parse_links(links):
                    if link.rel == "describedby":
                        described = self._map.inbound(link.target)
                        break
        return WriteResult(
            uri=uri, description_uri=described, created=created, etag=response.headers.get("ETag")
        )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def without_server_managed(graph: Graph) -> Graph:
    """A copy of *graph* without the triples Fedora (4.7 or 6) manages itself: its own
    properties, containment, and the LDP and Fedora types."""
    result = Graph()
    for s, p, o in graph:
        predicate = str(p)
        if predicate.startswith((FEDORA_NS, FCREPO_NS)) or predicate == PREFER_CONTAINMENT:
            continue
        if predicate == LDP + "contains":
            continue
        if predicate == RDF_TYPE and str(o).startswith((FEDORA_NS, FCREPO_NS, LDP)):
            continue
        result.add((s, p, o))
    return result


def _measure_file(
    path: Path, algorithm: str | None, chunk_size: int
) -> tuple[int, str | None, bytes | None]:
    """(size, hex digest by *algorithm* or None, the content when it is at most *chunk_size*
    bytes, else None) of the file at *path*."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= chunk_size:
            content = f.read()
            if len(content) == size:  # (a file that grew meanwhile is streamed as it is)
                hexdigest = hashlib.new(algorithm, content).hexdigest() if algorithm else None
                return size, hexdigest, content
            f.seek(0)
        if algorithm is None:
            return size, None, None
        hasher = hashlib.new(algorithm)
        while chunk := f.read(chunk_size):
            hasher.update(chunk)
        return size, hasher.hexdigest(), None


def _file_chunks(path: Path, chunk_size: int) -> Callable[[], AsyncIterator[bytes]]:
    """A body that can be produced again: each call streams the file from the start."""

    async def chunks() -> AsyncIterator[bytes]:
        async with await trio.open_file(path, "rb") as f:
            while True:
                chunk = await f.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return chunks


async def _hashing(source: AsyncIterable[bytes], *hashers: Any) -> AsyncIterator[bytes]:
    async for chunk in source:
        for hasher in hashers:
            hasher.update(chunk)
        yield chunk


async def _reason(response: httpx.Response, streamed: bool) -> str:
    fallback = response.reason_phrase or ""
    try:
        if streamed:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= _ERROR_BODY_LIMIT:
                    break
            body = bytes(data[:_ERROR_BODY_LIMIT])
        else:
            body = response.content[:_ERROR_BODY_LIMIT]
    except httpx.HTTPError:
        body = b""
    finally:
        await response.aclose()
    return reason_from_body(body, response.headers.get("Content-Type"), fallback)


def _declared(prefixes: Mapping[str, str]) -> bytes:
    """Turtle prefix declarations for *prefixes* (prefix -> namespace), before a body."""
    return "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in sorted(prefixes.items())).encode()

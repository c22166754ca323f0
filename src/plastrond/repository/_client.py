"""The repository client: one httpx.AsyncClient under trio over the client's own pooled
HTTP/1.1 transport (`_transport.H11Transport`: h11 over trio streams), and views of it.

`RepositoryClient(config)` owns the connection pool. `client.on_behalf_of(user)` and the client
yielded by `client.transaction()` are views that share the pool and add a delegated user or a
transaction to every request they send.

A request goes down in layers (httpx's `send` is the model): `_request.prepare` makes it a value
(URI mapping, delegation, User-Agent, `Atomic-ID`; pure), `_send.send` sends it again as
`_retry.RetryPolicy` says, around one send with timing and error mapping (`_send.send_once`),
through the transport (`transport=` takes any httpx transport instead: tests pass
`httpx.MockTransport`).
Transactions' lives are in `_transactions`, binaries' bytes and digests in `_binaries`.

Beside it, without I/O: what it returns (`_resources`), the headers it speaks (`_headers`),
URIs and links (`_uris`), RDF formats (`_rdf`), transactions' styles and states
(`_transaction`), errors (`_errors`), authentication (`_auth`).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import trio
from rdflib import Graph

from plastrond import metrics
from plastrond.config import RepositoryConfig
from plastrond.parsing import user_name

from . import _binaries, _transactions
from ._agents import DAEMON_AGENT
from ._agents import labelled as labelled_agent
from ._auth import auth_from_config, ssl_from_config
from ._binaries import BinarySource
from ._errors import ResourceNotFound, TransactionError
from ._headers import DIGESTS, forwarded_headers, header_safe, parse_digest_header, preconditions
from ._prime import declarations, graph_namespaces, registered, sparql_namespaces
from ._prime import known_needs_priming as prime_needed
from ._prime import prime as prime_server
from ._rdf import READ_FORMAT, WRITE_FORMAT, map_sparql, parse_ntriples, serialize_for_write
from ._request import Body, View, prepare
from ._resources import BinaryStream, GraphResource, ResourceInfo, WriteResult
from ._retry import RetryPolicy
from ._send import send
from ._transaction import FCREPO4, FCREPO6, Transaction
from ._transport import H11Transport
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
        if transport is None:
            verify = ssl_from_config(config)
            transport = H11Transport(
                ssl_context=verify if isinstance(verify, ssl.SSLContext) else None,
                max_connections=max_connections,
            )
        client = _CookielessClient(
            auth=auth_from_config(config),
            timeout=httpx.Timeout(config.timeout),
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
        return await _binaries.download(self, uri, path, verify=verify)

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
        mapper = await self._body_mapper()
        await self._prime_before_write(f"{(parent or self.default_container).rstrip('/')}/new")
        if prefixes is None:
            prefixes = await declarations(self, graph_namespaces(graph))
        body = _declared(prefixes) + serialize_for_write(graph, mapper)
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
        mapper = await self._body_mapper()
        await self._prime_before_write(uri)
        prefixes = await declarations(self, graph_namespaces(graph))
        body = _declared(prefixes) + serialize_for_write(graph, mapper)
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
        mapper = await self._body_mapper()
        await self._prime_before_write(uri)
        prefixes = await declarations(self, sparql_namespaces(sparql, self.root))
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
        parent = parent or self.default_container
        return await _binaries.write_binary(
            self,
            "POST",
            parent,
            source,
            filename=filename,
            mime_type=mime_type,
            digest=digest,
            headers=headers,
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
        return await _binaries.write_binary(
            self,
            "PUT",
            uri,
            source,
            filename=filename,
            mime_type=mime_type,
            digest=digest,
            headers=headers,
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
        async with _transactions.open_transaction(self, interval) as view:
            yield view

    async def _begin(self) -> Transaction:
        return await _transactions.begin(self)

    async def end_transaction(self, uri: str, style: str) -> str | None:
        """Roll back the transaction at *uri* (of *style*) that another process began and may
        have left open, or committing: "rolled back" (it was open: nothing of it is kept),
        "gone" (404 or 410: committed, expired or rolled back already), or None when the
        server cannot say."""
        return await _transactions.end_transaction(self, uri, style)

    # -- sending: every request but the origin probe's (`_probe_origin`) goes through _send --

    async def _naming(self) -> UriMap:
        """The client's URI map, once the origin probe (if any) has settled it: the one place
        that waits for the probe, before any request and any body that names resources."""
        naming = self._shared.naming
        if naming.probe_pending:
            await self._probe_origin()
        return naming.map

    async def _body_mapper(self) -> Callable[[str], str] | None:
        """How URIs in a body are rewritten for the server (None: as they are)."""
        await self._naming()
        mapping = self._map
        return None if mapping.identity else mapping.outbound

    async def _send(
        self,
        method: str,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        **flags: Any,
    ) -> httpx.Response:
        """Send one request, retrying as `RetryPolicy` allows; return a 2xx response or raise.

        *uri* is the caller's (external) URI unless the flag `raw_url`; the flags `stream`,
        `follow_redirects`, `raw_url` and `repeatable` are `_request.prepare`'s. A streamed
        response must be closed by the caller.
        """
        view = View(
            map=await self._naming(), delegate=self._delegate, agent=self._agent, tx=self._tx
        )
        request = prepare(view, method, uri, headers=headers, body=body, **flags)
        return await send(self._shared.http, self._shared.retry, request)

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


def _declared(prefixes: Mapping[str, str]) -> bytes:
    """Turtle prefix declarations for *prefixes* (prefix -> namespace), before a body."""
    return "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in sorted(prefixes.items())).encode()

"""Priming a ModeShape Fedora (4.7) with every term plastrond writes, before its first write.

Fedora 4.7 (ModeShape) registers a namespace (prefix `ns00N`) the first time a predicate or an
rdf:type of that namespace is written, and a node type for each new rdf:type, inside the
session that writes it. Sessions writing the first uses of a namespace at the same time race:
`500 ValueFormatException: Error converting "ns001:Published" from String to a Name`,
`400 Node type 'ns007:Published' already exists`, `400 ...mode:namespaces-...`, and worst, two
sessions given the same prefix for different namespaces, so that a value is stored under
`http://pcdm.org/models#identifier` instead of `dcterms:identifier`.

`prime(client, graph, near)` removes that cause: once per process and server, before the first
write, one resource carrying every (predicate, object) of *graph* (every predicate, rdf:type,
literal datatype and language plastrond writes) is created outside any transaction, one prime
at a time in the process, read back and checked (every value came back under its own
predicate: a crossed registration shows as a value under another), then deleted with its
tombstone. The body declares a prefix for each namespace the server has not registered yet,
derived from the namespace (`prefix_of`; the server's namespaces are read once, from the
prefixes of its Turtle): Fedora 4.7 registers a new namespace under the prefix the body
declares rather than making up the next `nsNNN`, so that two replicas priming a new server at
once register the same prefix for the same namespace. A crossed read-back or a race of the
create (the other replica's `Node type ... already exists`) is tried again. Terms already
primed are not written again; a graph with terms not seen yet (a model added while running)
primes those.

Every other write declares them too (`declarations`, from `RepositoryClient.create_container`,
`put_container` and `update`): a namespace the prime did not have (an update's, a prime that
could not be written) is registered under a declared prefix as well. Fedora 4.7.5 (ModeShape
5.4) makes up `nsNNN` under a shared *read* lock: two writes bringing new namespaces at once
can get the same `nsNNN` (values read back under the other namespace: `dcterms:creator` seen
as `owl:creator`) and save a namespace registry that lost or moved an entry, so that once
Fedora restarts the `nsNNN` shift, types and values are lost and a node type saved under an
`nsNNN` that no longer exists stops the webapp ("There is no namespace registered for the
prefix ns017"). A declared prefix is registered under the write lock, safely. A namespace the
server has is never declared (under any prefix): Fedora keeps its prefix.

Fedora 6 (no ModeShape) needs none of this: which server it is comes from
`RepositoryClient.server_style` (the transaction style when it is known, else one HEAD).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import attrs
import trio
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from plastrond.literals import plain

from ._errors import RepositoryError, RepositoryHTTPError
from ._races import RACE_ATTEMPTS, RACE_BACKOFF, race_answer
from ._transaction import FCREPO4, FCREPO6
from ._uris import under

if TYPE_CHECKING:
    from ._client import RepositoryClient

__all__ = [
    "PrimeError",
    "declarations",
    "graph_namespaces",
    "needs_priming",
    "prime",
    "prime_graph_pairs",
    "sparql_namespaces",
]

log = logging.getLogger("plastrond.repository")

SLUG_PREFIX: Final = "plastrond-prime-"
RDF_TYPE: Final = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
#: after a prime that could not be done (no container took the placeholder, the server did
#: not answer), the next write tries again only after this many seconds
RETRY_AFTER: Final = 60.0
Pair = tuple[URIRef, Node]


class PrimeError(RepositoryError):
    """The server kept storing the prime's values under other predicates than they were
    written with: its namespace registry is crossed, and writing would store wrong data."""


@attrs.define
class _Server:
    """What this process knows of one server (by its internal root)."""

    #: None until known; True for a ModeShape Fedora (4.7), False for Fedora 6
    modeshape: bool | None = None
    primed: set[Pair] = attrs.field(factory=set)
    #: the last graph found primed (a provider hands out the same object until it changes)
    last: Graph | None = None
    #: monotonic time before which a failed prime is not tried again
    quiet_until: float = 0.0
    #: the namespaces the server has registered (read once, then those declared added)
    registered: set[str] | None = None


_servers: dict[str, _Server] = {}
#: one prime at a time in the process
_lock = trio.Lock()


def prime_graph_pairs(graph: Graph) -> set[Pair]:
    """The (predicate, object) pairs of *graph* a prime writes (blank nodes left out)."""
    return {
        (p, plain(o))
        for p, o in graph.predicate_objects()
        if isinstance(p, URIRef) and not isinstance(o, BNode)
    }


async def needs_priming(client: RepositoryClient) -> bool:
    """Whether the server is a ModeShape Fedora (4.7), which `prime` is for (see the module)."""
    root = client._shared.naming.map.internal
    server = _servers.setdefault(root, _Server())
    if server.modeshape is None:
        view = client._view(delegate=None, tx=None, priming=False)
        server.modeshape = await view.server_style() == FCREPO4
    return server.modeshape


async def known_needs_priming(client: RepositoryClient, *, known_only: bool = False) -> bool:
    """False when the server is known (or, without *known_only*, found) to need no prime."""
    server = _servers.get(client._shared.naming.map.internal)
    if server is not None and server.modeshape is not None:
        return server.modeshape
    if client._shared.learned.get("tx_style") == FCREPO6:
        return False
    return True if known_only else await needs_priming(client)


async def prime(client: RepositoryClient, graph: Graph, near: str) -> bool:
    """Make sure the server knows every term of *graph* (see the module); True when a prime
    was written now. *near* names where the job writes: the placeholder goes into it or, when
    it cannot (missing, a pairtree node, refused), into the nearest ancestor that takes it.
    The objects of *graph* must not name repository resources.

    Raises PrimeError when the values kept coming back crossed; any other failure is logged
    and the write goes on (tried again after `RETRY_AFTER` seconds)."""
    root = client._shared.naming.map.internal
    server = _servers.setdefault(root, _Server())
    if server.modeshape is False or graph is server.last:
        return False
    async with _lock:
        if graph is server.last or time.monotonic() < server.quiet_until:
            return False
        try:
            if not await needs_priming(client):
                return False
            wanted = prime_graph_pairs(graph) - server.primed
            if wanted:
                base = client._view(delegate=None, tx=None, priming=False)
                await _write_prime(base, wanted, near)
                server.primed |= wanted
        except PrimeError:
            raise
        except RepositoryError as e:
            server.quiet_until = time.monotonic() + RETRY_AFTER
            log.warning("could not prime %s with the terms plastrond writes: %s", client.root, e)
            return False
        server.last = graph
        if wanted:
            log.info("primed %s with %d term(s) plastrond writes", client.root, len(wanted))
        return bool(wanted)


def _ancestors(client: RepositoryClient, near: str) -> list[str]:
    """*near* and the containers above it, up to the root."""
    found = []
    current = near.rstrip("/")
    if current.endswith("/fcr:metadata"):
        current = current.removesuffix("/fcr:metadata")
    root = client.root.rstrip("/")
    while current and under(current, root) and current != root:
        found.append(current)
        current = current.rpartition("/")[0]
    found.append(root)
    return found


async def _write_prime(base: RepositoryClient, wanted: set[Pair], near: str) -> None:
    graph = Graph()
    for p, o in sorted(wanted):
        graph.add((URIRef(""), p, o))
    prefixes = await declarations(base, {namespace_of(str(t)) for t in _terms(wanted)})
    places = _ancestors(base, near)
    last: Exception | None = None
    attempt = 0
    while attempt < RACE_ATTEMPTS:
        attempt += 1
        slug = f"{SLUG_PREFIX}{uuid.uuid4().hex}"
        try:
            created = await base.create_container(places[0], graph, slug=slug, prefixes=prefixes)
        except RepositoryHTTPError as e:
            last = e
            if race_answer(e):
                await trio.sleep(RACE_BACKOFF.delay(attempt - 1))
                continue
            if e.status in (403, 404, 405, 409, 410) and len(places) > 1:
                places.pop(0)  # not a container that takes it: one up
                attempt -= 1
                continue
            raise
        try:
            read = await base.get_graph(created.uri, containment=False, server_managed=False)
            got = {(p, plain(o)) for p, o in read.graph.predicate_objects(URIRef(created.uri))}
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await base.delete(created.uri, purge=True)
                except RepositoryError as e:
                    log.warning("the prime %s could not be deleted: %s", created.uri, e)
        registered(base, prefixes)
        missing = wanted - got
        if not missing:
            return
        last = PrimeError(
            f"{created.uri}: {len(missing)} value(s) of the prime did not come back under "
            f"their predicate, e.g. {_show(min(missing))} (a crossed namespace registration)"
        )
        log.warning("%s; trying again", last)
        await trio.sleep(RACE_BACKOFF.delay(attempt - 1))
    assert last is not None
    if isinstance(last, PrimeError):
        raise last
    raise last


_PREFIX_LINE = re.compile(r"@prefix\s+[^\s:]*:\s*<([^<>\s]*)>\s*\.", re.IGNORECASE)
_SPARQL_PREFIX = re.compile(r"\bPREFIX\s+[^\s:]*:\s*<([^<>\s]*)>", re.IGNORECASE)
_IRI = re.compile(r"<([^<>\"{}|^`\\\s]*)>")


async def _registered(base: RepositoryClient, server: _Server) -> set[str]:
    """The namespaces the server has registered: once per process and server, the prefixes
    Fedora 4.7 declares in a Turtle representation (every namespace of its registry)."""
    if server.registered is None:
        response = await base._send(
            "GET",
            base.root,
            headers={
                "Accept": "text/turtle",
                "Prefer": 'return=representation; omit="http://www.w3.org/ns/ldp#PreferContainment '
                'http://www.w3.org/ns/ldp#PreferMembership"',
            },
        )
        server.registered = set(_PREFIX_LINE.findall(response.text))
    return server.registered


async def declarations(client: RepositoryClient, namespaces: Iterable[str]) -> dict[str, str]:
    """The prefixes (prefix -> namespace) a write to a Fedora 4.7 must declare: one
    (`prefix_of`) for each of *namespaces* the server has not registered yet, none for the
    others (nor anything on Fedora 6).

    Fedora 4.7.5 (ModeShape 5.4) makes up `nsNNN` for a namespace no prefix is declared for
    under a shared read lock: two writes bringing new namespaces at once can get the same
    `nsNNN` (their values crossed) and save a namespace registry that lost or moved an
    entry, so that after a restart the `nsNNN` shift and the node types saved under the old
    names stop the webapp ("no namespace registered for the prefix ns017"). A declared prefix
    is registered under the write lock. A namespace already registered is left as it is:
    declaring another prefix for it is never needed, and is not done. When the server's
    registry cannot be read, every namespace is declared (Fedora ignores the declaration of
    a namespace it has)."""
    wanted = {ns for ns in namespaces if ns}
    if not wanted or not await known_needs_priming(client):
        return {}
    server = _servers.setdefault(client._shared.naming.map.internal, _Server())
    base = client._view(delegate=None, tx=None, priming=False)
    try:
        known = await _registered(base, server)
    except RepositoryError as e:
        log.warning("the namespaces of %s could not be read (all declared): %s", client.root, e)
        known = server.registered = set()
    return {prefix_of(ns): ns for ns in sorted(wanted - known)}


def registered(client: RepositoryClient, declared: dict[str, str]) -> None:
    """Note that a write declaring *declared* was taken: the server has those namespaces."""
    server = _servers.get(client._shared.naming.map.internal)
    if declared and server is not None and server.registered is not None:
        server.registered |= set(declared.values())


def graph_namespaces(graph: Graph | None) -> set[str]:
    """The namespaces of *graph* that name a JCR item to Fedora 4.7: those of its predicates
    and of the objects of its rdf:type."""
    if graph is None:
        return set()
    found = {namespace_of(str(p)) for p in graph.predicates() if isinstance(p, URIRef)}
    found |= {namespace_of(str(o)) for o in graph.objects(None, RDF_TYPE) if isinstance(o, URIRef)}
    return found


def sparql_namespaces(query: str, root: str) -> set[str]:
    """The namespaces of the absolute IRIs of a SPARQL Update, but those of the repository's
    own resources (under *root*) and those the query declares a prefix for itself (a second
    prefix for one namespace in one request is refused by Fedora 4.7)."""
    own = set(_SPARQL_PREFIX.findall(query))
    root = root.rstrip("/")
    found = set()
    for iri in _IRI.findall(query):
        if ":" not in iri or iri.startswith(root) or iri in own:
            continue
        found.add(namespace_of(iri))
    return found - own


def _terms(pairs: set[Pair]) -> set[URIRef]:
    """The IRIs that name a namespace to ModeShape: predicates and rdf:types."""
    found: set[URIRef] = set()
    for p, o in pairs:
        found.add(p)
        if p == RDF_TYPE and isinstance(o, URIRef):
            found.add(o)
    return found


def namespace_of(iri: str) -> str:
    """The namespace part of *iri* as RDF/XML (and Fedora 4.7, through Jena) splits it: all
    but the longest suffix that is an XML name (NCName) starting with a letter or `_`."""
    end = len(iri)
    start = end
    while start > 0 and _name_char(iri[start - 1]):
        start -= 1
    while start < end and not (iri[start].isalpha() or iri[start] == "_"):
        start += 1
    return iri[:start]


def _name_char(c: str) -> bool:
    return c.isalnum() or c in "_-." or ord(c) > 0x7F


def prefix_of(namespace: str) -> str:
    """The prefix the prime declares for *namespace*: the same in every process and replica
    (so that two registering it at once register the same thing), unlike any other
    namespace's and unlike the `nsNNN` Fedora makes up (which is what crossed them)."""
    return "pl" + hashlib.sha1(namespace.encode("utf-8")).hexdigest()[:10]


def _show(pair: Pair) -> str:
    p, o = pair
    value = o.n3() if isinstance(o, URIRef | Literal) else str(o)
    return f"{p.n3()} {value}"

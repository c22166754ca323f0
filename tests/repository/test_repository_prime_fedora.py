"""Priming against the real servers: Fedora 4.7.5 is primed once per process (the placeholder
read back under its predicates, then gone with its tombstone); Fedora 6.1.0 is told apart and
never written to."""

from __future__ import annotations

import uuid

import httpx
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from plastrond.repository import RepositoryClient, needs_priming, prime

pytestmark = pytest.mark.usefixtures("forget_servers")

LDP_CONTAINS = "http://www.w3.org/ns/ldp#contains"


def terms(tag: str) -> Graph:
    """Terms of namespaces of their own (a new server would register them)."""
    ns = f"http://example.org/prime-{tag}#"
    me = URIRef("")
    g = Graph()
    g.add((me, RDF.type, URIRef(ns + "Thing")))
    g.add((me, URIRef(ns + "name"), Literal(f"prime {ns}name")))
    g.add((me, URIRef(ns + "count"), Literal("1", datatype=XSD.integer)))
    g.add((me, URIRef(ns + "label"), Literal("prime", lang="ja")))
    g.add((me, URIRef(ns + "link"), URIRef("urn:uuid:0f8e4ce6-5b1e-4f3b-9a4e-000000000001")))
    return g


def children(fedora, uri: str) -> list[str]:
    answer = httpx.get(
        uri, auth=fedora.admin_auth, headers={"Accept": "application/n-triples"}, timeout=30
    )
    answer.raise_for_status()
    return [
        line.split()[2].strip("<>")
        for line in answer.text.splitlines()
        if f"<{LDP_CONTAINS}>" in line
    ]


async def test_prime_once_on_fedora47_never_on_fedora6(fedora, repo: RepositoryClient, parent):
    assert await needs_priming(repo) is fedora.is_fcrepo4
    graph = terms(uuid.uuid4().hex[:8])
    # near: a path below the container that does not exist: the placeholder goes up to it
    written = await prime(repo, graph, f"{parent}/ab/cd/ef")
    assert written is fedora.is_fcrepo4
    assert await prime(repo, graph, parent) is False  # once per process and server
    # gone with its tombstone: the container has no child, and its path is free
    assert [c for c in children(fedora, parent) if "authz" not in c] == []


async def test_writes_through_a_priming_client(fedora, admin_config, parent):
    graph = terms(uuid.uuid4().hex[:8])
    asked = []

    async def provider() -> Graph:
        asked.append(1)
        return graph

    async with RepositoryClient(admin_config, prime=provider) as repo:
        async with repo.transaction() as tx:
            await tx.put_container(f"{parent}/item", graph)
        read = await repo.get_graph(f"{parent}/item", containment=False)
    pairs = {(p, o) for p, o in read.graph.predicate_objects(URIRef(f"{parent}/item"))}
    assert (RDF.type, next(graph.objects(None, RDF.type))) in pairs
    assert bool(asked) is fedora.is_fcrepo4  # Fedora 6 (known from the transaction): never
    assert [c for c in children(fedora, parent) if "authz" not in c] == [f"{parent}/item"]

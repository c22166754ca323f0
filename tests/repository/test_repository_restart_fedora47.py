"""A Fedora 4.7.5 written to as plastrond writes to it still starts again, with every value.

Fedora 4.7.5 (ModeShape 5.4) makes up a prefix (`nsNNN`) for a namespace it does not know yet
under a shared *read* lock: two writes bringing new namespaces at once can be given the same
`nsNNN` (values then read back under the other namespace), and the namespace registry they
save loses or reorders an entry, so that once Fedora restarts the `nsNNN` shift and a node
type saved as `ns017:Thing` names a prefix no longer registered: the webapp does not start
("There is no namespace registered for the prefix ns017"), or types and values are lost. A
namespace registered under a prefix the body declares is registered under the *write* lock,
and does neither. plastrond declares one for every namespace it writes that the server does
not have (`plastrond.repository._prime.declarations`), in the prime and in every write.

On a Fedora 4.7.5 started empty for the test: the prime tests' sequence, then writes from two
clients at once that bring new namespaces (what an update or a model the prime did not know
write), then a restart: Fedora starts, and every value reads back under its own predicate.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
import trio
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from plastrond.repository import RepositoryClient, RepositoryError, _prime, prime
from tests.support.repository_doubles import repo_config

pytestmark = pytest.mark.integration

ROUNDS = 6
AT_ONCE = 4


def terms(tag: str) -> Graph:
    """A namespace of its own with a type, as the prime tests write."""
    ns = f"http://example.org/restart-{tag}#"
    me = URIRef("")
    g = Graph()
    g.add((me, RDF.type, URIRef(ns + "Thing")))
    g.add((me, URIRef(ns + "name"), Literal(f"name {tag}")))
    g.add((me, URIRef(ns + "count"), Literal("1", datatype=XSD.integer)))
    g.add((me, URIRef(ns + "label"), Literal("label", lang="ja")))
    return g


def read(fedora, uri: str) -> set[tuple[str, str]]:
    """(predicate, object) of *uri* as N-Triples terms, literals without `xsd:string`."""
    answer = httpx.get(
        uri, auth=fedora.admin_auth, headers={"Accept": "application/n-triples"}, timeout=60
    )
    answer.raise_for_status()
    g = Graph().parse(data=answer.text, format="nt")
    pairs = set()
    for p, o in g.predicate_objects(URIRef(uri)):
        if isinstance(o, Literal) and o.datatype == XSD.string:
            o = Literal(str(o))
        pairs.add((p.n3(), o.n3()))
    return pairs


def wanted(graph: Graph) -> set[tuple[str, str]]:
    return {(p.n3(), o.n3()) for p, o in graph.predicate_objects(URIRef(""))}


async def test_restart_after_plastrond_writes_with_new_namespaces(restartable_fedora47):
    fedora, server = restartable_fedora47
    _prime._servers.clear()
    config = repo_config(
        fedora.rest_url, fedora_user=fedora.admin_user, fedora_password=fedora.admin_password
    )
    primed = terms("primed-" + uuid.uuid4().hex[:8])

    async def provider() -> Graph:
        return primed

    expected: dict[str, set[tuple[str, str]]] = {}
    failed: list[str] = []
    try:
        async with (
            RepositoryClient(config, prime=provider) as one,
            RepositoryClient(config, prime=provider) as two,
        ):
            parent = (await one.create_container(one.root, slug="restart")).uri
            # the prime tests' sequence: a prime, then a write through a priming client
            assert await prime(one, terms("direct-" + uuid.uuid4().hex[:8]), f"{parent}/a/b")
            async with one.transaction() as tx:
                await tx.put_container(f"{parent}/primed", primed)
            expected[f"{parent}/primed"] = wanted(primed)

            async def write(client: RepositoryClient, n: int) -> None:
                # a container with terms the prime did not have, then an update bringing more
                tag = f"{n}-{uuid.uuid4().hex[:6]}"
                graph = terms(tag)
                try:
                    created = await client.create_container(parent, graph, slug=f"item-{tag}")
                except RepositoryError as e:
                    failed.append(str(e))
                    return
                expected[created.uri] = wanted(graph)
                ns = f"http://example.org/restart-upd-{tag}#"
                try:
                    await client.update(
                        created.uri,
                        f'INSERT DATA {{ <> <{ns}note> "note {tag}" . '
                        f"<> <{RDF.type}> <{ns}Kind> }}",
                    )
                except RepositoryError as e:
                    failed.append(str(e))
                    return
                graph.add((URIRef(""), URIRef(ns + "note"), Literal(f"note {tag}")))
                graph.add((URIRef(""), RDF.type, URIRef(ns + "Kind")))
                expected[created.uri] = wanted(graph)

            for r in range(ROUNDS):
                async with trio.open_nursery() as nursery:
                    for i in range(AT_ONCE):
                        nursery.start_soon(write, (one, two)[i % 2], r * AT_ONCE + i)
    finally:
        _prime._servers.clear()

    def crossed() -> dict[str, set[tuple[str, str]]]:
        return {
            uri: want - got
            for uri, want in expected.items()
            if not want <= (got := read(fedora, uri))
        }

    before = crossed()  # every value under its own predicate
    server.restart()  # fails the test when the webapp does not start again
    after = crossed()  # and still after the restart
    counts = {"failed writes": len(failed), "crossed before": len(before), "after": len(after)}
    assert (failed, before, after) == ([], {}, {}), counts

"""Priming a Fedora 4.7 before the first write, against a stand-in server (httpx.MockTransport):
where the placeholder goes, what it carries, that a crossed read-back is tried again, and that
Fedora 6 is left alone. (Against the real servers: test_repository_fedora.py; a new server's
concurrent first writes: tests/integration/test_first_contact.py.)"""

from __future__ import annotations

import httpx
import pytest
import trio
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from plastrond.repository import PrimeError, RepositoryClient
from plastrond.repository._prime import namespace_of, prefix_of
from plastrond.repository._rdf import parse_ntriples
from tests.support.repository_doubles import repo_config

pytestmark = pytest.mark.usefixtures("forget_servers")

ROOT = "http://fedora.test/rest"
C = f"{ROOT}/pcdm"
ITEM = f"{C}/ab/cd/ef/01/abcdef01-0000"
DC = "http://purl.org/dc/terms/"
PCDM = "http://pcdm.org/models#"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
TX_ENDPOINT = (
    '<http://fedora.test/rest/fcr:tx>; rel="http://fedora.info/definitions/v4/transaction#endpoint"'
)


def terms(*extra: tuple[str, object]) -> Graph:
    g = Graph()
    me = URIRef("")
    g.add((me, URIRef(DC + "identifier"), Literal("prime identifier")))
    g.add((me, URIRef(PCDM + "hasMember"), URIRef("urn:uuid:1")))
    g.add((me, URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), URIRef(PCDM + "Object")))
    for p, o in extra:
        g.add((me, URIRef(p), o))  # type: ignore[arg-type]
    return g


class Server:
    """A Fedora 4.7 as far as the prime sees it: pairtree nodes refuse children, `crossed`
    reads of a placeholder give its dcterms values back under pcdm."""

    def __init__(
        self, *, fedora6: bool = False, crossed: int = 0, registered: dict[str, str] | None = None
    ) -> None:
        self.fedora6 = fedora6
        self.crossed = crossed
        #: the namespace registry its root's Turtle declares (prefix -> namespace)
        self.registered = {"rdf": RDF_NS, "ldp": "http://www.w3.org/ns/ldp#"} | (registered or {})
        self.stored: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.posted: list[bytes] = []
        self.put: dict[str, bytes] = {}
        self.patches: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, url = request.method, str(request.url)
        self.requests.append((method, url))
        if method == "HEAD":
            return httpx.Response(200, headers={"Link": TX_ENDPOINT} if self.fedora6 else {})
        if method == "POST":
            if url != C:
                return httpx.Response(403, text="Objects cannot be created under pairtree nodes")
            created = f"{C}/{request.headers['Slug']}"
            self.posted.append(request.content)
            self.stored[created] = request.content
            return httpx.Response(201, headers={"Location": created})
        if method == "GET" and url == ROOT:
            prefixes = "".join(f"@prefix {p}:  <{ns}> .\n" for p, ns in self.registered.items())
            return httpx.Response(200, text=prefixes + f"<{ROOT}> <{RDF_NS}type> <x:Root> .\n")
        if method == "GET":
            lines = self.stored[url].decode().splitlines(keepends=True)
            body = "".join(ln for ln in lines if not ln.startswith("@prefix"))
            body = body.replace("<>", f"<{url}>")
            if self.crossed:
                self.crossed -= 1
                body = body.replace(DC + "identifier", PCDM + "identifier")
            return httpx.Response(200, text=body, headers={"Content-Type": "application/n-triples"})
        if method == "DELETE":
            self.stored.pop(url, None)
            return httpx.Response(204)
        if method == "PUT":
            self.put[url.removeprefix(ROOT)] = request.content
        if method == "PATCH":
            self.patches.append(request.content)
        return httpx.Response(201)

    def kinds(self) -> list[str]:
        return [f"{m} {u.removeprefix(ROOT)}" for m, u in self.requests]


def client(server: Server, graph: Graph | None) -> RepositoryClient:
    async def provider() -> Graph | None:
        return graph

    return RepositoryClient(
        repo_config(ROOT, fedora_user="admin", fedora_password="pw"),
        transport=httpx.MockTransport(server),
        prime=provider,
    )


async def test_the_first_write_primes_once_in_the_nearest_container_that_takes_it() -> None:
    server = Server()
    graph = terms()
    async with client(server, graph) as repo:
        await repo.put_container(ITEM)
        await repo.on_behalf_of("jsmith").update(ITEM, "INSERT DATA { <> <x:y> 'z' }")
    kinds = server.kinds()
    slug = next(u for m, u in server.requests if m == "GET" and u != ROOT).removeprefix(C + "/")
    assert slug.startswith("plastrond-prime-")
    assert kinds == [
        "HEAD ",
        "GET ",  # the namespaces the server has, once
        "POST /pcdm/ab/cd/ef/01",  # a pairtree node, then up
        "POST /pcdm/ab/cd/ef",
        "POST /pcdm/ab/cd",
        "POST /pcdm/ab",
        "POST /pcdm",
        f"GET /pcdm/{slug}",
        f"DELETE /pcdm/{slug}",
        f"DELETE /pcdm/{slug}/fcr:tombstone",
        "PUT /pcdm/ab/cd/ef/01/abcdef01-0000",
        "PATCH /pcdm/ab/cd/ef/01/abcdef01-0000",  # primed already: nothing more
    ]
    assert server.stored == {}  # the placeholder is gone


async def test_the_placeholder_carries_every_term_and_a_new_term_primes_only_itself() -> None:
    """Per process and server: a second client (or a model added) primes only what is new."""
    server = Server()
    async with client(server, terms()) as repo:
        await repo.put_container(f"{C}/one")
    more = terms((DC + "title", Literal("prime title", lang="ja")))
    async with client(server, more) as repo:
        await repo.put_container(f"{C}/two")
        await repo.put_container(f"{C}/three")
    declared = [
        [ln for ln in body.splitlines() if ln.startswith(b"@prefix")] for body in server.posted
    ]
    # every namespace of a predicate or type the server lacks (not rdf), under a prefix the
    # same in every replica
    assert declared[0] == [
        f"@prefix {prefix_of(ns)}: <{ns}> .".encode() for ns in sorted({DC, PCDM}, key=prefix_of)
    ]
    assert declared[1] == []  # dcterms: registered by the first prime
    posted = [
        parse_ntriples(
            b"\n".join(ln for ln in body.splitlines() if not ln.startswith(b"@prefix")).replace(
                b"<>", b"<urn:p>"
            ),
            None,
        )
        for body in server.posted
    ]
    assert [len(g) for g in posted] == [3, 1]
    assert set(posted[0]) == {(URIRef("urn:p"), p, o) for _, p, o in terms()}
    assert set(posted[1].objects()) == {Literal("prime title", lang="ja")}


async def test_a_crossed_read_back_is_primed_again() -> None:
    server = Server(crossed=1)
    async with client(server, terms()) as repo:
        await repo.put_container(f"{C}/one")
    kinds = server.kinds()
    assert kinds.count("POST /pcdm") == 2
    assert sum(k.endswith("/fcr:tombstone") for k in kinds) == 2
    assert kinds[-1] == "PUT /pcdm/one"
    assert server.stored == {}


async def test_a_registry_that_stays_crossed_stops_the_write(autojump_clock) -> None:
    server = Server(crossed=100)
    async with client(server, terms()) as repo:
        with pytest.raises(PrimeError, match="did not come back under their predicate"):
            await repo.put_container(f"{C}/one")
    assert "PUT /pcdm/one" not in server.kinds()
    assert server.stored == {}


async def test_fedora6_is_not_primed() -> None:
    server = Server(fedora6=True)
    async with client(server, terms()) as repo:
        await repo.put_container(f"{C}/one")
        await repo.put_container(f"{C}/two")
    assert server.kinds() == ["HEAD ", "PUT /pcdm/one", "PUT /pcdm/two"]


async def test_without_a_provider_nothing_is_primed() -> None:
    server = Server()
    async with RepositoryClient(
        repo_config(ROOT, fedora_user="admin", fedora_password="pw"),
        transport=httpx.MockTransport(server),
    ) as repo:
        await repo.put_container(f"{C}/one")
    assert server.kinds() == ["PUT /pcdm/one"]


async def test_writes_at_once_wait_for_one_prime() -> None:
    server = Server()
    async with client(server, terms()) as repo, trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(repo.put_container, f"{C}/{n}")
    kinds = server.kinds()
    assert kinds.count("POST /pcdm") == 1
    assert kinds.index("POST /pcdm") < min(i for i, k in enumerate(kinds) if k.startswith("PUT"))


def test_a_namespace_is_split_as_rdf_xml_splits_it() -> None:
    assert namespace_of(DC + "identifier") == DC
    assert namespace_of(PCDM + "Object") == PCDM
    assert namespace_of("http://example.org/v/1.0/a1") == "http://example.org/v/1.0/"
    assert namespace_of("urn:x:1abc") == "urn:x:1"
    assert prefix_of(DC) == prefix_of(DC) != prefix_of(PCDM)
    assert prefix_of(DC).startswith("pl") and not prefix_of(DC).startswith("ns")


async def test_a_namespace_the_server_has_is_never_declared_and_every_write_declares_new_ones():
    """No write lets Fedora 4.7 make up an `nsNNN` (made up under a read lock, two writes at
    once can damage its registry: see `_prime.declarations`), and none declares a prefix for
    a namespace the server has registered (here dcterms, as `ns001`)."""
    server = Server(registered={"ns001": DC})
    new = "http://example.org/new#"
    mine = "http://example.org/mine#"
    graph = Graph()
    graph.add((URIRef(""), URIRef(DC + "title"), Literal("t")))
    graph.add((URIRef(""), RDF.type, URIRef(new + "Thing")))
    async with client(server, terms()) as repo:
        await repo.put_container(f"{C}/one", graph)
        await repo.update(
            f"{C}/one",
            f"PREFIX m: <{mine}> INSERT DATA {{ <> <{DC}title> 'u' ; m:p 'v' ; "
            f"<http://example.org/upd#q> <{C}/two> }}",
        )
        await repo.put_container(f"{C}/three", graph)  # its new namespace is known now
    assert server.kinds().count("GET ") == 1
    declared = [
        [ln for ln in body.splitlines() if ln.startswith(b"@prefix")] for body in server.posted
    ]
    assert declared == [[f"@prefix {prefix_of(PCDM)}: <{PCDM}> .".encode()]]  # the prime
    assert server.put["/pcdm/one"].startswith(f"@prefix {prefix_of(new)}: <{new}> .\n".encode())
    assert b"@prefix" not in server.put["/pcdm/three"]
    upd = "http://example.org/upd#"
    assert server.patches == [
        f"PREFIX {prefix_of(upd)}: <{upd}>\n".encode() + server.patches[0].split(b"\n", 1)[1]
    ]
    assert server.patches[0].split(b"\n", 1)[1].startswith(b"PREFIX m:")

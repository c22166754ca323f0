"""Helpers for import tests: a configuration, the command run in-process, and a look at Fedora.

The in-process runs use the real Fedora of the `fedora` fixture, each test in a container of its
own (`TestContainer`), with the Item model's vocabularies read from
`tests/imports/data/vocabularies`.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
from rdflib import Graph, URIRef

from plastrond.config import (
    CommandsConfig,
    Config,
    ContentModelsConfig,
    ImportConfig,
)
from plastrond.jobs import JobResult, Progress
from plastrond.literals import normalize_graph
from plastrond.repository import RepositoryClient
from plastrond.repository._rdf import ntriples_into
from tests.support.commands import in_process_config, run_in_process

DATA = Path(__file__).resolve().parents[1] / "imports" / "data"
FILES = DATA / "files"
VOCABULARIES = {
    "http://vocab.lib.umd.edu/rightsStatement#": str(DATA / "vocabularies" / "rightsStatement.ttl"),
    "http://vocab.lib.umd.edu/form#": str(DATA / "vocabularies" / "form.ttl"),
    "http://vocab.lib.umd.edu/collection#": str(DATA / "vocabularies" / "collection.ttl"),
    "http://vocab.lib.umd.edu/set#": str(DATA / "vocabularies" / "set.ttl"),
    "http://vocab.lib.umd.edu/termsOfUse#": str(DATA / "vocabularies" / "termsOfUse.ttl"),
}
RDF_TYPE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PCDM_OBJECT = URIRef("http://pcdm.org/models#Object")
FABIO_PAGE = URIRef("http://purl.org/spar/fabio/Page")
LDP_CONTAINS = URIRef("http://www.w3.org/ns/ldp#contains")
PCDM = "http://pcdm.org/models#"
PCDM_FILE = URIRef(PCDM + "File")
HAS_MEMBER = URIRef(PCDM + "hasMember")
MEMBER_OF = URIRef(PCDM + "memberOf")
HAS_FILE = URIRef(PCDM + "hasFile")
FILE_OF = URIRef(PCDM + "fileOf")
ORE_PROXY = URIRef("http://www.openarchives.org/ore/terms/Proxy")
PROXY_FOR = URIRef("http://www.openarchives.org/ore/terms/proxyFor")
PROXY_IN = URIRef("http://www.openarchives.org/ore/terms/proxyIn")
IANA_FIRST = URIRef("http://www.iana.org/assignments/relation/first")
IANA_LAST = URIRef("http://www.iana.org/assignments/relation/last")
IANA_NEXT = URIRef("http://www.iana.org/assignments/relation/next")
IANA_PREV = URIRef("http://www.iana.org/assignments/relation/prev")
DCTERMS_TITLE = URIRef("http://purl.org/dc/terms/title")
SEQUENCE = URIRef("http://purl.org/spar/fabio/hasSequenceIdentifier")
EBUCORE_FILENAME = URIRef("http://www.ebu.ch/metadata/ontologies/ebucore/ebucore#filename")
PRESERVATION_MASTER = URIRef("http://pcdm.org/use#PreservationMasterFile")
#: the keys of an import's `count`, in its progress and its completion (protocol.md)
COUNT_KEYS = frozenset(
    {"total", "rows", "errors", "valid", "invalid", "created", "updated", "unchanged", "files"}
)


def import_config(
    jobs_dir: Path,
    *,
    rest_url: str = "http://127.0.0.1:8080/fcrepo/rest",
    allowed: Sequence[Path] = (DATA,),
    **import_keys: Any,
) -> Config:
    return in_process_config(
        rest_url,
        CommandsConfig(
            import_=ImportConfig(
                jobs_dir=jobs_dir, allowed_binaries_dirs=tuple(allowed), **import_keys
            )
        ),
        log_dir=jobs_dir.parent,
        content_models=ContentModelsConfig(vocabularies=VOCABULARIES),
    )


@attrs.frozen
class Outcome:
    progress: list[Progress]
    result: JobResult

    @property
    def body(self) -> Mapping[str, Any]:
        assert isinstance(self.result.body, Mapping)
        return self.result.body

    @property
    def state(self) -> str:
        return self.result.state

    @property
    def count(self) -> dict[str, Any]:
        return dict(self.body["count"])


async def run_import(
    config: Config,
    repository: RepositoryClient | None,
    body: str | bytes,
    *,
    job_id: str = "http://archelon.example/import_jobs/1",
    **args: str,
) -> Outcome:
    """Run the import command as the runner would; JobError goes up as it is."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    progress, result = await run_in_process(
        "import", config, repository, data, job_id=job_id, args=args
    )
    return Outcome(progress, result)


@attrs.frozen
class WalkedFile:
    uri: str
    filename: str
    mime_type: str
    preservation_master: bool


@attrs.frozen
class WalkedPage:
    uri: str
    title: str
    number: object
    files: list[WalkedFile]


@attrs.frozen
class WalkedItem:
    uri: str
    graph: Graph
    #: in the proxies' order
    pages: list[WalkedPage]
    item_files: list[WalkedFile]


class TestContainer:
    """A container of a test's own in the real Fedora, and ways to look inside it."""

    __test__ = False

    def __init__(self, rest_url: str, auth: tuple[str, str]) -> None:
        self.client = httpx.Client(auth=auth, timeout=30)
        self.uri = f"{rest_url.rstrip('/')}/plastrond-test-import-{uuid.uuid4()}"
        self.client.put(self.uri, headers={"Content-Type": "text/turtle"}).raise_for_status()

    def graph(self, uri: str) -> Graph:
        """*uri*'s triples, with Fedora 4.7's `xsd:string` literals read as the simple
        literals they are (`plastrond.literals`)."""
        response = self.client.get(uri, headers={"Accept": "application/n-triples"})
        response.raise_for_status()
        return normalize_graph(ntriples_into(Graph(), response.text))

    def exists(self, uri: str) -> bool:
        return self.client.head(uri).status_code == 200

    def children(self, uri: str | None = None) -> list[str]:
        graph = self.graph(uri or self.uri)
        # (not the node where the Fedora 4.7 of the tests keeps a container's access roles)
        return sorted(
            str(o)
            for o in graph.objects(URIRef(uri or self.uri), LDP_CONTAINS)
            if not str(o).endswith("/authz:rbacl")
        )

    def items(self) -> list[str]:
        """The children that are items (pcdm:Object, not pages)."""
        found = []
        for child in self.children():
            head = self.client.head(child)
            if 'rel="type"' in head.headers.get("Link", "") and "NonRDFSource" in head.headers.get(
                "Link", ""
            ):
                continue
            types = set(self.graph(child).objects(URIRef(child), RDF_TYPE))
            if PCDM_OBJECT in types and FABIO_PAGE not in types:
                found.append(child)
        return found

    def walk_item(self, item: str) -> WalkedItem:
        """Read *item* and everything inside it, asserting the layout of import-export.md
        ("Where an imported item lives"): its pairtree path, pages under `m/`, their files
        under `<page>/f/`, proxies under `x/`, item files under `f/`, and every link and the
        order between them."""
        relative = item.removeprefix(self.uri + "/")
        assert relative != item, f"{item} is not under {self.uri}"
        *tree, identifier = relative.split("/")
        compact = identifier.replace("-", "")
        assert tree == [compact[i : i + 2] for i in range(0, 8, 2)], relative
        me = URIRef(item)
        graph = self.graph(item)
        assert PCDM_OBJECT in set(graph.objects(me, RDF_TYPE))
        inside = set(self.children(item))
        assert inside <= {f"{item}/m", f"{item}/x", f"{item}/f", f"{item}/a"}, inside
        members = {str(m) for m in graph.objects(me, HAS_MEMBER)}
        assert members == (set(self.children(f"{item}/m")) if members else set())
        pages: dict[str, WalkedPage] = {}
        for page in members:
            assert page.startswith(f"{item}/m/")
            g = self.graph(page)
            subject = URIRef(page)
            assert {PCDM_OBJECT, FABIO_PAGE} <= set(g.objects(subject, RDF_TYPE))
            assert g.value(subject, MEMBER_OF) == me
            assert self.children(page) == [f"{page}/f"]
            number = g.value(subject, SEQUENCE)
            pages[page] = WalkedPage(
                uri=page,
                title=str(g.value(subject, DCTERMS_TITLE)),
                number=number.toPython() if number is not None else None,
                files=self._files(page, g),
            )
        proxies = self.children(f"{item}/x") if members else []
        order: list[str] = []
        current = graph.value(me, IANA_FIRST)
        previous: URIRef | None = None
        while current is not None:
            assert str(current).startswith(f"{item}/x/") and str(current) in proxies
            g = self.graph(str(current))
            assert ORE_PROXY in set(g.objects(current, RDF_TYPE))
            assert g.value(current, PROXY_IN) == me
            assert g.value(current, IANA_PREV) == previous
            target = str(g.value(current, PROXY_FOR))
            assert str(g.value(current, DCTERMS_TITLE)) == pages[target].title
            order.append(target)
            previous, current = current, g.value(current, IANA_NEXT)  # type: ignore[assignment]
        assert graph.value(me, IANA_LAST) == previous
        assert len(order) == len(proxies) and sorted(order) == sorted(members)
        return WalkedItem(
            uri=item,
            graph=graph,
            pages=[pages[p] for p in order],
            item_files=self._files(item, graph),
        )

    def _head(self, uri: str) -> httpx.Response:
        """HEAD *uri*, asked again (at most twice) after a 500: Fedora 6.1.0 shares one
        CharsetEncoder between requests when it writes a binary's Content-Disposition
        (`IllegalStateException: Current state = CODING_END` in addResourceHttpHeaders), so
        HEADs of binaries at once fail now and then; the walk checks the layout, not that."""
        for attempt in range(3):
            head = self.client.head(uri)
            if head.status_code != 500 or attempt == 2:
                break
            time.sleep(0.2)
        head.raise_for_status()
        return head

    def _files(self, parent: str, graph: Graph) -> list[WalkedFile]:
        files = {str(f) for f in graph.objects(URIRef(parent), HAS_FILE)}
        assert files == (set(self.children(f"{parent}/f")) if files else set())
        found = []
        for uri in sorted(files):
            assert uri.startswith(f"{parent}/f/")
            head = self._head(uri)
            assert "NonRDFSource" in head.headers.get("Link", ""), uri
            description = self.graph(f"{uri}/fcr:metadata")
            subject = URIRef(uri)
            types = set(description.objects(subject, RDF_TYPE))
            assert PCDM_FILE in types
            assert description.value(subject, FILE_OF) == URIRef(parent)
            name = str(description.value(subject, EBUCORE_FILENAME))
            assert str(description.value(subject, DCTERMS_TITLE)) == name
            found.append(
                WalkedFile(
                    uri=uri,
                    filename=name,
                    mime_type=head.headers.get("Content-Type", "").split(";")[0],
                    preservation_master=PRESERVATION_MASTER in types,
                )
            )
        return sorted(found, key=lambda f: f.filename)

    def last_modified(self, uri: str) -> str:
        response = self.client.head(uri)
        response.raise_for_status()
        return response.headers["Last-Modified"] + response.headers.get("ETag", "")

    def close(self) -> None:
        # a container of hundreds of items takes Fedora a while to delete
        self.client.delete(self.uri, timeout=600)
        self.client.delete(f"{self.uri}/fcr:tombstone", timeout=600)
        self.client.close()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def corrupt(path: Path, member: str) -> None:
    """Flip a byte of *member*'s compressed data, so that reading it fails its CRC check."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    # local header: 30 bytes + name + extra; the data follow
    name_length = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def csv_text(row: dict[str, str]) -> str:
    """A CSV of one *row*, with its keys as the header, as an import reads it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(row), lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()


def escaped(name: str) -> str:
    """A name as a FILES cell holds it (`;`, `:` and `\\` escaped with a backslash)."""
    return "".join("\\" + c if c in ";:\\" else c for c in name)

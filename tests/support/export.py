"""Helpers shared by the export tests: items with pages and files made in a real Fedora, and
a look inside the ZIP an export wrote."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDF

from plastrond.config import (
    CommandsConfig,
    Config,
    ExportConfig,
    RepositoryConfig,
)
from plastrond.jobs import JobResult, Progress
from plastrond.models import file_graph, page_graph
from plastrond.models.namespaces import FEDORA, PCDM
from plastrond.repository import RepositoryClient
from tests.support.commands import in_process_config, run_in_process

BIBO = "http://purl.org/ontology/bibo/"
UMDTYPE = "http://vocab.lib.umd.edu/datatype#"
EDTF = "http://id.loc.gov/datatypes/edtf"


@attrs.frozen
class FileSpec:
    filename: str
    mime_type: str
    content: bytes | Path


@attrs.frozen
class MadeItem:
    uri: str
    pages: tuple[str, ...]
    files: tuple[str, ...]


async def make_item(
    repo: RepositoryClient,
    parent: str,
    *,
    title: str = "An item",
    graph: Graph | None = None,
    pages: Sequence[Sequence[FileSpec]] = (),
    item_files: Sequence[FileSpec] = (),
    types: Sequence[str] = (),
) -> MadeItem:
    """An item (pcdm:Object) in *parent*, with numbered pages, each with its files."""
    g = Graph() if graph is None else graph
    me = URIRef("")
    g.add((me, RDF.type, PCDM.Object))
    for t in types:
        g.add((me, RDF.type, URIRef(t)))
    if (me, DCTERMS.title, None) not in g:
        g.add((me, DCTERMS.title, Literal(title)))
    item = await repo.create_container(parent, g)
    page_uris: list[str] = []
    file_uris: list[str] = []
    members = []
    for n, files in enumerate(pages, start=1):
        page = await repo.create_container(
            item.uri, page_graph("", title=f"Page {n}", number=n, member_of=item.uri)
        )
        page_uris.append(page.uri)
        members.append(f"<{page.uri}>")
        triples = []
        for spec in files:
            made = await repo.create_binary(
                page.uri, _source(spec), filename=spec.filename, mime_type=spec.mime_type
            )
            file_uris.append(made.uri)
            triples.append(f"<> <{PCDM.hasFile}> <{made.uri}> .")
        if triples:
            await repo.update(page.uri, f"INSERT DATA {{ {' '.join(triples)} }}")
    triples = [f"<> <{PCDM.hasMember}> {m} ." for m in members]
    for spec in item_files:
        made = await repo.create_binary(
            item.uri, _source(spec), filename=spec.filename, mime_type=spec.mime_type
        )
        file_uris.append(made.uri)
        triples.append(f"<> <{PCDM.hasFile}> <{made.uri}> .")
    if triples:
        await repo.update(item.uri, f"INSERT DATA {{ {' '.join(triples)} }}")
    return MadeItem(uri=item.uri, pages=tuple(page_uris), files=tuple(file_uris))


def _source(spec: FileSpec) -> bytes | Path:
    return spec.content


def unzip(path: Path, into: Path) -> Path:
    """Extract the export ZIP *path* into *into*; the bag's folder."""
    with zipfile.ZipFile(path) as zf:
        tops = {name.split("/", 1)[0] for name in zf.namelist()}
        assert len(tops) == 1, tops
        zf.extractall(into)
    return into / tops.pop()


def export_config(
    rest_url: str = "http://127.0.0.1:8080/fcrepo/rest",
    *,
    allowed: Sequence[Path] = (),
    user: str | None = "fedoraAdmin",
    password: str | None = "fedoraAdmin",
    **export_keys: object,
) -> Config:
    """A configuration for running the export command in-process."""
    return in_process_config(
        rest_url,
        CommandsConfig(
            export=ExportConfig(allowed_output_dirs=tuple(allowed), **export_keys)  # type: ignore[arg-type]
        ),
        log_dir=Path("/tmp"),
        user=user,
        password=password,
    )


@attrs.frozen
class Outcome:
    progress: list[Progress]
    result: JobResult

    @property
    def body(self) -> dict[str, Any]:
        assert isinstance(self.result.body, dict)
        return dict(self.result.body)


async def run_export(
    config: Config,
    repository: RepositoryClient | None,
    body: str | Sequence[str],
    *,
    job_id: str = "http://archelon.example/exports/1",
    **args: str,
) -> Outcome:
    """Run the export command as the runner would; JobError goes up as it is."""
    text = body if isinstance(body, str) else "\n".join(body)
    progress, result = await run_in_process(
        "export", config, repository, text.encode("utf-8"), job_id=job_id, args=args
    )
    return Outcome(progress, result)


# --------------------------------------------------------------------------------------------
# A repository of our own, behind httpx.MockTransport, for tests that need no Fedora
# --------------------------------------------------------------------------------------------

FAKE_ROOT = "http://fake.example/rest"


@attrs.define
class FakeResource:
    graph: Graph | None = None
    content: bytes = b""
    mime_type: str = "application/octet-stream"
    filename: str | None = None
    last_modified: str = "Tue, 03 Mar 2020 04:05:06 GMT"
    #: seconds to wait before answering
    delay: float = 0.0
    #: answer with this status instead
    status: int | None = None
    #: stop the body with a read error after this many bytes
    break_after: int | None = None


@attrs.define
class FakeFedora:
    """Items, pages and files served from memory; records concurrency and requests."""

    resources: dict[str, FakeResource] = attrs.field(factory=dict)
    requests: list[tuple[str, str]] = attrs.field(factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> RepositoryClient:
        config = RepositoryConfig(rest_endpoint=FAKE_ROOT, relpath="/", log_dir=Path("/tmp"))
        return RepositoryClient(config, transport=self.transport())

    async def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append((request.method, url))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            resource = self.resources.get(url)
            if resource is not None and resource.delay:
                await trio.sleep(resource.delay)
            if resource is None:
                return httpx.Response(404, text="Not Found")
            if resource.status is not None:
                return httpx.Response(resource.status, text="failure")
            if resource.graph is not None:
                body = resource.graph.serialize(format="nt", encoding="utf-8")
                return httpx.Response(
                    200, content=body, headers={"Content-Type": "application/n-triples"}
                )
            headers = {
                "Content-Type": resource.mime_type,
                "Last-Modified": resource.last_modified,
                "Content-Length": str(len(resource.content)),
            }
            if resource.filename is not None:
                headers["Content-Disposition"] = f'attachment; filename="{resource.filename}"'
            if request.method == "HEAD":
                return httpx.Response(200, headers=headers)
            if resource.break_after is not None:
                return httpx.Response(
                    200, headers=headers, stream=_Broken(resource.content, resource.break_after)
                )
            return httpx.Response(200, headers=headers, content=resource.content)
        finally:
            self.in_flight -= 1

    # -- building content --------------------------------------------------------------------

    def add_item(
        self,
        name: str,
        *,
        pages: Sequence[Sequence[tuple[str, str, bytes]]] = (),
        item_files: Sequence[tuple[str, str, bytes]] = (),
        triples: Sequence[tuple[Any, Any, Any]] = (),
        numbered: bool = True,
        delay: float = 0.0,
    ) -> str:
        """An item at `<root>/<name>` with pages and files; its URI."""
        uri = f"{FAKE_ROOT}/{name}"
        s = URIRef(uri)
        g = Graph()
        g.add((s, RDF.type, PCDM.Object))
        g.add((s, DCTERMS.title, Literal(f"Item {name}")))
        g.add((s, FEDORA.created, Literal("2020-01-01T00:00:00Z")))
        for t in triples:
            g.add(tuple(s if x is None else x for x in t))  # type: ignore[arg-type]
        for n, files in enumerate(pages, start=1):
            page = f"{uri}/pages/{n:03d}"
            g.add((s, PCDM.hasMember, URIRef(page)))
            pg = page_graph(page, title=f"Page {n}", number=n if numbered else None, member_of=uri)
            for m, (filename, mime, content) in enumerate(files):
                file_uri = f"{page}/files/{m}"
                pg.add((URIRef(page), PCDM.hasFile, URIRef(file_uri)))
                self.resources[file_uri] = FakeResource(
                    content=content, mime_type=mime, filename=filename
                )
                self._describe(file_uri, page, mime)
            self.resources[page] = FakeResource(graph=pg)
        for m, (filename, mime, content) in enumerate(item_files):
            file_uri = f"{uri}/files/{m}"
            g.add((s, PCDM.hasFile, URIRef(file_uri)))
            self.resources[file_uri] = FakeResource(
                content=content, mime_type=mime, filename=filename
            )
            self._describe(file_uri, uri, mime)
        self.resources[uri] = FakeResource(graph=g, delay=delay)
        return uri

    def _describe(self, file_uri: str, owner: str, mime: str) -> None:
        """A binary's description at `<binary>/fcr:metadata`, as Fedora keeps it."""
        d = file_graph(file_uri, file_of=owner, preservation_master=mime.startswith("image/tiff"))
        self.resources[f"{file_uri}/fcr:metadata"] = FakeResource(graph=d)


class _Broken(httpx.AsyncByteStream):
    def __init__(self, content: bytes, after: int) -> None:
        self.content = content
        self.after = after

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content[: self.after]
        raise httpx.ReadError("connection reset by peer")


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of the CSV at *path*, as dicts by column."""
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


async def export_csv(
    repo: RepositoryClient, uri: str, out: Path, name: str, model: str
) -> tuple[Path, dict[str, str]]:
    """Export *uri* as CSV with its binaries to `out/<name>.zip`, unzipped into
    `out/<name>-bag`: the bag's folder and the item's row of `<model>_metadata.csv`."""
    config = export_config(repo.root, allowed=[out])
    result = await run_export(
        config, repo, [uri], output_dest=str(out / name), format="csv", export_binaries="true"
    )
    assert result.result.state == "export_complete", result.body
    bag = unzip(out / f"{name}.zip", out / f"{name}-bag")
    (row,) = read_csv(bag / "data" / f"{model}_metadata.csv")
    return bag, row

"""A new item with its pages, files and proxies: planned with every URI chosen up front, then
written in one transaction, each resource created before anything links to it.

Where the parts go (`shared/reference/import-export.md`, "Where an imported item lives"), the
shape Plastron 4.x gives every item, whatever the job's `structure`:

| what | where |
|---|---|
| item | `<container>/<pairtree>/<uuid>`: `<container>/d4/de/77/1a/d4de771a-...` |
| pages | `<item>/m/<uuid>` |
| a page's files | `<page>/f/<uuid>` |
| item-level files (`ITEM_FILES`) | `<item>/f/<uuid>` |
| proxies (the page order) | `<item>/x/<uuid>` |

Fedora 4 mints the pairtree form on a POST without Slug; here it is written by PUT on both
servers, so that the item's URI is known (and journalled) before its transaction begins.

Fedora 4.7 refuses a triple that names a repository resource that does not exist yet
(`400 PathNotFoundException`), so the item is written in two passes inside its transaction
(`write_item`): first every resource, each naming only what exists already (the item its
fields and collection; a page its item; a file's description its page; a proxy its page, its
item and the proxy before it), then the links that point forward, one SPARQL Update per
resource: a page's `pcdm:hasFile`, a proxy's `iana:next`, the item's `pcdm:hasMember`,
`pcdm:hasFile`, `iana:first`/`iana:last`. Fedora 6 keeps no such check, so there each
resource is written with its forward links at once and the second pass is left out (the
same triples, two requests fewer for an item of one page).

Files are grouped into pages by base name without extension (`p001.tif` and `p001.jpg` are one
page), in order of first appearance; TIFF files are preservation masters. The job's access
class goes on the item only (pages and files get none, as upstream).
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Final

import attrs
import trio
from rdflib import BNode, Graph, URIRef

from ..models import Item, file_graph, page_graph, page_title, proxy_graph, sparql_update
from ..models.namespaces import IANA, PCDM
from ..repository import RepositoryClient, ResourceNotFound, WriteResult
from .binaries import Charge, Location, mime_type
from .metadata import FileSpec, RowData

__all__ = [
    "FLAT",
    "HIERARCHICAL",
    "STRUCTURES",
    "FilePlan",
    "ItemPlan",
    "PagePlan",
    "ProxyPlan",
    "first_segment",
    "new_item_uri",
    "pairtree",
    "plan_item",
    "verify_item",
    "write_item",
]

#: the `structure` argument: how the collection the items are filed in is laid out (recorded
#: in config.yml); it does not change an item's own shape
FLAT: Final = "flat"
HIERARCHICAL: Final = "hierarchical"
STRUCTURES: Final = (FLAT, HIERARCHICAL)

#: the containers inside an item, and inside a page
MEMBERS: Final = "m"
FILES: Final = "f"
PROXIES: Final = "x"
ANNOTATIONS: Final = "a"

TIFF_TYPES: Final = frozenset({"image/tiff", "image/tiff-fx"})

#: how many of an item's files `verify_item` asks about at once
_FILE_CHECKS: Final = 4


@attrs.frozen
class FilePlan:
    uri: str
    #: the path in the binaries location
    path: str
    filename: str
    mime_type: str
    #: its description (written to the binary's fcr:metadata once the binary exists)
    graph: Graph


@attrs.frozen
class PagePlan:
    uri: str
    #: the page's own triples (without its files)
    graph: Graph
    files: tuple[FilePlan, ...]

    @property
    def folder(self) -> str:
        """The container of the page's files."""
        return f"{self.uri}/{FILES}"


@attrs.frozen
class ProxyPlan:
    uri: str
    #: ore:proxyFor, ore:proxyIn, the title and iana:prev (the proxy before it exists already)
    graph: Graph
    #: the proxy after it (linked once it exists)
    next: str | None = None


@attrs.frozen
class ItemPlan:
    uri: str
    #: the item's triples without the structure links (`links`)
    graph: Graph
    #: the structure links: pcdm:hasMember, pcdm:hasFile, iana:first/last
    links: Graph
    #: empty containers inside the item (`m`, `x`, `f`), created right after it
    containers: tuple[str, ...]
    pages: tuple[PagePlan, ...]
    item_files: tuple[FilePlan, ...]
    proxies: tuple[ProxyPlan, ...]

    @property
    def files(self) -> tuple[FilePlan, ...]:
        return tuple(f for page in self.pages for f in page.files) + self.item_files

    @property
    def full_graph(self) -> Graph:
        """The item's triples once written (its graph and its links)."""
        return _union(self.graph, self.links)

    def page_links(self, page: PagePlan) -> Graph:
        """The page's `pcdm:hasFile` links (to files created after it)."""
        g = Graph()
        for f in page.files:
            g.add((URIRef(page.uri), PCDM.hasFile, URIRef(f.uri)))
        return g

    def proxy_links(self, proxy: ProxyPlan) -> Graph:
        """The proxy's `iana:next` link (to the proxy created after it), if any."""
        g = Graph()
        if proxy.next is not None:
            g.add((URIRef(proxy.uri), IANA.next, URIRef(proxy.next)))
        return g

    def link_updates(self) -> Iterator[tuple[str, Graph]]:
        """(resource, triples to add) for the second pass, in order."""
        for page in self.pages:
            if page.files:
                yield page.uri, self.page_links(page)
        for proxy in self.proxies:
            if proxy.next is not None:
                yield proxy.uri, self.proxy_links(proxy)
        if len(self.links):
            yield self.uri, self.links

    def requests(self, *, forward_links: bool = False) -> int:
        """How many requests `write_item` sends (the transaction's own three aside); with
        *forward_links* (a server that takes them), the links go in the first writes."""
        return (
            1
            + len(self.containers)
            + sum(2 + 2 * len(p.files) for p in self.pages)
            + 2 * len(self.item_files)
            + len(self.proxies)
            + (0 if forward_links else sum(1 for _ in self.link_updates()))
        )


def _union(*graphs: Graph) -> Graph:
    """A new graph of the triples of *graphs* (rdflib's `a + b` also copies both graphs'
    namespace bindings, which costs more than the triples of an item)."""
    union = Graph()
    for graph in graphs:
        for triple in graph:
            union.add(triple)
    return union


def pairtree(identifier: str) -> str:
    """The pairtree path Fedora 4 mints for *identifier*: its first 8 characters in pairs,
    then the identifier itself (`d4/de/77/1a/d4de771a-...`)."""
    compact = identifier.replace("-", "")
    return "/".join([*(compact[i : i + 2] for i in range(0, 8, 2)), identifier])


def new_item_uri(container: str, avoid: Collection[str] = ()) -> str:
    """A new item's URI under *container*, at a pairtree path whose first segment is, if it
    can be found in a bounded number of draws, not in *avoid* (those of the items being written
    at the same time). Never loops without end: with every segment in *avoid*, the last draw
    is taken."""
    container = container.rstrip("/")
    path = pairtree(str(uuid.uuid4()))
    for _ in range(_DRAWS):
        if path[:2] not in avoid:
            break
        path = pairtree(str(uuid.uuid4()))
    return f"{container}/{path}"


#: at most this many draws in `new_item_uri` (with 255 of the 256 first segments taken, one
#: is found within 1024 draws 98% of the time)
_DRAWS: Final = 1024


def first_segment(item_uri: str, container: str) -> str:
    """The first pairtree segment of *item_uri* under *container* (see `new_item_uri`)."""
    return item_uri[len(container.rstrip("/")) + 1 :][:2]


def _new(parent: str) -> str:
    return f"{parent.rstrip('/')}/{uuid.uuid4()}"


def _file(spec: FileSpec, parent_uri: str) -> FilePlan:
    uri = _new(f"{parent_uri}/{FILES}")
    path = spec.path
    filename = posixpath.basename(path)
    mime = mime_type(path)
    # The usage tags' types are added to what the TIFF rule gives (as upstream does).
    graph = file_graph(
        uri,
        title=filename,
        file_of=parent_uri,
        preservation_master=mime in TIFF_TYPES,
        types=spec.types,
    )
    return FilePlan(uri=uri, path=path, filename=filename, mime_type=mime, graph=graph)


def plan_item(
    item: Item,
    data: RowData,
    *,
    access: URIRef | None = None,
    member_of: str | None = None,
) -> ItemPlan:
    """Everything to write for the new *item* (whose URI is already chosen, `new_item_uri`):
    its pages, files and proxies from the row's FILES and ITEM_FILES. *item* gains the
    structure links (members, files, first/last proxy), the access class and membership."""
    item_uri = str(item.uri)
    if access is not None and access not in item.types:
        item.types.append(access)
    if member_of is not None and URIRef(member_of) not in item.member_of:
        item.member_of.append(URIRef(member_of))
    own = item.to_graph()
    containers: list[str] = []
    item_paths = data.loose_files
    groups = data.pages
    if groups:
        containers += [f"{item_uri}/{MEMBERS}", f"{item_uri}/{PROXIES}"]
    if item_paths:
        containers.append(f"{item_uri}/{FILES}")
    proxy_uris = [_new(f"{item_uri}/{PROXIES}") for _ in groups]
    pages: list[PagePlan] = []
    proxies: list[ProxyPlan] = []
    for n, group in enumerate(groups, 1):
        page_uri = _new(f"{item_uri}/{MEMBERS}")
        title = group.label or page_title(item, group.stem, n)
        graph = page_graph(page_uri, title=title, number=n, member_of=item_uri)
        files = tuple(_file(spec, page_uri) for spec in group.files)
        pages.append(PagePlan(uri=page_uri, graph=graph, files=files))
        item.members.append(URIRef(page_uri))
        proxy_uri = proxy_uris[n - 1]
        proxy = proxy_graph(
            proxy_uri,
            proxy_for=page_uri,
            proxy_in=item_uri,
            prev=proxy_uris[n - 2] if n > 1 else None,
            title=title,
        )
        proxies.append(
            ProxyPlan(
                uri=proxy_uri, graph=proxy, next=proxy_uris[n] if n < len(proxy_uris) else None
            )
        )
    if proxy_uris:
        item.first.append(URIRef(proxy_uris[0]))
        item.last.append(URIRef(proxy_uris[-1]))
    item_files = tuple(_file(p, item_uri) for p in item_paths)
    for f in item_files:
        item.files.append(URIRef(f.uri))
    return ItemPlan(
        uri=item_uri,
        graph=own,
        links=item.to_graph() - own,
        containers=tuple(containers),
        pages=tuple(pages),
        item_files=item_files,
        proxies=tuple(proxies),
    )


async def _write_file(
    tx: RepositoryClient, plan: FilePlan, location: Location | None, charge: Charge | None
) -> WriteResult:
    if location is None:
        raise RuntimeError(f"no binaries location to read {plan.path} from")
    # streamed from the location into the request: no temporary copy
    async with location.source(plan.path, charge) as source:
        written = await tx.put_binary(
            plan.uri,
            source,
            filename=plan.filename,
            mime_type=plan.mime_type,
            size=None if isinstance(source, Path) else source.size,
            digest=None if isinstance(source, Path) else source.digest,
        )
    await tx.update(written.description_uri, sparql_update(Graph(), plan.graph))
    return written


async def write_item(
    tx: RepositoryClient,
    plan: ItemPlan,
    location: Location | None,
    charge: Charge | None = None,
) -> dict[str, WriteResult]:
    """Create everything *plan* describes through *tx* (a client inside a transaction): every
    resource first, then the links between them (see the module). The bytes of its files are
    counted to *charge* too (given back if the attempt is rolled back and tried again).
    Returns what was written of each file (by URI: its description and digests), for
    `verify_item`.

    When the server takes links to resources that do not exist yet (Fedora 6:
    `RepositoryClient.takes_forward_links`), each resource is written with its links at once,
    and the second pass is not needed: the same triples in fewer requests (12 instead of 14
    for an item of one page of two files; one fewer per page and per proxy but the last)."""
    inline = tx.takes_forward_links
    files: dict[str, WriteResult] = {}
    await tx.put_container(plan.uri, plan.full_graph if inline else plan.graph)
    for container in plan.containers:
        await tx.put_container(container, None)
    for page in plan.pages:
        graph = _union(page.graph, plan.page_links(page)) if inline else page.graph
        await tx.put_container(page.uri, graph)
        await tx.put_container(page.folder, None)
        for f in page.files:
            files[f.uri] = await _write_file(tx, f, location, charge)
    for f in plan.item_files:
        files[f.uri] = await _write_file(tx, f, location, charge)
    for proxy in plan.proxies:
        graph = _union(proxy.graph, plan.proxy_links(proxy)) if inline else proxy.graph
        await tx.put_container(proxy.uri, graph)
    if not inline:
        for uri, graph in plan.link_updates():
            await tx.update(uri, sparql_update(Graph(), graph))
    return files


async def verify_item(
    repository: RepositoryClient, plan: ItemPlan, files: Mapping[str, WriteResult]
) -> list[str]:
    """What the repository holds of a committed item that is not what was written, read back
    outside the transaction (nothing: []): the item answers at its URI with every triple of
    its own under its predicate (`full_graph`: fields, type, membership, its pages, files and
    first/last proxy), and each file answers one HEAD with the length it was sent with and,
    on Fedora 6 (`Want-Digest`), the digest (Fedora 4.7 reports none: its bytes were checked
    against the SHA-256 `Digest` header as they were stored). A page, a
    file or a proxy lost on its own would show here too: the item names them all, and the
    files are below the pages. One GET, and one request per file."""
    try:
        read = await repository.get_graph(plan.uri, containment=False)
    except ResourceNotFound:
        return [f"{plan.uri} does not answer after its transaction was committed"]
    held = read.graph
    missing = [t for t in plan.full_graph if not any(isinstance(n, BNode) for n in t)]
    missing = [t for t in missing if t not in held]
    problems = [f"{plan.uri} lacks <{p}> {o.n3()}" for _, p, o in missing[:3]]
    if len(missing) > 3:
        problems.append(f"and {len(missing) - 3} more value(s)")

    async def check(uri: str, written: WriteResult) -> None:
        async with limiter:
            await check_one(uri, written)

    limiter = trio.CapacityLimiter(_FILE_CHECKS)

    async def check_one(uri: str, written: WriteResult) -> None:
        try:
            stored, length = await repository.stored_binary(uri)
        except ResourceNotFound:
            problems.append(f"file {uri} does not answer")
            return
        for algorithm in [a for a in written.digests if a in stored][:1]:
            if stored[algorithm] != written.digests[algorithm]:
                problems.append(
                    f"file {uri} holds {algorithm} {stored[algorithm]}, "
                    f"sent {written.digests[algorithm]}"
                )
        if written.size is not None and length is not None and length != written.size:
            problems.append(f"file {uri} holds {length} bytes, sent {written.size}")

    async with trio.open_nursery() as nursery:
        for uri, written in files.items():
            nursery.start_soon(check, uri, written)
    return problems

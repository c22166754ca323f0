"""A new item with its pages, files and proxies: planned with every URI chosen up front, then
written in one transaction.

Choosing the URIs first (`<container>/<uuid>`, written with PUT) means every graph is complete
when it is sent (an item names its members and first/last proxies, a page its files), and that
the item's URI is known before its transaction commits, which is what lets an interrupted run
find out afterwards whether the item was created.

Where the parts go (`structure`), as the original plastron lays them out:

| | flat (default) | hierarchical |
|---|---|---|
| item | `<container>/<uuid>` | `<container>/<uuid>` |
| pages | `<container>/<uuid>` | `<item>/m/<uuid>` |
| files | `<container>/<uuid>` | `<page or item>/f/<uuid>` |
| proxies | `<item>/x/<uuid>` | `<item>/x/<uuid>` |

Files are grouped into pages by base name without extension (`p001.tif` and `p001.jpg` are one
page), in order of first appearance; TIFF files are preservation masters.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Sequence
from typing import Final

import attrs
from rdflib import Graph, URIRef

from ..models import Item, file_graph, page_graph, page_title, proxy_graph, sparql_update
from ..models.namespaces import PCDM, RDF
from ..repository import RepositoryClient
from .binaries import Location, mime_type
from .metadata import FileSpec, RowData

__all__ = [
    "FLAT",
    "HIERARCHICAL",
    "STRUCTURES",
    "FilePlan",
    "ItemPlan",
    "PagePlan",
    "file_groups",
    "plan_item",
    "write_item",
]

FLAT: Final = "flat"
HIERARCHICAL: Final = "hierarchical"
STRUCTURES: Final = (FLAT, HIERARCHICAL)

TIFF_TYPES: Final = frozenset({"image/tiff", "image/tiff-fx"})


@attrs.frozen
class FilePlan:
    uri: str
    #: the path in the binaries location
    path: str
    filename: str
    mime_type: str
    graph: Graph


@attrs.frozen
class PagePlan:
    uri: str
    graph: Graph
    files: tuple[FilePlan, ...]
    #: the container of the page's files, created after the page (hierarchical structure)
    folder: str | None = None


@attrs.frozen
class ItemPlan:
    uri: str
    graph: Graph
    #: empty containers inside the item (`x`, `m`, `f`), created right after it
    containers: tuple[str, ...]
    pages: tuple[PagePlan, ...]
    item_files: tuple[FilePlan, ...]
    proxies: tuple[tuple[str, Graph], ...]

    @property
    def files(self) -> tuple[FilePlan, ...]:
        return tuple(f for page in self.pages for f in page.files) + self.item_files


def file_groups(paths: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(base name, paths) for each group of files with the same base name, in order."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        stem = posixpath.splitext(posixpath.basename(path))[0]
        groups.setdefault(stem, []).append(path)
    return list(groups.items())


def _new(parent: str) -> str:
    return f"{parent.rstrip('/')}/{uuid.uuid4()}"


def _file(spec: FileSpec, parent_uri: str, folder: str, access: URIRef | None) -> FilePlan:
    uri = _new(folder)
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
    if access is not None:
        graph.add((URIRef(uri), RDF.type, access))
    return FilePlan(uri=uri, path=path, filename=filename, mime_type=mime, graph=graph)


def plan_item(
    item: Item,
    data: RowData,
    *,
    container: str,
    structure: str = FLAT,
    access: URIRef | None = None,
    member_of: str | None = None,
) -> ItemPlan:
    """Everything to write for the new *item* (whose URI is already `<container>/<uuid>`):
    its pages, files and proxies from the row's FILES and ITEM_FILES. *item* gains the
    structure links (members, files, first/last proxy), the access class and membership."""
    item_uri = str(item.uri)
    hierarchical = structure == HIERARCHICAL
    if access is not None and access not in item.types:
        item.types.append(access)
    if member_of is not None and URIRef(member_of) not in item.member_of:
        item.member_of.append(URIRef(member_of))
    containers: list[str] = []
    item_paths = data.loose_files
    pages: list[PagePlan] = []
    proxies: list[tuple[str, Graph]] = []
    groups = data.pages
    if groups:
        containers.append(f"{item_uri}/x")
        if hierarchical:
            containers.append(f"{item_uri}/m")
    proxy_uris = [_new(f"{item_uri}/x") for _ in groups]
    for n, group in enumerate(groups, 1):
        paths = group.files
        page_uri = _new(f"{item_uri}/m" if hierarchical else container)
        title = group.label or page_title(item, group.stem, n)
        graph = page_graph(page_uri, title=title, number=n, member_of=item_uri)
        if access is not None:
            graph.add((URIRef(page_uri), RDF.type, access))
        folder = f"{page_uri}/f" if hierarchical else container
        files = tuple(_file(p, page_uri, folder, access) for p in paths)
        for f in files:
            graph.add((URIRef(page_uri), PCDM.hasFile, URIRef(f.uri)))
        pages.append(
            PagePlan(
                uri=page_uri, graph=graph, files=files, folder=folder if hierarchical else None
            )
        )
        item.members.append(URIRef(page_uri))
        proxy_uri = proxy_uris[n - 1]
        proxy = proxy_graph(
            proxy_uri,
            proxy_for=page_uri,
            proxy_in=item_uri,
            prev=proxy_uris[n - 2] if n > 1 else None,
            next=proxy_uris[n] if n < len(proxy_uris) else None,
            title=title,
        )
        if access is not None:
            proxy.add((URIRef(proxy_uri), RDF.type, access))
        proxies.append((proxy_uri, proxy))
    if proxy_uris:
        item.first.append(URIRef(proxy_uris[0]))
        item.last.append(URIRef(proxy_uris[-1]))
    item_folder = f"{item_uri}/f" if hierarchical else container
    if hierarchical and item_paths:
        containers.append(item_folder)
    item_files = tuple(_file(p, item_uri, item_folder, access) for p in item_paths)
    for f in item_files:
        item.files.append(URIRef(f.uri))
    return ItemPlan(
        uri=item_uri,
        graph=item.to_graph(),
        containers=tuple(containers),
        pages=tuple(pages),
        item_files=item_files,
        proxies=tuple(proxies),
    )


async def _write_file(tx: RepositoryClient, plan: FilePlan, location: Location | None) -> None:
    if location is None:
        raise RuntimeError(f"no binaries location to read {plan.path} from")
    async with location.fetch(plan.path) as local:
        written = await tx.put_binary(
            plan.uri, local, filename=plan.filename, mime_type=plan.mime_type
        )
    await tx.update(written.description_uri, sparql_update(Graph(), plan.graph))


async def write_item(tx: RepositoryClient, plan: ItemPlan, location: Location | None) -> None:
    """Create everything *plan* describes, through *tx* (a client inside a transaction)."""
    await tx.put_container(plan.uri, plan.graph)
    for container in plan.containers:
        await tx.put_container(container, None)
    for page in plan.pages:
        await tx.put_container(page.uri, page.graph)
        if page.folder is not None:
            await tx.put_container(page.folder, None)
        for f in page.files:
            await _write_file(tx, f, location)
    for f in plan.item_files:
        await _write_file(tx, f, location)
    for proxy_uri, graph in plan.proxies:
        await tx.put_container(proxy_uri, graph)

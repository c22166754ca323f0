"""Planning a new item: pages from file groups, proxies in order, files, structure."""

from __future__ import annotations

from rdflib import Literal, URIRef

from plastrond.imports.items import HIERARCHICAL, file_groups, plan_item
from plastrond.imports.metadata import RowData
from plastrond.models import Item, load_models, proxy_order
from plastrond.models.namespaces import FABIO, IANA, ORE, PCDM, PCDMUSE, RDF

MODELS = load_models()
CONTAINER = "http://repo.example/rest/pcdm"
ITEM_URI = f"{CONTAINER}/item-1"
DCTERMS_TITLE = URIRef("http://purl.org/dc/terms/title")
ACCESS = URIRef("http://vocab.lib.umd.edu/access#Public")


def data(files: tuple[str, ...] = (), item_files: tuple[str, ...] = (), pages: bool = True):
    return RowData(
        plain={}, embedded={}, index={}, files=files, item_files=item_files, create_pages=pages
    )


def test_files_are_grouped_by_base_name_in_order() -> None:
    assert file_groups(["b/p2.jpg", "p1.tif", "a/p2.tif", "p1.jpg", "p10.jpg"]) == [
        ("p2", ["b/p2.jpg", "a/p2.tif"]),
        ("p1", ["p1.tif", "p1.jpg"]),
        ("p10", ["p10.jpg"]),
    ]


def test_a_page_per_group_ordered_by_proxies() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(
        item,
        data(("p1.tif", "p1.jpg", "p2.jpg"), ("notes.txt",)),
        container=CONTAINER,
        access=ACCESS,
        member_of=f"{CONTAINER}/collection",
    )
    assert plan.containers == (f"{ITEM_URI}/x",)
    assert [len(p.files) for p in plan.pages] == [2, 1]
    assert [p.graph.value(URIRef(p.uri), DCTERMS_TITLE) for p in plan.pages] == [
        Literal("Page 1"),
        Literal("Page 2"),
    ]
    for n, page in enumerate(plan.pages, 1):
        subject = URIRef(page.uri)
        assert page.uri.startswith(f"{CONTAINER}/")
        assert (subject, RDF.type, FABIO.Page) in page.graph
        assert (subject, RDF.type, ACCESS) in page.graph
        assert (subject, PCDM.memberOf, URIRef(ITEM_URI)) in page.graph
        assert page.graph.value(subject, FABIO.hasSequenceIdentifier) == Literal(n)
        assert {o for o in page.graph.objects(subject, PCDM.hasFile)} == {
            URIRef(f.uri) for f in page.files
        }
    tif, jpg = plan.pages[0].files
    assert (URIRef(tif.uri), RDF.type, PCDMUSE.PreservationMasterFile) in tif.graph
    assert (URIRef(jpg.uri), RDF.type, PCDMUSE.PreservationMasterFile) not in jpg.graph
    assert (jpg.mime_type, jpg.filename) == ("image/jpeg", "p1.jpg")
    assert tif.graph.value(URIRef(tif.uri), PCDM.fileOf) == URIRef(plan.pages[0].uri)
    (notes,) = plan.item_files
    assert notes.graph.value(URIRef(notes.uri), PCDM.fileOf) == URIRef(ITEM_URI)
    graph = plan.graph
    me = URIRef(ITEM_URI)
    assert set(graph.objects(me, PCDM.hasMember)) == {URIRef(p.uri) for p in plan.pages}
    assert set(graph.objects(me, PCDM.hasFile)) == {URIRef(notes.uri)}
    assert (me, PCDM.memberOf, URIRef(f"{CONTAINER}/collection")) in graph
    assert (me, RDF.type, ACCESS) in graph
    proxies = dict(plan.proxies)
    first = graph.value(me, IANA.first)
    last = graph.value(me, IANA.last)
    assert proxy_order(str(first), proxies) == [URIRef(p.uri) for p in plan.pages]
    assert str(last) == plan.proxies[-1][0]
    for uri, proxy in plan.proxies:
        assert uri.startswith(f"{ITEM_URI}/x/")
        assert (URIRef(uri), ORE.proxyIn, me) in proxy
        assert (URIRef(uri), RDF.type, ACCESS) in proxy


def test_without_pages_the_files_go_on_the_item() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(item, data(("a.tif", "b.jpg"), ("c.txt",), pages=False), container=CONTAINER)
    assert plan.pages == () and plan.proxies == () and plan.containers == ()
    assert [f.filename for f in plan.item_files] == ["a.tif", "b.jpg", "c.txt"]
    assert IANA.first not in set(plan.graph.predicates())


def test_hierarchical_structure_nests_members_and_files() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(
        item, data(("p1.tif",), ("notes.txt",)), container=CONTAINER, structure=HIERARCHICAL
    )
    assert plan.containers == (f"{ITEM_URI}/x", f"{ITEM_URI}/m", f"{ITEM_URI}/f")
    (page,) = plan.pages
    assert page.uri.startswith(f"{ITEM_URI}/m/")
    assert page.folder == f"{page.uri}/f"
    assert page.files[0].uri.startswith(f"{page.uri}/f/")
    assert plan.item_files[0].uri.startswith(f"{ITEM_URI}/f/")


def test_pool_reports_pages_are_body_and_attachments() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    item.add("format", "http://vocab.lib.umd.edu/form#pool_reports")
    plan = plan_item(item, data(("body-1.pdf", "att-a.pdf", "att-b.pdf")), container=CONTAINER)
    titles = [str(p.graph.value(URIRef(p.uri), DCTERMS_TITLE)) for p in plan.pages]
    assert titles == ["Body", "Attachment 1", "Attachment 2"]

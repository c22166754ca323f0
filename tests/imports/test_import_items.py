"""Planning a new item: pages from file groups, proxies in order, files, the nested layout,
and the two passes Fedora 4.7 needs (create, then link)."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef

from plastrond.imports.items import first_segment, new_item_uri, pairtree, plan_item
from plastrond.imports.metadata import RowData
from plastrond.models import Item, load_models, proxy_order
from plastrond.models.namespaces import FABIO, IANA, ORE, PCDM, PCDMUSE, RDF

MODELS = load_models()
CONTAINER = "http://repo.example/rest/pcdm"
ITEM_URI = f"{CONTAINER}/it/em/-1/00/item-1000"
DCTERMS_TITLE = URIRef("http://purl.org/dc/terms/title")
ACCESS = URIRef("http://vocab.lib.umd.edu/access#Public")


def data(files: tuple[str, ...] = (), item_files: tuple[str, ...] = (), pages: bool = True):
    return RowData(
        plain={}, embedded={}, index={}, files=files, item_files=item_files, create_pages=pages
    )


def test_the_item_sits_at_a_pairtree_path_under_the_container() -> None:
    uri = new_item_uri(CONTAINER + "/")
    identifier = uri.rsplit("/", 1)[1]
    compact = identifier.replace("-", "")
    assert uri == (
        f"{CONTAINER}/{compact[0:2]}/{compact[2:4]}/{compact[4:6]}/{compact[6:8]}/{identifier}"
    )
    assert pairtree("d4de771a-0000") == "d4/de/77/1a/d4de771a-0000"
    assert new_item_uri(CONTAINER) != new_item_uri(CONTAINER)


def test_a_page_per_group_ordered_by_proxies_nested_in_the_item() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(
        item,
        data(("p1.tif", "p1.jpg", "p2.jpg"), ("notes.txt",)),
        access=ACCESS,
        member_of=f"{CONTAINER}/collection",
    )
    assert plan.containers == (f"{ITEM_URI}/m", f"{ITEM_URI}/x", f"{ITEM_URI}/f")
    assert [len(p.files) for p in plan.pages] == [2, 1]
    assert [p.graph.value(URIRef(p.uri), DCTERMS_TITLE) for p in plan.pages] == [
        Literal("Page 1"),
        Literal("Page 2"),
    ]
    for n, page in enumerate(plan.pages, 1):
        subject = URIRef(page.uri)
        assert page.uri.startswith(f"{ITEM_URI}/m/")
        assert page.folder == f"{page.uri}/f"
        assert all(f.uri.startswith(f"{page.uri}/f/") for f in page.files)
        assert (subject, RDF.type, FABIO.Page) in page.graph
        assert (subject, RDF.type, ACCESS) not in page.graph  # the item only, as upstream
        assert (subject, PCDM.memberOf, URIRef(ITEM_URI)) in page.graph
        assert page.graph.value(subject, FABIO.hasSequenceIdentifier) == Literal(n)
        # the files are linked once they exist: in the second pass
        assert (subject, PCDM.hasFile, None) not in page.graph
    tif, jpg = plan.pages[0].files
    assert (URIRef(tif.uri), RDF.type, PCDMUSE.PreservationMasterFile) in tif.graph
    assert (URIRef(jpg.uri), RDF.type, PCDMUSE.PreservationMasterFile) not in jpg.graph
    assert (jpg.mime_type, jpg.filename) == ("image/jpeg", "p1.jpg")
    assert tif.graph.value(URIRef(tif.uri), PCDM.fileOf) == URIRef(plan.pages[0].uri)
    (notes,) = plan.item_files
    assert notes.uri.startswith(f"{ITEM_URI}/f/")
    assert notes.graph.value(URIRef(notes.uri), PCDM.fileOf) == URIRef(ITEM_URI)
    me = URIRef(ITEM_URI)
    assert (me, PCDM.memberOf, URIRef(f"{CONTAINER}/collection")) in plan.graph
    assert (me, RDF.type, ACCESS) in plan.graph
    for predicate in (PCDM.hasMember, PCDM.hasFile, IANA.first, IANA.last):
        assert (me, predicate, None) not in plan.graph
    graph = plan.full_graph
    assert set(graph.objects(me, PCDM.hasMember)) == {URIRef(p.uri) for p in plan.pages}
    assert set(graph.objects(me, PCDM.hasFile)) == {URIRef(notes.uri)}
    proxies = {}
    for proxy in plan.proxies:
        full = proxy.graph + Graph()
        if proxy.next is not None:
            full.add((URIRef(proxy.uri), IANA.next, URIRef(proxy.next)))
        proxies[proxy.uri] = full
        assert proxy.uri.startswith(f"{ITEM_URI}/x/")
        assert (URIRef(proxy.uri), ORE.proxyIn, me) in proxy.graph
        assert (URIRef(proxy.uri), IANA.next, None) not in proxy.graph
    first = graph.value(me, IANA.first)
    assert proxy_order(str(first), proxies) == [URIRef(p.uri) for p in plan.pages]
    assert str(graph.value(me, IANA.last)) == plan.proxies[-1].uri
    assert (URIRef(plan.proxies[1].uri), IANA.prev, URIRef(plan.proxies[0].uri)) in (
        plan.proxies[1].graph
    )


def test_every_link_names_only_what_the_first_pass_created() -> None:
    """What Fedora 4.7 needs: no resource's first write names one created after it."""
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(item, data(("a.tif", "a.jpg", "b.tif", "b.jpg", "c.jpg"), ("n.txt",)))
    created: list[str] = []
    order = [(plan.uri, plan.graph), *((c, Graph()) for c in plan.containers)]
    for page in plan.pages:
        order += [(page.uri, page.graph), (page.folder, Graph())]
        order += [(f.uri, f.graph) for f in page.files]
    order += [(f.uri, f.graph) for f in plan.item_files]
    order += [(p.uri, p.graph) for p in plan.proxies]
    inside = f"{ITEM_URI}"
    for uri, graph in order:
        created.append(uri)
        for o in graph.objects():
            if isinstance(o, URIRef) and str(o).startswith(inside) and "#" not in str(o):
                assert str(o) in created, (uri, o)
    links = list(plan.link_updates())
    for uri, graph in links:
        assert uri in created
        assert all(str(o) in created for o in graph.objects() if isinstance(o, URIRef))
    # one update per page, per proxy but the last, and one for the item
    assert len(links) == 3 + 2 + 1
    assert plan.requests() == 1 + 3 + 3 * 2 + 5 * 2 + 2 + 3 + len(links)
    # a server that takes forward links (Fedora 6) needs no second pass
    assert plan.requests(forward_links=True) == plan.requests() - len(links)


def test_without_pages_the_files_go_on_the_item() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(item, data(("a.tif", "b.jpg"), ("c.txt",), pages=False))
    assert plan.pages == () and plan.proxies == ()
    assert plan.containers == (f"{ITEM_URI}/f",)
    assert [f.filename for f in plan.item_files] == ["a.tif", "b.jpg", "c.txt"]
    assert IANA.first not in set(plan.full_graph.predicates())


def test_an_item_without_files_is_one_request() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    plan = plan_item(item, data())
    assert plan.containers == () and list(plan.link_updates()) == []
    assert plan.requests() == plan.requests(forward_links=True) == 1


def test_pool_reports_pages_are_body_and_attachments() -> None:
    item = Item.new(ITEM_URI, MODELS.get("Item"))
    item.add("format", "http://vocab.lib.umd.edu/form#pool_reports")
    plan = plan_item(item, data(("body-1.pdf", "att-a.pdf", "att-b.pdf")))
    titles = [str(p.graph.value(URIRef(p.uri), DCTERMS_TITLE)) for p in plan.pages]
    assert titles == ["Body", "Attachment 1", "Attachment 2"]


def test_items_written_at_once_never_share_a_first_pairtree_segment() -> None:
    # 240 of the 256 first segments busy: a free one is drawn within `_DRAWS` all but
    # (240/256)^1024 ~ 1e-29 of the time (with 255 busy, 2% of runs took the last draw)
    free = {f"{n:02x}" for n in range(0, 256, 16)}
    busy = {f"{n:02x}" for n in range(256)} - free
    for _ in range(50):
        uri = new_item_uri(CONTAINER, avoid=busy)
        assert first_segment(uri, CONTAINER) in free
        assert uri.startswith(f"{CONTAINER}/{first_segment(uri, CONTAINER)}/")

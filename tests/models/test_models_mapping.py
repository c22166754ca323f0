"""Items <-> graphs: fields, literals with language and datatype, embedded objects, PCDM."""

from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import RDF, RDFS

from plastrond.models import (
    Embedded,
    Item,
    file_graph,
    is_hash_of,
    load_models,
    page_graph,
    proxy_graph,
    proxy_order,
)

DCTERMS = Namespace("http://purl.org/dc/terms/")
DC = Namespace("http://purl.org/dc/elements/1.1/")
PCDM = Namespace("http://pcdm.org/models#")
IANA = Namespace("http://www.iana.org/assignments/relation/")
ORE = Namespace("http://www.openarchives.org/ore/terms/")
FABIO = Namespace("http://purl.org/spar/fabio/")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
OWL = Namespace("http://www.w3.org/2002/07/owl#")
UMDTYPE = Namespace("http://vocab.lib.umd.edu/datatype#")
FEDORA = Namespace("http://fedora.info/definitions/v4/repository#")
EDM = Namespace("http://www.europeana.eu/schemas/edm/")
GEO = Namespace("http://www.w3.org/2003/01/geo/wgs84_pos#")

URI = "http://repo.example/rest/pcdm/ab/cd/item-1"
S = URIRef(URI)
MODELS = load_models()


def item_graph() -> Graph:
    g = Graph()
    creator = URIRef(URI + "#creator-1")
    g.add((S, RDF.type, PCDM.Object))
    g.add((S, RDF.type, FEDORA.Container))
    g.add((S, DCTERMS.title, Literal("Letters home", lang="en")))
    g.add((S, DCTERMS.title, Literal("家への手紙", lang="ja")))
    g.add((S, DCTERMS.identifier, Literal("id-1")))
    g.add((S, DCTERMS.identifier, Literal("1903.1/123", datatype=UMDTYPE.handle)))
    g.add((S, DCTERMS.identifier, Literal("2020.1", datatype=UMDTYPE.accessionNumber)))
    g.add((S, DC.date, Literal("1945-03", datatype=URIRef("http://id.loc.gov/datatypes/edtf"))))
    g.add((S, DCTERMS.type, URIRef("http://purl.org/dc/dcmitype/Text")))
    g.add((S, DCTERMS.creator, creator))
    g.add((creator, RDFS.label, Literal("Jane Doe")))
    g.add((creator, OWL.sameAs, URIRef("http://id.loc.gov/authorities/names/n1")))
    g.add((creator, URIRef("http://example.org/note"), Literal("kept")))
    g.add((S, DCTERMS.creator, URIRef("http://id.loc.gov/authorities/names/n2")))
    g.add((S, PCDM.hasMember, URIRef(URI + "/pages/1")))
    g.add((S, PCDM.memberOf, URIRef("http://repo.example/rest/collection")))
    g.add((S, PCDM.hasFile, URIRef(URI + "/files/f")))
    g.add((S, IANA.first, URIRef(URI + "/proxies/1")))
    g.add((S, IANA.last, URIRef(URI + "/proxies/1")))
    g.add((S, FEDORA.created, Literal("2020-01-01T00:00:00Z", datatype=XSD.dateTime)))
    g.add((S, URIRef("http://example.org/unknown"), Literal("x")))
    g.add((URIRef(URI + "#orphan"), RDFS.label, Literal("no field points here")))
    return g


def test_from_graph_sorts_triples_into_fields():
    item = Item.from_graph(item_graph(), URI, MODELS.get("Item"))
    assert item.uri == S
    assert set(item.types) == {PCDM.Object, FEDORA.Container}
    assert set(item.get("title")) == {
        Literal("Letters home", lang="en"),
        Literal("家への手紙", lang="ja"),
    }
    # identifier, handle and accession number share a predicate: the datatype tells them apart
    assert item.get("identifier") == [Literal("id-1")]
    assert item.get("handle") == [Literal("1903.1/123", datatype=UMDTYPE.handle)]
    assert item.get("accession_number") == [Literal("2020.1", datatype=UMDTYPE.accessionNumber)]
    (date,) = item.get("date")
    assert date.datatype == URIRef("http://id.loc.gov/datatypes/edtf")
    assert item.get("object_type") == [URIRef("http://purl.org/dc/dcmitype/Text")]
    creators = item.get("creator")
    embedded = [c for c in creators if isinstance(c, Embedded)]
    assert len(creators) == 2 and len(embedded) == 1
    (jane,) = embedded
    assert jane.uri == URIRef(URI + "#creator-1")
    assert jane.get("label") == [Literal("Jane Doe")]
    assert jane.get("same_as") == [URIRef("http://id.loc.gov/authorities/names/n1")]
    assert jane.extra == [(URIRef("http://example.org/note"), Literal("kept"))]
    assert URIRef("http://id.loc.gov/authorities/names/n2") in creators
    assert item.members == [URIRef(URI + "/pages/1")]
    assert item.member_of == [URIRef("http://repo.example/rest/collection")]
    assert item.files == [URIRef(URI + "/files/f")]
    assert item.first == item.last == [URIRef(URI + "/proxies/1")]
    assert (URIRef("http://example.org/unknown"), Literal("x")) in item.extra
    assert (FEDORA.created, Literal("2020-01-01T00:00:00Z", datatype=XSD.dateTime)) in item.extra
    assert item.other == [(URIRef(URI + "#orphan"), RDFS.label, Literal("no field points here"))]
    with pytest.raises(KeyError):
        item.get("no_such_field")


def test_round_trip_keeps_every_triple():
    graph = item_graph()
    for name in MODELS.names:
        item = Item.from_graph(graph, URI, MODELS.get(name))
        assert isomorphic(item.to_graph(), graph), name


def test_embedded_objects_of_letters_and_places():
    model = MODELS.get("Letter")
    item = Item.new(URI, model)
    assert item.types == [
        PCDM.Object,
        URIRef("http://purl.org/ontology/bibo/Letter"),
        URIRef("http://vocab.lib.umd.edu/model#Letter"),
    ]
    item.add("title", "Dear Sir", lang="en")
    item.add("date", "1862-04", datatype="http://id.loc.gov/datatypes/edtf")
    item.add("rights", "http://vocab.lib.umd.edu/rightsStatement#InC")
    place = item.embed("place", "place-1", label="College Park", lat="38.98", long="-76.93")
    author = item.embed("author", "author-1", label=["A. Lincoln"])
    graph = item.to_graph()
    assert (S, DCTERMS.title, Literal("Dear Sir", lang="en")) in graph
    assert (
        S,
        DC.date,
        Literal("1862-04", datatype=URIRef("http://id.loc.gov/datatypes/edtf")),
    ) in graph
    assert (S, DCTERMS.rights, URIRef("http://vocab.lib.umd.edu/rightsStatement#InC")) in graph
    assert (S, DCTERMS.spatial, place.uri) in graph
    assert (place.uri, RDF.type, EDM.Place) in graph
    assert (place.uri, GEO.lat, Literal("38.98")) in graph
    assert (author.uri, RDF.type, EDM.Agent) in graph
    assert (author.uri, RDFS.label, Literal("A. Lincoln")) in graph
    assert is_hash_of(place.uri, S) and not is_hash_of(S, S)
    again = Item.from_graph(graph, URI, model)
    assert again == Item.from_graph(again.to_graph(), URI, model)
    (read_place,) = again.get("place")
    assert isinstance(read_place, Embedded)
    assert read_place.get("long") == [Literal("-76.93")]
    with pytest.raises(ValueError, match="not embedded"):
        item.embed("title", "x")


def test_blank_node_objects_of_embedded_fields_are_embedded():
    g = Graph()
    node = BNode()
    g.add((S, DCTERMS.subject, node))
    g.add((node, RDFS.label, Literal("Maryland")))
    item = Item.from_graph(g, URI, MODELS.get("Item"))
    (subject,) = item.get("subject")
    assert isinstance(subject, Embedded) and subject.get("label") == [Literal("Maryland")]
    assert isomorphic(item.to_graph(), g)


def test_a_uri_field_and_a_literal_field_keep_their_kinds():
    model = MODELS.get("Poster")
    item = Item.new(URI, model)
    item.add("place", "http://sws.geonames.org/4351977/")
    item.add("part_of", "Posters collection")
    graph = item.to_graph()
    assert (S, DCTERMS.spatial, URIRef("http://sws.geonames.org/4351977/")) in graph
    assert (S, DCTERMS.isPartOf, Literal("Posters collection")) in graph


def test_pages_files_and_proxies():
    page = page_graph(URI + "/pages/1", title="Page 1", number=1, member_of=URI)
    p = URIRef(URI + "/pages/1")
    assert {o for o in page.objects(p, RDF.type)} == {PCDM.Object, FABIO.Page}
    assert (p, FABIO.hasSequenceIdentifier, Literal(1)) in page
    assert (p, PCDM.memberOf, S) in page
    f = file_graph(URI + "/files/f", title="p001.tif", file_of=URI, preservation_master=True)
    fs = URIRef(URI + "/files/f")
    assert (fs, RDF.type, PCDM.File) in f
    assert (fs, RDF.type, URIRef("http://pcdm.org/use#PreservationMasterFile")) in f
    assert (fs, PCDM.fileOf, S) in f
    plain = file_graph(URI + "/files/g")
    assert len(plain) == 1

    pages = [f"{URI}/pages/{i}" for i in range(3)]
    proxies = [f"{URI}/proxies/{i}" for i in range(3)]
    graphs = {
        proxies[i]: proxy_graph(
            proxies[i],
            proxy_for=pages[i],
            proxy_in=URI,
            prev=proxies[i - 1] if i > 0 else None,
            next=proxies[i + 1] if i < 2 else None,
            title=f"Page {i + 1}",
        )
        for i in range(3)
    }
    assert (URIRef(proxies[1]), RDF.type, ORE.Proxy) in graphs[proxies[1]]
    assert (URIRef(proxies[1]), IANA.prev, URIRef(proxies[0])) in graphs[proxies[1]]
    assert proxy_order(proxies[0], graphs) == [URIRef(p) for p in pages]
    assert proxy_order(None, graphs) == []
    with pytest.raises(ValueError, match="missing"):
        proxy_order(proxies[0], {proxies[0]: graphs[proxies[0]]})
    looped = dict(graphs)
    looped[proxies[2]] = proxy_graph(proxies[2], proxy_for=pages[2], proxy_in=URI, next=proxies[0])
    with pytest.raises(ValueError, match="loop"):
        proxy_order(proxies[0], looped)

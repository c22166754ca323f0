"""The SPARQL Update between two graphs, and client updates applied in memory."""

from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF

from plastrond.models import (
    SparqlError,
    apply_update,
    check_update,
    delta,
    is_server_managed,
    sparql_update,
)

DCTERMS = Namespace("http://purl.org/dc/terms/")
FEDORA = Namespace("http://fedora.info/definitions/v4/repository#")
LDP = Namespace("http://www.w3.org/ns/ldp#")
PREMIS = Namespace("http://www.loc.gov/premis/rdf/v1#")
PCDM = Namespace("http://pcdm.org/models#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")

URI = "http://repo.example/rest/item"
S = URIRef(URI)


def graph(*triples) -> Graph:
    g = Graph()
    for t in triples:
        g.add(t)
    return g


def test_server_managed_triples():
    assert is_server_managed((S, FEDORA.created, Literal("2020")))
    assert is_server_managed((S, FEDORA.lastModifiedBy, Literal("me")))
    assert is_server_managed((S, LDP.contains, URIRef(URI + "/x")))
    assert is_server_managed((S, RDF.type, LDP.RDFSource))
    assert is_server_managed((S, RDF.type, FEDORA.Container))
    assert is_server_managed((S, RDF.type, URIRef("http://mementoweb.org/ns#TimeGate")))
    assert is_server_managed((S, PREMIS.hasSize, Literal(5)))
    assert is_server_managed((S, PREMIS.hasMessageDigest, URIRef("urn:sha-256:ab")))
    assert not is_server_managed((S, RDF.type, PCDM.Object))
    assert not is_server_managed((S, DCTERMS.title, Literal("t")))


def test_no_change_is_an_empty_update():
    g = graph((S, DCTERMS.title, Literal("t")))
    assert sparql_update(g, g) == ""
    assert delta(g, g) == ([], [])


def test_update_deletes_and_inserts_with_languages_datatypes_and_escapes():
    old = graph(
        (S, DCTERMS.title, Literal("Old", lang="en")),
        (S, DCTERMS.date, Literal("1945", datatype=URIRef("http://id.loc.gov/datatypes/edtf"))),
        (S, FEDORA.lastModified, Literal("2020-01-01T00:00:00Z", datatype=XSD.dateTime)),
        (S, RDF.type, LDP.Container),
    )
    new = graph(
        (S, DCTERMS.title, Literal('New "quoted"\nline', lang="en")),
        (S, DCTERMS.date, Literal("1945", datatype=URIRef("http://id.loc.gov/datatypes/edtf"))),
        (S, DCTERMS.creator, URIRef(URI + "#c1")),
        (URIRef(URI + "#c1"), URIRef("http://www.w3.org/2000/01/rdf-schema#label"), Literal("Ann")),
    )
    text = sparql_update(old, new)
    assert text.startswith("DELETE DATA {")
    assert "INSERT DATA {" in text
    assert "lastModified" not in text and "ldp#Container" not in text
    assert f'<{URI}> <http://purl.org/dc/terms/title> "Old"@en .' in text
    # Applying it to the old graph gives the new one, server-managed triples left in place.
    result = apply_update(old, text, URI)
    for t in new:
        assert t in result
    assert (S, DCTERMS.title, Literal("Old", lang="en")) not in result
    assert (
        S,
        FEDORA.lastModified,
        Literal("2020-01-01T00:00:00Z", datatype=XSD.dateTime),
    ) in result


def test_only_inserts_or_only_deletes():
    a = graph((S, DCTERMS.title, Literal("a")))
    assert sparql_update(Graph(), a).startswith("INSERT DATA {")
    assert sparql_update(a, Graph()).startswith("DELETE DATA {")
    assert ";" not in sparql_update(a, Graph())


def test_a_changed_blank_node_cannot_be_written():
    with pytest.raises(ValueError, match="blank node"):
        sparql_update(Graph(), graph((S, DCTERMS.creator, BNode())))


def test_removing_server_managed_triples_changes_nothing():
    old = graph((S, FEDORA.created, Literal("2020")), (S, LDP.contains, URIRef(URI + "/x")))
    assert sparql_update(old, Graph()) == ""


# --------------------------------------------------------------------------------------------
# Client updates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "INSERT DATA { <> <http://purl.org/dc/terms/title> 'x' }",
        "DELETE DATA { <> <http://purl.org/dc/terms/title> 'x' }",
        "DELETE WHERE { <> <http://purl.org/dc/terms/title> ?t }",
        "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        "DELETE { <> dcterms:title ?t } INSERT { <> dcterms:title 'y'@en }\n"
        "WHERE { <> dcterms:title ?t }",
        "DELETE {\n} INSERT {\n<> <http://purl.org/dc/terms/title> 'x' .\n } WHERE {}",
        "INSERT DATA { <a> <b> 1 } ; DELETE DATA { <a> <b> 2 }",
    ],
)
def test_allowed_updates(text):
    check_update(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the SPARQL update is empty"),
        ("   ", "the SPARQL update is empty"),
        ("UPDATE everything", "the SPARQL update does not parse"),
        ("INSERT DATA { <> <http://p> 'x' ", "the SPARQL update does not parse"),
        (
            "INSERT DATA { x:y <http://p> 1 }",
            "the SPARQL update is not valid: Unknown namespace prefix",
        ),
        ("LOAD <http://example.org/data.ttl>", "LOAD is not allowed"),
        ("CLEAR DEFAULT", "CLEAR is not allowed"),
        ("DROP ALL", "DROP is not allowed"),
        ("CREATE GRAPH <g>", "CREATE is not allowed"),
        ("COPY DEFAULT TO <g>", "COPY is not allowed"),
        ("INSERT DATA { <a> <b> 1 } ; DROP ALL", "DROP is not allowed"),
        ("INSERT DATA { GRAPH <g> { <a> <b> <c> } }", "GRAPH is not allowed"),
        ("INSERT { GRAPH <g> { <a> <b> ?c } } WHERE { <a> <b> ?c }", "GRAPH is not allowed"),
        ("DELETE { <a> <b> ?c } WHERE { GRAPH <g> { <a> <b> ?c } }", "GRAPH is not allowed"),
        ("WITH <g> DELETE { <a> <b> ?c } WHERE { <a> <b> ?c }", "WITH is not allowed"),
        ("DELETE { <a> <b> ?c } USING <g> WHERE { <a> <b> ?c }", "USING is not allowed"),
        (
            "DELETE { <a> <b> ?c } WHERE { SERVICE <http://127.0.0.1:9/sparql> { <a> <b> ?c } }",
            "SERVICE is not allowed",
        ),
    ],
)
def test_refused_updates_say_why_in_one_line(text, message):
    with pytest.raises(SparqlError) as caught:
        check_update(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_relative_iris_resolve_against_the_resource_and_the_input_is_left_alone():
    old = graph((S, DCTERMS.title, Literal("Old")))
    text = (
        "DELETE { <> <http://purl.org/dc/terms/title> ?t } "
        "INSERT { <> <http://purl.org/dc/terms/title> 'New' . "
        "<> <http://purl.org/dc/terms/creator> <#c> } "
        "WHERE { <> <http://purl.org/dc/terms/title> ?t }"
    )
    new = apply_update(old, text, URI)
    assert set(new) == {
        (S, DCTERMS.title, Literal("New")),
        (S, DCTERMS.creator, URIRef(URI + "#c")),
    }
    assert set(old) == {(S, DCTERMS.title, Literal("Old"))}
    other = apply_update(graph((URIRef(URI + "2"), DCTERMS.title, Literal("Old"))), text, URI + "2")
    assert (URIRef(URI + "2"), DCTERMS.title, Literal("New")) in other

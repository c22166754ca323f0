"""The update command end to end: plastrond stomp against the real ActiveMQ and Fedora, with
stomp.py sending what Archelon's metadata editor sends.

Archelon saves an edit as a synchronous `update` job (validate=True, no-transactions=True, the
item's model, a /temp-queue reply) whose body holds the item's URI and a SPARQL Update of the
form `DELETE {\n...} INSERT {\n...} WHERE {}`. The vocabularies the Item model checks are
served from a loopback HTTP server.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from rdflib import Graph, Literal, URIRef

from plastrond.literals import normalize_graph
from plastrond.repository._rdf import ntriples_into

pytestmark = pytest.mark.integration

DCTERMS = "http://purl.org/dc/terms/"
TITLE = URIRef(DCTERMS + "title")
PUBLISHER = URIRef(DCTERMS + "publisher")
RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#"
FORM = "http://vocab.lib.umd.edu/form#"

RIGHTS_TTL = f"""\
<{RIGHTS}InC> <http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .
<{RIGHTS}NoC-US> <http://www.w3.org/2000/01/rdf-schema#label> "No Copyright - United States" .
"""
FORM_TTL = f'<{FORM}letters> <http://www.w3.org/2000/01/rdf-schema#label> "Letters" .\n'

ITEM_TTL = """\
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<> a <http://pcdm.org/models#Object> ;
   dcterms:title "{title}"@en ;
   dcterms:identifier "{identifier}" ;
   dcterms:type <http://purl.org/dc/dcmitype/Text> ;
   dcterms:rights <http://vocab.lib.umd.edu/rightsStatement#InC> ;
   dcterms:creator <#creator> .
<#creator> rdfs:label "Jane Doe" .
"""


#: the Archelon user the jobs act for (On-Behalf-Of); a WebAC authorization lets it edit
EDITOR = "archelon-editor"


class Fedora:
    """Just enough of Fedora over plain httpx to set up and look at test resources: a
    container of the test's own that EDITOR may read and write, as library staff may."""

    def __init__(self, endpoint) -> None:
        self.client = httpx.Client(auth=endpoint.admin_auth, timeout=30)
        response = self.client.put(
            f"{endpoint.rest_url}/plastrond-test-update-{uuid.uuid4()}",
            headers={"Content-Type": "text/turtle"},
        )
        response.raise_for_status()
        self.parent = response.headers["Location"]
        endpoint.grant(self.parent, EDITOR)  # WebAC on Fedora 6, a basic role on 4.7

    def create(self, turtle: str, slug: str | None = None, parent: str | None = None) -> str:
        headers = {"Content-Type": "text/turtle"}
        if slug:
            headers["Slug"] = slug
        response = self.client.post(parent or self.parent, content=turtle, headers=headers)
        response.raise_for_status()
        return response.headers["Location"]

    def item(self, title: str = "Old title", identifier: str = "test-1") -> str:
        return self.create(ITEM_TTL.format(title=title, identifier=identifier))

    def patch(self, uri: str, sparql: str) -> None:
        response = self.client.patch(
            uri, content=sparql, headers={"Content-Type": "application/sparql-update"}
        )
        response.raise_for_status()

    def graph(self, uri: str) -> Graph:
        response = self.client.get(uri, headers={"Accept": "application/n-triples"})
        response.raise_for_status()
        # as plastrond reads it: Fedora 4.7's "x"^^xsd:string is the plain literal "x"
        return normalize_graph(ntriples_into(Graph(), response.text))

    def titles(self, uri: str) -> set[str]:
        return {str(o) for o in self.graph(uri).objects(URIRef(uri), TITLE)}

    def close(self) -> None:
        self.client.delete(self.parent)
        self.client.delete(f"{self.parent}/fcr:tombstone")
        self.client.close()


@pytest.fixture
def repo(fedora) -> Iterator[Fedora]:
    helper = Fedora(fedora)
    try:
        yield helper
    finally:
        helper.close()


@pytest.fixture
def running(activemq, fedora, plastrond_setup, archelon_factory, vocabulary_server):
    vocabularies = {
        RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL),
        FORM: vocabulary_server.serve("/form", FORM_TTL),
    }
    setup = plastrond_setup(
        activemq,
        repository=fedora.repository_keys,
        sections={"CONTENT_MODELS": {"VOCABULARIES": vocabularies}},
        PROGRESS_INTERVAL=0,
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    return daemon, client


def archelon_sparql(deletes: list[str], inserts: list[str]) -> str:
    """The update Archelon's resource controller builds from the edit form."""
    return f"DELETE {{\n{''.join(deletes)} }} INSERT {{\n{''.join(inserts)} }} WHERE {{}}"


def statement(s: str, p: str, o: str) -> str:
    return f"<{s}> <{p}> {o} .\n"


def save(client, uris: list[str], sparql: str, *, user: str = EDITOR, **args: str):
    """Send an update as Archelon does and wait for the reply on its temp queue."""
    job_id = f"SYNCHRONOUS-{uuid.uuid4()}"
    before = len(client.replies)
    client.send_job(
        job_id,
        "update",
        json.dumps({"uris": uris, "sparql_update": sparql}),
        synchronous=True,
        on_behalf_of=user,
        **{"no_transactions": "True", "validate": "True", "model": "Item", **args},
    )
    reply = client.wait_for("replies", before + 1, timeout=60)[before]
    assert reply.headers["PlastronJobId"] == job_id
    return reply, json.loads(reply.body)


def archelon_errors(body: dict, uri: str) -> list[dict[str, str]]:
    """Archelon's PlastronMessage#parse_errors, transcribed."""
    stats = body["stats"]
    parsed = []
    for text in [*stats["invalid"].get(uri, []), *stats["errors"].get(uri, [])]:
        parts = [p.strip() for p in re.sub(r"[()']", "", text.strip()).split(",")]
        if len(parts) == 4:
            parsed.append(dict(zip(("name", "status", "rule", "expected"), parts, strict=True)))
        else:
            parsed.append({"error": text})
    return parsed


def test_archelon_saves_a_valid_edit(running, repo):
    _daemon, client = running
    uri = repo.item()
    sparql = archelon_sparql(
        [statement(uri, DCTERMS + "title", '"Old title"@en')],
        [
            statement(uri, DCTERMS + "title", '"New title"@en'),
            statement(uri, DCTERMS + "alternative", '"Un titre"@fr'),
            statement(uri, "http://www.europeana.eu/schemas/edm/hasType", f"<{FORM}letters>"),
            statement(uri, "http://purl.org/dc/elements/1.1/date", '"1945-03~"'),
            statement(uri, DCTERMS + "creator", f"<{uri}#new-creator>"),
            statement(f"{uri}#new-creator", "http://www.w3.org/2000/01/rdf-schema#label", '"Ann"'),
        ],
    )
    reply, body = save(client, [uri], sparql)
    assert "PlastronJobError" not in reply.headers
    assert reply.headers["PlastronJobState"] == "update_complete", body
    assert body["type"] == body["state"] == "update_complete"
    assert body["progress"] == 100
    assert body["stats"] == {"updated": [uri], "invalid": {}, "errors": {}}
    assert archelon_errors(body, uri) == []
    graph = repo.graph(uri)
    assert repo.titles(uri) == {"New title"}
    assert (URIRef(uri), URIRef(DCTERMS + "alternative"), Literal("Un titre", lang="fr")) in graph
    label = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
    assert (URIRef(f"{uri}#new-creator"), label, Literal("Ann")) in graph
    assert (URIRef(f"{uri}#creator"), label, Literal("Jane Doe")) in graph
    # No progress for a synchronous job reaches the status queue.
    assert client.completions == []


def test_archelon_sees_the_rules_an_invalid_edit_breaks(running, repo):
    _daemon, client = running
    uri = repo.item()
    sparql = archelon_sparql(
        [
            statement(uri, DCTERMS + "title", '"Old title"@en'),
            statement(uri, DCTERMS + "rights", f"<{RIGHTS}InC>"),
        ],
        [
            statement(uri, DCTERMS + "rights", f"<{RIGHTS}NotARight>"),
            statement(uri, "http://purl.org/dc/elements/1.1/date", '"March 1945"'),
            statement(uri, "http://purl.org/dc/elements/1.1/language", '"english"'),
        ],
    )
    reply, body = save(client, [uri], sparql)
    assert "PlastronJobError" not in reply.headers
    assert reply.headers["PlastronJobState"] == "update_incomplete"
    assert body["stats"]["updated"] == [] and body["stats"]["errors"] == {}
    assert body["stats"]["invalid"] == {
        uri: [
            f"('rights', 'failed', 'from_vocabulary', '{RIGHTS}')",
            "('title', 'failed', 'exactly', '1')",
            "('date', 'failed', 'edtf', 'true')",
            "('language', 'failed', 'iso639', 'true')",
        ]
    }
    assert archelon_errors(body, uri)[1] == {
        "name": "title",
        "status": "failed",
        "rule": "exactly",
        "expected": "1",
    }
    # Nothing was written.
    assert repo.titles(uri) == {"Old title"}
    assert (URIRef(uri), URIRef(DCTERMS + "rights"), URIRef(RIGHTS + "InC")) in repo.graph(uri)


def test_blank_values_are_refused_where_upstream_rejects_them_and_never_stored(running, repo):
    """Issue #24, item 1: an empty handle is refused, as upstream's validator refuses it; a
    blank description passes and is not stored (as in PATCH /resources and the import)."""
    _daemon, client = running
    uri = repo.item()
    handle = '""^^<http://vocab.lib.umd.edu/datatype#handle>'
    sparql = archelon_sparql([], [statement(uri, DCTERMS + "identifier", handle)])
    reply, body = save(client, [uri], sparql)
    assert reply.headers["PlastronJobState"] == "update_incomplete", body
    assert body["stats"]["invalid"] == {uri: ["('handle', 'failed', 'handle', 'true')"]}
    sparql = archelon_sparql(
        [statement(uri, DCTERMS + "title", '"Old title"@en')],
        [
            statement(uri, DCTERMS + "title", '"New title"@en'),
            statement(uri, DCTERMS + "description", '"   "'),
        ],
    )
    reply, body = save(client, [uri], sparql)
    assert reply.headers["PlastronJobState"] == "update_complete", body
    assert body["stats"] == {"updated": [uri], "invalid": {}, "errors": {}}
    graph = repo.graph(uri)
    assert repo.titles(uri) == {"New title"}
    assert [o for o in graph.objects() if isinstance(o, Literal) and not o.strip()] == []
    assert {str(o) for o in graph.objects(URIRef(uri), URIRef(DCTERMS + "identifier"))} == {
        "test-1"
    }


def test_dry_run_validates_and_writes_nothing(running, repo):
    _daemon, client = running
    uri = repo.item()
    sparql = archelon_sparql(
        [statement(uri, DCTERMS + "title", '"Old title"@en')],
        [statement(uri, DCTERMS + "title", '"Dry title"@en')],
    )
    reply, body = save(client, [uri], sparql, dry_run="true")
    assert reply.headers["PlastronJobState"] == "update_complete"
    assert body["stats"] == {"updated": [], "invalid": {}, "errors": {}}
    assert repo.titles(uri) == {"Old title"}
    bad = archelon_sparql([statement(uri, DCTERMS + "title", '"Old title"@en')], [])
    reply, body = save(client, [uri], bad, dry_run="true")
    assert body["stats"]["invalid"] == {uri: ["('title', 'failed', 'exactly', '1')"]}


def test_recursive_update_of_an_item_with_pages(running, repo, fedora):
    _daemon, client = running
    uri = repo.item()
    pages = []
    for n in range(1, 4):
        page = repo.create(
            "<> a <http://pcdm.org/models#Object>, <http://purl.org/spar/fabio/Page> ;\n"
            f'   <{DCTERMS}title> "Page {n}" ;\n'
            f"   <http://pcdm.org/models#memberOf> <{uri}> .\n",
            parent=uri,
        )
        pages.append(page)
        repo.patch(uri, f"INSERT DATA {{ <{uri}> <http://pcdm.org/models#hasMember> <{page}> }}")
    label = "http://www.w3.org/2000/01/rdf-schema#label"
    publisher = URIRef(f"{uri}#publisher")
    sparql = (
        f'INSERT {{ <> <{PUBLISHER}> <{publisher}> . <{publisher}> <{label}> "UMD" }} WHERE {{}}'
    )
    if fedora.is_fcrepo4:
        # Fedora 4.7 takes triples about a resource and its own hash URIs only ("... is not in
        # the topic of this RDF"): the pages may point at the item's publisher, not describe it
        publisher = URIRef("http://id.example/publishers/umd")
        sparql = f"INSERT {{ <> <{PUBLISHER}> <{publisher}> }} WHERE {{}}"
    job_id = "http://archelon.example/update_jobs/1"
    client.send_job(
        job_id,
        "update",
        json.dumps({"uris": [uri], "sparql_update": sparql}),
        on_behalf_of=EDITOR,
        validate="true",
        model="Item",
        recursive="pcdm:hasMember",
    )
    (done,) = client.wait_for("completions", 1, timeout=60)
    assert done.headers["PlastronJobId"] == job_id
    assert done.headers["PlastronJobState"] == "update_complete", done.body
    body = json.loads(done.body)
    # The item first, then its pages in the order they were found (pages are not validated
    # as Items: they have no identifier, rights or type).
    assert body["stats"]["updated"][0] == uri
    assert sorted(body["stats"]["updated"][1:]) == sorted(pages)
    for resource in [uri, *pages]:
        assert (URIRef(resource), PUBLISHER, publisher) in repo.graph(resource)
    progress = [json.loads(m.body) for m in client.wait_for("progress", 1, timeout=10)]
    for message in progress:
        assert message["state"] == "update_in_progress"
        assert message["count"]["total"] is None  # not known while following links
        for key in ("done", "updated", "invalid", "errors"):
            assert isinstance(message["count"][key], int)


def test_partial_failures_are_reported_per_resource(running, repo, fedora):
    _daemon, client = running
    good = repo.item(identifier="good")
    invalid = repo.item(identifier="invalid")
    missing = f"{repo.parent}/no-such-item"
    outside = "http://elsewhere.example/rest/item"
    sparql = (
        f"PREFIX dcterms: <{DCTERMS}>\n"
        "DELETE { <> dcterms:identifier ?id } INSERT { <> dcterms:identifier ?new } "
        "WHERE { <> dcterms:identifier ?id "
        'FILTER(?id != "invalid") BIND(CONCAT(?id, "-2") AS ?new) }\n'
        ';\nDELETE WHERE { <> dcterms:identifier "invalid" }'
    )
    job_id = "http://archelon.example/update_jobs/2"
    client.send_job(
        job_id,
        "update",
        json.dumps({"uris": [good, missing, invalid, outside], "sparql_update": sparql}),
        on_behalf_of=EDITOR,
        validate="true",
        model="Item",
    )
    (done,) = client.wait_for("completions", 1, timeout=60)
    assert done.headers["PlastronJobState"] == "update_incomplete"
    assert "PlastronJobError" not in done.headers
    stats = json.loads(done.body)["stats"]
    assert stats["updated"] == [good]
    assert stats["invalid"] == {invalid: ["('identifier', 'failed', 'required', 'true')"]}
    assert list(stats["errors"]) == [missing, outside]
    assert "404" in stats["errors"][missing][0]
    assert "not a resource of this repository" in stats["errors"][outside][0]
    identifier = URIRef(DCTERMS + "identifier")
    assert set(repo.graph(good).objects(URIRef(good), identifier)) == {Literal("good-2")}
    assert set(repo.graph(invalid).objects(URIRef(invalid), identifier)) == {Literal("invalid")}
    progress = [json.loads(m.body) for m in client.wait_for("progress", 1, timeout=10)]
    last = progress[-1]
    assert last["count"]["total"] == 4
    assert all(isinstance(v, int) for k, v in last["count"].items() if k != "total")


def test_a_user_without_write_access_gets_the_repository_reason(running, repo):
    _daemon, client = running
    uri = repo.item()
    sparql = archelon_sparql([], [statement(uri, DCTERMS + "alternative", '"Other"')])
    reply, body = save(client, [uri], sparql, user="testuser")
    assert reply.headers["PlastronJobState"] == "update_incomplete"
    (reason,) = body["stats"]["errors"][uri]
    assert "403" in reason
    assert archelon_errors(body, uri) == [{"error": reason}]


def test_with_a_transaction_an_error_rolls_every_write_back(running, repo):
    _daemon, client = running
    first = repo.item(identifier="first")
    second = repo.item(identifier="second")
    missing = f"{repo.parent}/gone"
    sparql = f'INSERT DATA {{ <> <{DCTERMS}alternative> "In a transaction" }}'
    reply, body = save(client, [first, second], sparql, no_transactions="false")
    assert body["stats"]["updated"] == [first, second], body
    alternative = URIRef(DCTERMS + "alternative")
    assert Literal("In a transaction") in set(repo.graph(first).objects(URIRef(first), alternative))

    sparql = f'INSERT DATA {{ <> <{DCTERMS}alternative> "Rolled back" }}'
    reply, body = save(client, [second, missing], sparql, no_transactions="false")
    assert reply.headers["PlastronJobState"] == "update_incomplete"
    stats = body["stats"]
    assert stats["updated"] == []
    assert "404" in stats["errors"][missing][0]
    assert stats["errors"][second] == [
        "not updated: the transaction was rolled back after errors on 1 resource"
    ]
    assert Literal("Rolled back") not in set(
        repo.graph(second).objects(URIRef(second), alternative)
    )


def test_bad_requests_get_one_error_reply(running, repo):
    _daemon, client = running
    uri = repo.item()
    for body, args, expected in [
        ("{not json", {}, "the message body is not valid JSON"),
        (json.dumps({"sparql_update": "INSERT DATA {}"}), {}, "missing uris"),
        (json.dumps({"uris": [uri], "sparql_update": "INSERT {"}), {}, "does not parse"),
        (
            json.dumps({"uris": [uri], "sparql_update": "INSERT DATA { <> <http://p> 1 }"}),
            {"model": "Map"},
            "unknown content model 'Map'",
        ),
    ]:
        before = len(client.replies)
        client.send_job(
            "SYNCHRONOUS-bad",
            "update",
            body,
            synchronous=True,
            **{"validate": "True", "model": "Item", **args},
        )
        reply = client.wait_for("replies", before + 1, timeout=30)[before]
        assert expected in reply.headers["PlastronJobError"]
        sent = json.loads(reply.body)
        assert set(sent["stats"]) == {"updated", "invalid", "errors"}
    assert repo.titles(uri) == {"Old title"}

"""PATCH /resources/<path> against the real Fedora, over real HTTP, as Archelon's metadata
editor sends it: edits land, invalid ones are refused naming the field and change nothing,
and a PATCH that races another write is a 409 that loses neither change."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import trio
from rdflib import Literal, URIRef

from tests.support.live import (
    ACTIVITY,
    ALTERNATIVE,
    AS_CONTEXT,
    DCTERMS,
    HIDDEN,
    PUBLISHED,
    RIGHTS,
    RIGHTS_TTL,
    TITLE,
    HeldVocabulary,
    Live,
    live_server,
    raw_request,
)

pytestmark = pytest.mark.integration


def archelon_sparql(uri: str, deletes: list[tuple[str, str]], inserts: list[tuple[str, str]]):
    """What Archelon's resource controller builds from the edit form (`<>` may stand for the
    resource; Archelon writes the full URI)."""

    def lines(pairs: list[tuple[str, str]]) -> str:
        return "".join(f"<{uri}> <{p}> {o} .\n" for p, o in pairs)

    return f"DELETE {{\n{lines(deletes)} }} INSERT {{\n{lines(inserts)} }} WHERE {{}}"


def assert_problem(response: httpx.Response, status: int, title: str, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"] == title
    assert body["detail"] == body["details"]
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


async def test_title_edit_lands(live: Live) -> None:
    uri = await live.repo.item()
    sparql = archelon_sparql(
        uri, [(DCTERMS + "title", '"Old title"@en')], [(DCTERMS + "title", '"New title"@en')]
    )
    answer = await live.patch(live.repo.path(uri), sparql)
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    assert await live.repo.values(uri, TITLE) == {"New title"}


async def test_relative_iri_is_the_resource_and_no_model_means_no_validation(live: Live) -> None:
    uri = await live.repo.item()
    sparql = "DELETE WHERE { <> <http://purl.org/dc/terms/title> ?t } ;\n"
    sparql += 'INSERT DATA { <> <http://purl.org/dc/terms/alternative> "Other" }'
    answer = await live.patch(live.repo.path(uri), sparql, model=None)
    assert answer.status_code == 204, answer.text
    assert await live.repo.values(uri, TITLE) == set()
    assert await live.repo.values(uri, ALTERNATIVE) == {"Other"}


async def test_removing_the_required_title_is_refused(live: Live) -> None:
    uri = await live.repo.item()
    before = await live.repo.graph(uri)
    sparql = archelon_sparql(uri, [(DCTERMS + "title", '"Old title"@en')], [])
    answer = await live.patch(live.repo.path(uri), sparql)
    body = assert_problem(answer, 400, "Content-model validation failed", "title")
    assert set(body["validation_errors"]) == {"title"}
    assert body["validation_errors"]["title"] == "is required"
    assert body["error_count"] == 1
    assert body["model_name"] == "Item"
    assert body["resource"] == uri
    after = await live.repo.graph(uri)
    assert await live.repo.values(uri, TITLE) == {"Old title"}
    assert set(after) == set(before)


HANDLE_TYPE = "http://vocab.lib.umd.edu/datatype#handle"


def blank_literals(graph) -> list[object]:
    return [o for o in graph.objects() if isinstance(o, Literal) and not o.strip()]


async def test_blank_values_are_refused_where_upstream_rejects_them_and_never_stored(
    live: Live,
) -> None:
    """Issue #24, item 1: an empty identifier or handle is refused as upstream's validators
    refuse it; a blank value elsewhere, or with no model to check, is not stored."""
    uri = await live.repo.item()
    path = live.repo.path(uri)
    before = await live.repo.graph(uri)
    for value, field, message in [
        ('""', "identifier", "all values must be non-blank"),
        (f'""^^<{HANDLE_TYPE}>', "handle", "is not a handle URI"),
        (f'"   "^^<{HANDLE_TYPE}>', "handle", "is not a handle URI"),
    ]:
        sparql = archelon_sparql(uri, [], [(DCTERMS + "identifier", value)])
        answer = await live.patch(path, sparql)
        body = assert_problem(answer, 400, "Content-model validation failed", field)
        assert body["validation_errors"] == {field: message}, value
    assert set(await live.repo.graph(uri)) == set(before)

    sparql = archelon_sparql(
        uri,
        [(DCTERMS + "title", '"Old title"@en')],
        [
            (DCTERMS + "title", '"New title"@en'),
            (DCTERMS + "description", '""'),
            (DCTERMS + "description", '"  "@en'),
        ],
    )
    answer = await live.patch(path, sparql)
    assert answer.status_code == 204, answer.text
    blank = archelon_sparql(
        uri, [], [(DCTERMS + "identifier", '""'), (DCTERMS + "identifier", f'""^^<{HANDLE_TYPE}>')]
    )
    answer = await live.patch(path, blank, model=None)
    assert answer.status_code == 204, answer.text
    after = await live.repo.graph(uri)
    assert await live.repo.values(uri, TITLE) == {"New title"}
    assert await live.repo.values(uri, URIRef(DCTERMS + "identifier")) == {"test-1"}
    assert await live.repo.values(uri, URIRef(DCTERMS + "description")) == set()
    assert blank_literals(after) == []


#: an item as upstream 4.8.1 wrote some in production: one creator with two labels, one
#: creator known by its URI alone (upstream never checks embedded objects)
UPSTREAM_CREATORS_TTL = """\
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
<> a <http://pcdm.org/models#Object>, <http://vocab.lib.umd.edu/model#Item> ;
   dcterms:title "Old title"@en ;
   dcterms:identifier "test-creators" ;
   dcterms:type <http://purl.org/dc/dcmitype/Text> ;
   dcterms:rights <http://vocab.lib.umd.edu/rightsStatement#InC> ;
   dcterms:creator <#c1>, <#c2> .
<#c1> rdfs:label "Doe, Jane", "Roe, Jane" ; owl:sameAs <http://id.example/doe> .
<#c2> owl:sameAs <http://id.example/anonymous> .
"""


async def test_an_item_upstream_wrote_with_a_two_label_creator_saves(live: Live) -> None:
    """The editor saves an upstream-written item whose creator has two labels (and one with
    no label): plastrond checks the item's own rules, as upstream, not the embedded ones."""
    uri = await live.repo.create(UPSTREAM_CREATORS_TTL)
    sparql = archelon_sparql(
        uri, [(DCTERMS + "title", '"Old title"@en')], [(DCTERMS + "title", '"New title"@en')]
    )
    answer = await live.patch(live.repo.path(uri), sparql)
    assert answer.status_code == 204, answer.text
    assert await live.repo.values(uri, TITLE) == {"New title"}
    label = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
    assert await live.repo.values(f"{uri}#c1", label) == {"Doe, Jane", "Roe, Jane"}


async def test_broken_sparql_wrong_type_missing_and_unknown_model(live: Live) -> None:
    uri = await live.repo.item()
    path = live.repo.path(uri)
    assert_problem(
        await live.patch(path, "INSERT DATA { <> <urn:p> "), 400, "SPARQL Update problem", "parse"
    )
    assert_problem(
        await live.patch(path, "DROP ALL"), 400, "SPARQL Update problem", "DROP is not allowed"
    )
    assert_problem(await live.patch(path, b"\xff\xfe"), 400, "SPARQL Update problem", "UTF-8")
    answer = await live.patch(path, "INSERT DATA { <> <urn:p> 1 }", content_type="text/turtle")
    assert_problem(answer, 415, "Unsupported Media Type", "application/sparql-update")
    answer = await live.patch(path + "-missing", "INSERT DATA { <> <urn:p> 1 }")
    assert_problem(answer, 404, "Not Found", "-missing")
    answer = await live.patch(path, "INSERT DATA { <> <urn:p> 1 }", model="NoSuchModel")
    assert_problem(answer, 400, "Unrecognized content-model", "NoSuchModel")
    graph = await live.repo.graph(uri)
    assert not any(str(p) == "urn:p" for p in graph.predicates())


async def test_paths_stay_below_the_repository_root(live: Live) -> None:
    uri = await live.repo.item()
    path = live.repo.path(uri)
    before = await live.repo.graph(live.repo.parent)
    sparql = b'INSERT DATA { <> <http://purl.org/dc/terms/alternative> "escaped" }'
    for bad in (
        f"{path}/..",
        f"{path}/../..",
        f"{path}/%2e%2e",
        f"{path}/%2E%2e/%2e%2e",
        f"{path}/%252E%252E",
        f"{path}/./x",
        "/",
        "//",
    ):
        status = await raw_request(
            live.url, "PATCH", "/resources" + bad, sparql, "application/sparql-update"
        )
        assert status in (400, 404), (bad, status)
    after = await live.repo.graph(live.repo.parent)
    assert set(after) == set(before)
    assert await live.repo.values(uri, ALTERNATIVE) == set()


async def test_a_patch_racing_another_write_is_409_and_loses_nothing(
    tmp_path: Path, fedora
) -> None:
    held = HeldVocabulary(RIGHTS_TTL)
    try:
        async with live_server(tmp_path, fedora, {RIGHTS: held.url}) as live:
            uri = await live.repo.item()
            sparql = archelon_sparql(
                uri, [(DCTERMS + "title", '"Old title"@en')], [(DCTERMS + "title", '"Mine"@en')]
            )
            answers: list[httpx.Response] = []

            async def editor() -> None:
                answers.append(await live.patch(live.repo.path(uri), sparql))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(editor)
                # plastrond has read the resource and is validating it: change it meanwhile.
                assert await held.wait_requested()
                await live.repo.patch(
                    uri, f'INSERT DATA {{ <{uri}> <{DCTERMS}alternative> "Theirs" }}'
                )
                held.release.set()
            (answer,) = answers
            assert_problem(answer, 409, "Conflict", "changed")
            assert await live.repo.values(uri, ALTERNATIVE) == {"Theirs"}
            assert await live.repo.values(uri, TITLE) == {"Old title"}

            # Read again, the same edit goes through and keeps the other change.
            answer = await live.patch(live.repo.path(uri), sparql)
            assert answer.status_code == 204, answer.text
            assert await live.repo.values(uri, TITLE) == {"Mine"}
            assert await live.repo.values(uri, ALTERNATIVE) == {"Theirs"}
    finally:
        held.close()


async def test_a_patch_of_a_resource_another_transaction_holds(live: Live, fedora) -> None:
    """Another transaction (a STOMP update, an import) has written the resource and not yet
    committed. Fedora 6 refuses every other write of it (`409 ... being updated by another
    transaction`): the editor gets the 409 Conflict it turns into "try again", not a 500.
    Fedora 4.7 locks nothing: the PATCH goes through, and the transaction's commit keeps it."""
    uri = await live.repo.item()
    client = live.repo.client
    begun = await client.post(f"{fedora.rest_url}/fcr:tx")
    begun.raise_for_status()
    tx = begun.headers["Location"]
    if fedora.is_fcrepo4:  # tx:<id> paths
        inside, headers = uri.replace(fedora.rest_url, tx, 1), {}
        commit = ("POST", f"{tx}/fcr:tx/fcr:commit")
    else:  # Atomic-ID
        inside, headers = uri, {"Atomic-ID": tx}
        commit = ("PUT", tx)
    theirs = f'INSERT DATA {{ <{inside}> <{DCTERMS}alternative> "Theirs" }}'
    held = await client.patch(
        inside,
        content=theirs,
        headers={"Content-Type": "application/sparql-update", **headers},
    )
    assert held.status_code == 204, held.text
    sparql = archelon_sparql(
        uri, [(DCTERMS + "title", '"Old title"@en')], [(DCTERMS + "title", '"Mine"@en')]
    )
    answer = await live.patch(live.repo.path(uri), sparql)
    if fedora.is_fcrepo4:
        assert answer.status_code == 204, answer.text
    else:
        body = assert_problem(answer, 409, "Conflict", "changed", "try again")
        assert body["detail"].startswith(uri)
        assert await live.repo.values(uri, TITLE) == {"Old title"}
    assert (await client.request(*commit)).status_code == 204
    assert await live.repo.values(uri, ALTERNATIVE) == {"Theirs"}
    if not fedora.is_fcrepo4:
        # Once the transaction is over, the same edit goes through and keeps its change.
        answer = await live.patch(live.repo.path(uri), sparql)
        assert answer.status_code == 204, answer.text
    assert await live.repo.values(uri, TITLE) == {"Mine"}
    assert await live.repo.values(uri, ALTERNATIVE) == {"Theirs"}


async def test_archelon_request_shapes(live: Live, fedora) -> None:
    """Both routes exactly as Archelon calls them (http-api.md): the base URL
    PLASTRON_REST_BASE_URL with a trailing slash, `resources` + the path cut from the
    resource URI + `?model=Item`, and the activity JSON sent by Ruby's http gem (`json:`)."""
    base = live.url + "/"  # PLASTRON_REST_BASE_URL
    uri = await live.repo.item(title="Letters, 1945")
    path = uri[len(fedora.rest_url) :]
    sparql = archelon_sparql(
        uri,
        [(DCTERMS + "title", '"Letters, 1945"@en')],
        [(DCTERMS + "title", '"Letters, 1945-1946"@en')],
    )
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.patch(
            f"{base}resources{path}?model=Item",
            content=sparql.encode("utf-8"),
            headers={"Content-Type": "application/sparql-update"},
        )
        assert answer.status_code == 204, answer.text
        answer = await client.post(
            f"{base}inbox",
            content=json.dumps(
                {
                    "@context": AS_CONTEXT,
                    "type": ACTIVITY + "PublishHidden",
                    "actor": "acct:jdoe@umd.edu",
                    "object": uri,
                }
            ).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert 200 <= answer.status_code < 300, answer.text
        assert isinstance(answer.json(), dict)
    assert await live.repo.values(uri, TITLE) == {"Letters, 1945-1946"}
    assert {PUBLISHED, HIDDEN} <= await live.repo.types(uri)

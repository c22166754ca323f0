"""POST /inbox against the real Fedora, over real HTTP: every shape of activity that means
publish, publish hidden or unpublish does it to the right resources (their rdf:types read
back from Fedora), and every bad request is the problem http-api.md names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.live import (
    ACTIVITY,
    AS_CONTEXT,
    HIDDEN,
    PUBLISHED,
    RIGHTS,
    RIGHTS_TTL,
    Live,
    live_server,
)

pytestmark = pytest.mark.integration

COMPACT_CONTEXT = [
    AS_CONTEXT,
    {
        "umdact": ACTIVITY,
        "Publish": "umdact:Publish",
        "PublishHidden": "umdact:PublishHidden",
        "Unpublish": "umdact:Unpublish",
    },
]


def archelon(kind: str, uri: str) -> dict[str, object]:
    """The activity Archelon's SendActivityStreamMessage sends (http-api.md)."""
    return {
        "@context": AS_CONTEXT,
        "type": ACTIVITY + kind,
        "actor": "acct:jdoe@umd.edu",
        "object": uri,
    }


def compact(kind: str, *uris: str) -> dict[str, object]:
    """The upstream test suite's form: a context term for the type, a list of objects."""
    return {"@context": COMPACT_CONTEXT, "type": kind, "object": list(uris)}


def assert_problem(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["detail"] == body["details"]
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


async def test_archelon_publish_hidden_then_publish_then_unpublish(live: Live) -> None:
    uri = await live.repo.item()
    answer = await live.activity(archelon("PublishHidden", uri), "application/json")
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["done"] == [{"uri": uri, "handle": None, "status": "published"}]
    assert {PUBLISHED, HIDDEN} <= await live.repo.types(uri)

    # Publish leaves Hidden as it is.
    answer = await live.activity(archelon("Publish", uri))
    assert answer.status_code == 201, answer.text
    assert answer.json()["done"][0]["status"] == "unchanged"
    assert {PUBLISHED, HIDDEN} <= await live.repo.types(uri)

    answer = await live.activity(archelon("Unpublish", uri))
    assert answer.status_code == 201, answer.text
    types = await live.repo.types(uri)
    assert PUBLISHED not in types
    assert HIDDEN in types  # Unpublish removes Published only


async def test_compact_form_means_the_same(live: Live) -> None:
    first, second, bystander = [await live.repo.item() for _ in range(3)]
    answer = await live.activity(compact("PublishHidden", first, second))
    assert answer.status_code == 201, answer.text
    assert [d["uri"] for d in answer.json()["done"]] == [first, second]
    for uri in (first, second):
        assert {PUBLISHED, HIDDEN} <= await live.repo.types(uri)
    assert not {PUBLISHED, HIDDEN} & await live.repo.types(bystander)

    answer = await live.activity(compact("Unpublish", second))
    assert answer.status_code == 201, answer.text
    assert PUBLISHED not in await live.repo.types(second)
    assert PUBLISHED in await live.repo.types(first)

    answer = await live.activity(compact("Publish", bystander))
    assert answer.status_code == 201, answer.text
    types = await live.repo.types(bystander)
    assert PUBLISHED in types and HIDDEN not in types


async def test_other_spellings_of_the_same_activity(live: Live) -> None:
    uri = await live.repo.item()
    # An embedded object with an id; the umdact prefix used as a CURIE; no @context at all
    # (the ActivityStreams context applies), with the type as a full IRI.
    answer = await live.activity(
        {
            "@context": [AS_CONTEXT, {"umdact": ACTIVITY}],
            "type": "umdact:PublishHidden",
            "object": {"id": uri},
        }
    )
    assert answer.status_code == 201, answer.text
    assert {PUBLISHED, HIDDEN} <= await live.repo.types(uri)
    answer = await live.activity({"type": ACTIVITY + "Unpublish", "object": [uri]})
    assert answer.status_code == 201, answer.text
    assert PUBLISHED not in await live.repo.types(uri)


async def test_missing_object_is_404_and_says_what_was_done(live: Live, fedora) -> None:
    good = await live.repo.item()
    missing = f"{live.repo.parent}/no-such-item"
    answer = await live.activity(compact("Publish", good, missing))
    body = assert_problem(answer, 404, missing)
    assert body["done"] == [{"uri": good, "handle": None, "status": "published"}]
    assert body["failed"]["uri"] == missing
    assert PUBLISHED in await live.repo.types(good)


async def test_bad_activities_are_400(live: Live) -> None:
    uri = await live.repo.item()
    cases = [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"@context": AS_CONTEXT, "object": uri}).encode(), "no type"),
        (json.dumps(archelon("Frobnicate", uri)).encode(), "unknown activity type"),
        (json.dumps({"@context": AS_CONTEXT, "type": "Like", "object": uri}).encode(), "unknown"),
        (json.dumps({"@context": COMPACT_CONTEXT, "type": "Publish"}).encode(), "no object"),
        (
            json.dumps({"@context": "https://example.org/ctx", "type": "Publish"}).encode(),
            "fetches no JSON-LD documents",
        ),
        (json.dumps(compact("Publish", "http://elsewhere.example/x")).encode(), "not a resource"),
        (b"[" * 100 + b"]" * 100, "nests deeper"),
    ]
    for body, fragment in cases:
        assert_problem(await live.activity(body), 400, fragment)
    assert not {PUBLISHED, HIDDEN} & await live.repo.types(uri)


async def test_wrong_content_type_is_415(live: Live) -> None:
    uri = await live.repo.item()
    answer = await live.activity(archelon("Publish", uri), "text/plain")
    assert_problem(answer, 415, "text/plain")
    assert PUBLISHED not in await live.repo.types(uri)


async def test_bearer_token_and_body_limit(
    tmp_path: Path, fedora, vocabulary_server, caplog
) -> None:
    caplog.set_level("DEBUG")
    settings = {"AUTH_TOKEN": "s3cret-token", "MAX_BODY_BYTES": 2048, "MAX_SPARQL_BYTES": 1024}
    vocabularies = {RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL)}
    async with live_server(tmp_path, fedora, vocabularies, settings) as live:
        uri = await live.repo.item()
        body = json.dumps(archelon("Publish", uri))
        headers = {"Content-Type": "application/ld+json"}
        answer = await live.client.post("/inbox", content=body, headers=headers)
        assert_problem(answer, 401, "Bearer")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {**headers, "Authorization": "Bearer not-it"}
        assert_problem(await live.client.post("/inbox", content=body, headers=wrong), 401)
        patch = await live.patch(live.repo.path(uri), "INSERT DATA { <> <urn:x> 1 }")
        assert_problem(patch, 401)
        assert PUBLISHED not in await live.repo.types(uri)

        good = {**headers, "Authorization": "Bearer s3cret-token"}
        answer = await live.client.post("/inbox", content=body, headers=good)
        assert answer.status_code == 201, answer.text
        assert PUBLISHED in await live.repo.types(uri)

        big = json.dumps({**archelon("Publish", uri), "summary": "x" * 4000})
        assert_problem(await live.client.post("/inbox", content=big, headers=good), 413)
        long_sparql = 'INSERT DATA { <> <urn:x> "' + "y" * 1500 + '" }'
        answer = await live.patch(
            live.repo.path(uri), long_sparql, headers={"Authorization": "Bearer s3cret-token"}
        )
        assert_problem(answer, 413, "1024 bytes")
        # The jobs API stays open.
        assert (await live.client.get("/jobs")).status_code == 200
    assert "publish" in caplog.text
    assert "s3cret-token" not in caplog.text

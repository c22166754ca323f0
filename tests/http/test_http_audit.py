"""The second round of hostile input against the http mode (issue 18 was the first), over
real HTTP against the real Fedoras: URIs and paths that look as if they were below the
repository root but are not once a client or the server resolves them."""

from __future__ import annotations

import pytest

from tests.support.live import (
    ACTIVITY,
    ALTERNATIVE,
    AS_CONTEXT,
    PUBLISHED,
    Live,
    raw_request,
)

pytestmark = pytest.mark.integration


def publish(uri: str) -> dict[str, object]:
    return {"@context": AS_CONTEXT, "type": ACTIVITY + "Publish", "object": uri}


async def test_inbox_objects_that_only_look_local_are_400_and_change_nothing(
    live: Live, fedora
) -> None:
    uri = await live.repo.item()
    parent = live.repo.parent
    name = uri.rsplit("/", 1)[1]
    root = fedora.rest_url
    below_root = uri[len(root) :]
    tricky = [
        f"{uri}?x",  # a query: the request reaches the item, the triple names `<item?x>`
        f"{uri}#x",  # a hash URI is part of the item, not a resource to publish
        f"{parent}?/../{name}",
        f"{parent}#/{name}",
        f"{uri}/../{name}",  # resolved by the client (httpx) before it is sent
        f"{root}/x/..{below_root}",
        f"{root}/%2e%2e/{root.rsplit('/', 1)[1]}{below_root}",  # Jetty decodes %2e%2e
        f"{parent}/%2E%2E/{parent.rsplit('/', 1)[1]}/{name}",
        f"{parent}/x/..;/{name}",  # `..;` is `..` to Tomcat
        f"{parent}/x%2f..%2f{name}",
    ]
    before_item = set(await live.repo.graph(uri))
    before_parent = set(await live.repo.graph(parent))
    for object_uri in tricky:
        answer = await live.activity(publish(object_uri))
        assert answer.status_code == 400, (object_uri, answer.text)
        assert "not a resource of this repository" in answer.json()["detail"], answer.text
    assert set(await live.repo.graph(uri)) == before_item
    assert set(await live.repo.graph(parent)) == before_parent
    # the item itself still publishes
    answer = await live.activity(publish(uri))
    assert answer.status_code == 201, answer.text
    assert PUBLISHED in await live.repo.types(uri)


async def test_resource_paths_with_encoded_slashes_or_parameters_are_400(live: Live) -> None:
    uri = await live.repo.item()
    path = live.repo.path(uri)
    name = uri.rsplit("/", 1)[1]
    parent_path = path.rsplit("/", 1)[0]
    sparql = b'INSERT DATA { <> <http://purl.org/dc/terms/alternative> "escaped" }'
    for bad in (
        "/%2e%2e%2f",  # Jetty decodes it and answers its landing page: outside the root
        "/%2E%2E%2F%2e%2e%2F",
        "/..%2f..%2f",
        f"{path}%2f..%2f..%2f..",
        f"{parent_path}/x/..;/{name}",
        f"{parent_path}/x/..;jsessionid=1/{name}",
        f"{parent_path}/x/%2e%2e;/{name}",
        f"{path}/.;",
    ):
        status = await raw_request(
            live.url, "PATCH", "/resources" + bad, sparql, "application/sparql-update"
        )
        assert status == 400, (bad, status)
    assert await live.repo.values(uri, ALTERNATIVE) == set()
    answer = await live.patch(path, sparql, model=None)
    assert answer.status_code == 204, answer.text
    assert await live.repo.values(uri, ALTERNATIVE) == {"escaped"}


async def test_a_body_of_many_values_is_refused_before_it_is_expanded(live: Live) -> None:
    # 40,000 objects fit in the body limit; expanding them (and checking each against the
    # others) took minutes of CPU while every other activity waited for the one expander.
    uri = await live.repo.item()
    many = {
        "@context": AS_CONTEXT,
        "type": ACTIVITY + "Publish",
        "object": [f"urn:x:{i}" for i in range(40_000)],
    }
    answer = await live.activity(many)
    assert answer.status_code == 400, answer.text
    assert "values" in answer.json()["detail"], answer.text
    # the daemon is free for the next activity at once
    answer = await live.activity(publish(uri))
    assert answer.status_code == 201, answer.text


async def test_a_context_whose_prefixes_chain_deeply_is_400_not_an_internal_error(
    live: Live,
) -> None:
    chain: dict[str, str] = {f"p{i}": f"p{i + 1}:x" for i in range(2000)}
    chain["p2000"] = "http://example.org/"
    body = {"@context": chain, "type": ACTIVITY + "Publish", "object": "urn:x", "p0:y": "v"}
    answer = await live.activity(body)
    assert answer.status_code == 400, answer.text
    assert "JSON-LD" in answer.json()["detail"], answer.text

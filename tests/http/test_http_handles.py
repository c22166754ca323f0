"""Publishing through POST /inbox with a handle service (handles.md), against the real
Fedoras and UMD's handle service (umd-handle-django, services/handles.sh): a new item gets
exactly one handle, publishing again mints nothing, a stale URL is corrected, an unknown
recorded handle, two handles for one item (the service's exists answers 500) and a service
that is down leave the item unpublished."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.live import (
    ACTIVITY,
    AS_CONTEXT,
    HIDDEN,
    PUBLISHED,
    RIGHTS,
    RIGHTS_TTL,
    HandleService,
    Live,
    handles_on,
    live_server,
    publication_section,
    uuid_item,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(handle_service) -> AsyncIterator[HandleService]:
    view = HandleService(handle_service)
    try:
        yield view
    finally:
        await view.aclose()


@pytest.fixture
async def live(tmp_path: Path, fedora, vocabulary_server, handle_service) -> AsyncIterator[Live]:
    vocabularies = {RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL)}
    publication = publication_section(handle_service)
    async with live_server(tmp_path, fedora, vocabularies, publication=publication) as server:
        yield server


def activity(kind: str, uri: str) -> dict[str, object]:
    return {
        "@context": AS_CONTEXT,
        "type": ACTIVITY + kind,
        "actor": "acct:jdoe@umd.edu",
        "object": uri,
    }


def public_url(uri: str) -> str:
    return "https://digital.example/result/id/" + uri.rsplit("/", 1)[1]


async def test_a_new_item_gets_one_handle_and_keeps_it(live: Live, service) -> None:
    uri = await uuid_item(live.repo, "Letters home")
    answer = await live.activity(activity("Publish", uri))
    assert answer.status_code == 201, answer.text
    (done,) = answer.json()["done"]
    minted = await service.for_repo_id(uri)
    assert len(minted) == 1
    handle = f"hdl:1903.1/{minted[0]['suffix']}"
    assert done == {"uri": uri, "handle": handle, "status": "published"}
    assert minted[0]["url"] == public_url(uri)
    assert minted[0]["repo"] == "fcrepo"
    assert minted[0]["description"] == "Letters home"
    assert await handles_on(live.repo, uri) == [handle]
    assert PUBLISHED in await live.repo.types(uri)

    # Again, and hidden: nothing minted, the handle stays, Hidden is added.
    answer = await live.activity(activity("PublishHidden", uri))
    assert answer.status_code == 201, answer.text
    assert answer.json()["done"][0]["handle"] == handle
    assert len(await service.for_repo_id(uri)) == 1
    assert await handles_on(live.repo, uri) == [handle]
    assert {PUBLISHED, HIDDEN} <= await live.repo.types(uri)
    answer = await live.activity(activity("PublishHidden", uri))
    assert answer.json()["done"][0]["status"] == "unchanged"

    # Unpublishing keeps the handle; publishing after it mints nothing either.
    assert (await live.activity(activity("Unpublish", uri))).status_code == 201
    assert await handles_on(live.repo, uri) == [handle]
    assert (await live.activity(activity("Publish", uri))).status_code == 201
    assert len(await service.for_repo_id(uri)) == 1


async def test_a_stale_handle_url_is_corrected(live: Live, service) -> None:
    uri = await uuid_item(live.repo)
    minted = await service.mint(uri, "https://old.example/stale")
    handle = f"hdl:1903.1/{minted['suffix']}"
    await live.repo.patch(
        uri,
        f'INSERT DATA {{ <{uri}> <http://purl.org/dc/terms/identifier> "{handle}"'
        "^^<http://vocab.lib.umd.edu/datatype#handle> }",
    )
    answer = await live.activity(activity("Publish", uri))
    assert answer.status_code == 201, answer.text
    assert answer.json()["done"][0]["handle"] == handle
    (record,) = await service.for_repo_id(uri)
    assert record["url"] == public_url(uri)
    assert await handles_on(live.repo, uri) == [handle]
    assert PUBLISHED in await live.repo.types(uri)


async def test_a_handle_the_service_has_is_found_not_minted_again(live: Live, service) -> None:
    # As after a publication that minted, then died before writing the handle.
    uri = await uuid_item(live.repo)
    minted = await service.mint(uri, public_url(uri))
    answer = await live.activity(activity("Publish", uri))
    assert answer.status_code == 201, answer.text
    assert await handles_on(live.repo, uri) == [f"hdl:1903.1/{minted['suffix']}"]
    assert len(await service.for_repo_id(uri)) == 1


async def test_an_unknown_recorded_handle_fails_and_stays_unpublished(live: Live, service) -> None:
    uri = await uuid_item(live.repo)
    await live.repo.patch(
        uri,
        f'INSERT DATA {{ <{uri}> <http://purl.org/dc/terms/identifier> "hdl:1903.1/no-such"'
        "^^<http://vocab.lib.umd.edu/datatype#handle> }",
    )
    answer = await live.activity(activity("Publish", uri))
    assert answer.status_code in (500, 502), answer.text
    body = answer.json()
    assert "handle hdl:1903.1/no-such is not registered" in body["detail"]
    assert body["failed"]["uri"] == uri
    assert PUBLISHED not in await live.repo.types(uri)
    assert await service.for_repo_id(uri) == []


async def test_two_handles_for_one_item_fail_it_in_one_line(
    live: Live, service, handle_service
) -> None:
    # Another client minted twice for the item: the service's exists answers an HTML 500.
    uri = await uuid_item(live.repo)
    await service.mint(uri, public_url(uri))
    await service.mint(uri, public_url(uri))
    before = handle_service.errors_answered("/api/v1/handles/exists")
    answer = await live.activity(activity("Publish", uri))
    assert answer.status_code == 502, answer.text
    body = answer.json()
    assert body["failed"] == {
        "uri": uri,
        "reason": f"handle service: GET /handles/exists?repo=fcrepo&repo_id={uri}: "
        "500 Internal Server Error: Server Error (500) (umd-handle-django answers 500 here "
        "when it holds two or more handles for this repo_id: keep one of them (its admin "
        "pages) and publish again)",
    }
    assert body["done"] == []
    assert handle_service.errors_answered("/api/v1/handles/exists") == before + 1
    assert PUBLISHED not in await live.repo.types(uri)
    assert await handles_on(live.repo, uri) == []
    assert len(await service.for_repo_id(uri)) == 2


async def test_the_service_down_or_refusing_means_nothing_published(
    tmp_path: Path, fedora, vocabulary_server, handle_service
) -> None:
    vocabularies = {RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL)}
    for overrides, reason in (
        ({"HANDLE_ENDPOINT": "http://127.0.0.1:9/api/v1"}, "cannot reach"),
        ({"HANDLE_JWT_TOKEN": "not-the-token"}, "401"),
    ):
        publication = publication_section(handle_service, **overrides)
        folder = tmp_path / reason.replace(" ", "-")
        folder.mkdir()
        async with live_server(folder, fedora, vocabularies, publication=publication) as live:
            first, second = await uuid_item(live.repo), await uuid_item(live.repo)
            answer = await live.activity(
                {"@context": AS_CONTEXT, "type": ACTIVITY + "Publish", "object": [first, second]}
            )
            assert answer.status_code == 502, answer.text
            body = answer.json()
            assert reason in body["detail"] and "handle service" in body["detail"]
            assert body["done"] == []
            for uri in (first, second):
                assert PUBLISHED not in await live.repo.types(uri)
                assert await handles_on(live.repo, uri) == []
            assert "not-the-token" not in answer.text


async def test_an_item_without_a_uuid_fails_in_one_line(live: Live) -> None:
    uri = f"{live.repo.parent}/plain-item"
    made = await live.repo.client.put(uri, headers={"Content-Type": "text/turtle"})
    made.raise_for_status()
    answer = await live.activity(activity("Publish", uri))
    assert answer.status_code == 500, answer.text
    assert "no UUID in its path" in answer.json()["detail"]
    assert PUBLISHED not in await live.repo.types(uri)

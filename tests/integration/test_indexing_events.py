"""Fedora's own record of an import: the messages each Fedora emits, read as UMD's indexing
pipeline reads them (umd-fcrepo-messaging's routes.xml and solr.xml).

Every resource the import made is announced saying `plastrond/<version> (import)`; the
creations the Solrizer route would `add` are exactly one per item, the item itself (its pages,
files and proxies are import events below a top-level resource, which Solr leaves to
Solrizer); and each item's event comes after its transaction's commit was sent, when the item
is whole. Fedora 4.7.5 is the shared one (its embedded broker is always on, STOMP on
`FEDORA47_STOMP_PORT`); the shared Fedora 6.1.0 emits nothing (its broker is off), so the
Fedora 6 case starts one of its own with its broker on (`FreshFedora(jms=True)`, about 30 s).
A recording proxy in front of the server gives the time each commit was sent.

And the http mode's edits and publishes are announced saying `plastrond-http/<version>`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio

from plastrond import __version__
from plastrond.priming import repository_client
from tests.support.fedora_events import FEDORA47_STOMP_PORT, FedoraEvent, FedoraEvents
from tests.support.fresh_fedora import FreshFedora
from tests.support.imports import DATA, FILES, TestContainer, import_config, run_import
from tests.support.live import (
    ACTIVITY,
    AS_CONTEXT,
    DCTERMS,
    PUBLISHED,
    RIGHTS,
    RIGHTS_TTL,
    live_server,
)
from tests.support.recording_proxy import RecordingProxy

pytestmark = pytest.mark.integration

IMPORT_AGENT = f"plastrond/{__version__} (import)"
HTTP_AGENT = f"plastrond-http/{__version__}"
JOB = "http://archelon.example/import_jobs/events-1"
CREATION = (
    "http://fedora.info/definitions/v4/event#ResourceCreation",  # Fedora 4.7
    "https://www.w3.org/ns/activitystreams#Create",  # Fedora 6
)
PCDM_OBJECT = "http://pcdm.org/models#Object"


@attrs.frozen
class Emitting:
    """A Fedora whose events can be read: its REST root, admin account, broker's STOMP port
    (with the names of the `fedora` fixture's endpoint that `live_server` reads)."""

    rest_url: str
    admin_user: str
    admin_password: str = attrs.field(repr=False)
    stomp_port: int = 0

    @property
    def auth(self) -> tuple[str, str]:
        return (self.admin_user, self.admin_password)

    @property
    def admin_auth(self) -> tuple[str, str]:
        return self.auth


@pytest.fixture(scope="module")
def fedora6_with_events(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emitting]:
    server = FreshFedora("fcrepo6", tmp_path_factory.mktemp("fcrepo6-events"), jms=True)
    server.start()
    assert server.stomp_port is not None
    try:
        yield Emitting(
            server.rest_url,
            os.environ.get("FEDORA_ADMIN_USER", "fedoraAdmin"),
            os.environ.get("FEDORA_ADMIN_PASSWORD", "fedoraAdmin"),
            server.stomp_port,
        )
    finally:
        server.stop()


@pytest.fixture
def emitting(fedora, request: pytest.FixtureRequest) -> Emitting:
    if fedora.is_fcrepo4:
        return Emitting(
            fedora.rest_url, fedora.admin_user, fedora.admin_password, FEDORA47_STOMP_PORT
        )
    return request.getfixturevalue("fedora6_with_events")


@pytest.fixture
def proxied(emitting: Emitting) -> Emitting:
    """The `proxy` fixture (tests/conftest.py) stands in front of the emitting server."""
    return emitting


def created(event: FedoraEvent) -> bool:
    return any(kind in event.get("eventType") for kind in CREATION)


def indexed_as_an_item(event: FedoraEvent, container: str) -> bool:
    """Whether UMD's routes send *event* to Solrizer as an `add` of a top-level resource:
    a creation saying `(import)` (routes.xml: an import event) of a pcdm:Object (solr.xml's
    filter) at `<container>/xx/xx/xx/xx/<uuid>` (routes.xml's top-level path, with the
    test's container for `/pcdm`)."""
    top_level = re.fullmatch(
        re.escape(container) + r"/../../../../.{8}-.{4}-.{4}-.{4}-.{12}",
        event.get("identifier"),
    )
    return (
        created(event)
        and "(import)" in event.get("userAgent")
        and PCDM_OBJECT in event.get("resourceType")
        and top_level is not None
    )


def commit_of(item: str, seen: list, rest_path: str):  # type: ignore[no-untyped-def]
    """The request that committed the transaction *item* was written in, as the proxy saw
    it: Fedora 4.7 names the transaction in the path (`tx:<id>/...`, committed by
    `POST tx:<id>/fcr:tx/fcr:commit`), Fedora 6 in `Atomic-ID` (committed by `PUT` to it)."""
    # the last attempt's (a write a Fedora 4.7 race failed is rolled back and done again)
    put = [s for s in seen if s.method == "PUT" and s.path.endswith(item)][-1]
    tx = put.headers.get("atomic-id")
    if tx is not None:
        path = tx.split("//", 1)[-1].partition("/")[2]
        (commit,) = [s for s in seen if s.method == "PUT" and s.path == "/" + path]
        return commit
    segment = put.path.removeprefix(rest_path + "/").split("/", 1)[0]
    assert segment.startswith("tx:"), put.path
    (commit,) = [s for s in seen if s.path == f"{rest_path}/{segment}/fcr:tx/fcr:commit"]
    return commit


async def test_an_import_is_announced_once_per_item_whole_and_as_an_import(
    tmp_path: Path, emitting: Emitting, proxy: RecordingProxy, proxied_target: TestContainer
) -> None:
    config = import_config(tmp_path / "jobs", rest_url=proxy.rest_url)
    container = proxied_target.uri.removeprefix(proxy.rest_url)
    events = await trio.to_thread.run_sync(FedoraEvents, emitting.stomp_port)
    try:
        async with repository_client(config) as repository:  # the daemon's own client
            outcome = await run_import(
                config,
                repository,
                (DATA / "Item.csv").read_bytes(),
                job_id=JOB,
                model="Item",
                binaries_location=str(FILES),
                container=proxied_target.uri,
            )
        assert outcome.state == "import_complete", outcome.body
        items = [i.removeprefix(proxy.rest_url) for i in proxied_target.items()]
        assert len(items) == 2
        await trio.to_thread.run_sync(events.wait_for, items)
        await trio.sleep(1)  # a commit's events are sent together: let the last ones in
        mine = [e for e in events.events if e.get("identifier").startswith(container + "/")]
    finally:
        events.close()
    seen = proxy.taken()

    assert mine
    agents = {(e.get("identifier"), e.get("userAgent")) for e in mine}
    wrong = sorted((path, agent) for path, agent in agents if agent != IMPORT_AGENT)
    assert not wrong, f"events that do not say {IMPORT_AGENT}: {wrong}"

    solr_adds = [e.get("identifier") for e in mine if indexed_as_an_item(e, container)]
    assert sorted(solr_adds) == sorted(items)

    rest_path = proxy.rest_path
    for item in items:
        commit = commit_of(item, seen, rest_path)
        (announced,) = [e for e in events.about(item) if created(e)]
        assert announced.at > commit.at, f"{item} was announced before its commit was sent"


async def test_an_edit_and_a_publish_are_announced_as_plastrond_http(
    tmp_path: Path, emitting: Emitting, vocabulary_server
) -> None:
    """The http mode's changes reach the pipeline saying `plastrond-http/<version>`: solr.xml
    then has Solrizer read the item without its cache, so Archelon's edit or publish is
    indexed from what was just written."""
    vocabularies = {RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL)}
    events = await trio.to_thread.run_sync(FedoraEvents, emitting.stomp_port)
    try:
        async with live_server(tmp_path, emitting, vocabularies) as live:
            uri = await live.repo.item()
            item = uri.removeprefix(emitting.rest_url)
            await trio.to_thread.run_sync(events.wait_for, [item])  # its creation, by the test
            before = len(events.about(item))

            sparql = (
                f'DELETE {{ <{uri}> <{DCTERMS}title> "Old title"@en }} '
                f'INSERT {{ <{uri}> <{DCTERMS}title> "New title"@en }} WHERE {{}}'
            )
            answer = await live.patch(live.repo.path(uri), sparql)
            assert answer.status_code == 204, answer.text
            await trio.to_thread.run_sync(events.wait_for_more, item, before)
            before = len(events.about(item))

            activity = {"@context": AS_CONTEXT, "type": ACTIVITY + "Publish", "object": uri}
            answer = await live.activity(activity)
            assert answer.status_code < 300, answer.text
            await trio.to_thread.run_sync(events.wait_for_more, item, before)
            await trio.sleep(1)
            assert PUBLISHED in await live.repo.types(uri)
            announced = events.about(item)  # (the test's container is deleted after)
    finally:
        events.close()

    (creation, *changes) = announced
    assert creation.get("userAgent") != HTTP_AGENT  # the test's own
    assert len(changes) >= 2
    agents = [e.get("userAgent") for e in changes]
    assert all(agent == HTTP_AGENT for agent in agents), agents
    assert all(agent.startswith("plastrond-http") for agent in agents)  # solr.xml's test

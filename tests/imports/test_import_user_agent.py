"""What the real Fedora receives from the import command: every request says
`plastrond/<version> (import)`, the transaction of each item (its begin, every write in it,
its commit) included, and none says `(attach)`. UMD's routes.xml turns a create event whose
User-Agent contains `(import)` into an import event, and Solr then indexes the item alone
(Solrizer adds its pages and files): one add per item. Fedora emits the events of an item at
its transaction's commit, with the User-Agent of the request that began it (6.1) or of the
last request inside it (4.7), so every one of them must say it (README, "The User-Agent and
UMD's indexing"). A recording proxy in front of the server shows the requests as the server
got them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from import_support import DATA, FILES, TestContainer, import_config, run_import

from fedora_events import FedoraEvent, FedoraEvents
from plastrond import __version__
from plastrond.priming import repository_client
from recording_proxy import RecordingProxy

pytestmark = pytest.mark.integration

IMPORT_AGENT = f"plastrond/{__version__} (import)"
JOB = "http://archelon.example/import_jobs/ua-1"


@pytest.fixture
def proxy(fedora) -> Iterator[RecordingProxy]:
    server = RecordingProxy(fedora.rest_url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def proxied_target(fedora, proxy: RecordingProxy) -> Iterator[TestContainer]:
    container = TestContainer(proxy.rest_url, fedora.admin_auth)
    try:
        yield container
    finally:
        container.close()


async def test_every_request_of_an_import_says_import(
    tmp_path: Path, fedora, proxy: RecordingProxy, proxied_target: TestContainer
) -> None:
    config = import_config(tmp_path / "jobs", rest_url=proxy.rest_url)
    proxy.clear()
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
    seen = proxy.taken()
    assert outcome.state == "import_complete", outcome.body
    items = proxied_target.items()
    assert len(items) == 2

    wrong = [(s.method, s.path, s.user_agent) for s in seen if s.user_agent != IMPORT_AGENT]
    assert not wrong, f"requests that do not say {IMPORT_AGENT}: {wrong}"
    assert not any("(attach)" in s.user_agent for s in seen)
    # what the events of each item carry: the begin of its transaction (Fedora 6), the
    # writes inside it (Fedora 4.7: the last of them), and its commit, all seen here
    begins = [s for s in seen if s.method == "POST" and s.path.endswith("/fcr:tx")]
    assert len(begins) >= len(items)
    for item in items:
        path = item.removeprefix(proxy.base)
        writes = [s for s in seen if s.method == "PUT" and s.path.endswith(path.split("/")[-1])]
        assert writes, f"no PUT of {item} was seen"
    commits = [
        s
        for s in seen
        if (s.method == "PUT" and "/fcr:tx/" in s.path) or s.path.endswith("/fcr:commit")
    ]
    assert len(commits) >= len(items)


# -- what Fedora 4.7 emits --------------------------------------------------------------------


@pytest.mark.parametrize("fedora", ["fcrepo47"], indirect=True)
async def test_fedora47_emits_one_import_event_per_item_at_its_commit(
    tmp_path: Path, fedora, proxy: RecordingProxy, proxied_target: TestContainer
) -> None:
    """Fedora's own record: the messages Fedora 4.7.5 emits for an import, read as UMD's
    routes.xml and solr.xml read them. Every resource the import made is announced saying
    `(import)`; the creations the Solrizer route adds are exactly one per item, the item
    itself (its pages, files and proxies are import events below a top-level resource,
    which Solr leaves to Solrizer); and each item's event comes after its transaction's
    commit was sent, when the item is whole."""
    config = import_config(tmp_path / "jobs", rest_url=proxy.rest_url)
    container = proxied_target.uri.removeprefix(proxy.rest_url)
    events = await trio.to_thread.run_sync(FedoraEvents)
    try:
        async with repository_client(config) as repository:
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
        await trio.sleep(1)  # the events of the last commit are sent together; let them all in
        mine = [e for e in events.events if e.get("identifier").startswith(container + "/")]
    finally:
        events.close()
    seen = proxy.taken()

    assert mine
    wrong = {(e.get("identifier"), e.get("userAgent")) for e in mine}
    wrong = {(path, agent) for path, agent in wrong if agent != IMPORT_AGENT}
    assert not wrong, f"events that do not say {IMPORT_AGENT}: {sorted(wrong)}"

    solr_adds = [e.get("identifier") for e in mine if indexed_as_an_item(e, container)]
    assert sorted(solr_adds) == sorted(items)

    for item in items:
        (put,) = [s for s in seen if s.method == "PUT" and s.path.endswith(item)]
        tx = put.path.removeprefix("/rest/").split("/", 1)[0]
        assert tx.startswith("tx:"), put.path
        (commit,) = [s for s in seen if s.path == f"/rest/{tx}/fcr:tx/fcr:commit"]
        (created,) = [e for e in events.about(item) if CREATION in e.get("eventType")]
        assert created.at > commit.at, f"{item} was announced before its commit"


CREATION = "http://fedora.info/definitions/v4/event#ResourceCreation"
PCDM_OBJECT = "http://pcdm.org/models#Object"


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
        CREATION in event.get("eventType")
        and "(import)" in event.get("userAgent")
        and PCDM_OBJECT in event.get("resourceType")
        and top_level is not None
    )

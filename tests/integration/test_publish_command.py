"""publish and unpublish through plastrond, against the real Fedora and ActiveMQ."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from rdflib import Graph, URIRef
from rdflib.namespace import RDF

from plastrond.config import CommandsConfig
from plastrond.repository import RepositoryClient
from tests.support.commands import in_process_config, run_in_process

pytestmark = pytest.mark.integration

PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
HIDDEN = URIRef("http://vocab.lib.umd.edu/access#Hidden")


@pytest.fixture
def running(activemq, fedora, plastrond_setup, archelon_factory):
    setup = plastrond_setup(
        activemq,
        repository=fedora.repository_keys,
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    return archelon_factory(activemq, setup.dests)


def _new_item(fedora) -> str:
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as client:
        answer = client.post(
            fedora.rest_url + "/",
            content=b'<> <http://purl.org/dc/terms/title> "to publish" .',
            headers={"Content-Type": "text/turtle"},
        )
        assert answer.status_code == 201
        return answer.headers["Location"]


def _types(fedora, uri: str) -> set[URIRef]:
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as client:
        answer = client.get(uri, headers={"Accept": "text/turtle"})
        answer.raise_for_status()
    graph = Graph().parse(data=answer.text, format="turtle")
    return set(graph.objects(URIRef(uri), RDF.type))


def test_publish_hidden_then_visible_then_unpublish(running, fedora):
    client = running
    first, second = _new_item(fedora), _new_item(fedora)
    client.send_job("pub-1", "publish", f"{first}\n\n{second}\n", hidden="true")
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.headers["PlastronJobState"] == "publish_complete", done.body
    body = json.loads(done.body)
    assert body["count"] == {"total": 2, "done": 2, "errors": 0}
    for uri in (first, second):
        assert {PUBLISHED, HIDDEN} <= _types(fedora, uri)

    client.send_job("pub-2", "publish", first, visible="true")
    client.wait_for("completions", 2, timeout=30)
    types = _types(fedora, first)
    assert PUBLISHED in types and HIDDEN not in types

    # Unpublishing removes Published only; Hidden goes only with visible (protocol.md).
    client.send_job("unpub-1", "unpublish", f"{first}\n{second}")
    done = client.wait_for("completions", 3, timeout=30)[-1]
    assert done.headers["PlastronJobState"] == "unpublish_complete"
    assert not {PUBLISHED, HIDDEN} & _types(fedora, first)
    assert _types(fedora, second) & {PUBLISHED, HIDDEN} == {HIDDEN}
    client.send_job("unpub-2", "unpublish", second, visible="true")
    done = client.wait_for("completions", 4, timeout=30)[-1]
    assert done.headers["PlastronJobState"] == "unpublish_complete"
    assert not {PUBLISHED, HIDDEN} & _types(fedora, second)
    progress = [json.loads(p.body) for p in client.wait_for("progress", 1)]
    assert all(isinstance(p["count"]["done"], int) for p in progress)
    results = [p["result"] for p in progress if "result" in p]
    assert results  # progress is coalesced: some name the resource just done
    assert all(r["uri"] in (first, second) and r["handle"] is None for r in results)


def test_missing_resource_makes_publish_incomplete(running, fedora):
    client = running
    good = _new_item(fedora)
    missing = fedora.rest_url + "/no-such-resource-for-publish"
    client.send_job("pub-partial", "publish", f"{good}\n{missing}\n")
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.headers["PlastronJobState"] == "publish_incomplete"
    assert "PlastronJobError" not in done.headers
    body = json.loads(done.body)
    assert body["count"] == {"total": 2, "done": 1, "errors": 1}
    assert "404" in body["errors"][missing]
    assert PUBLISHED in _types(fedora, good)


def test_bad_publish_requests(running):
    client = running
    client.send_job("pub-empty", "publish", "\n\n")
    client.send_job("pub-junk", "publish", "not a uri")
    client.send_job("pub-both", "publish", "http://x/y", hidden="true", visible="true")
    done = client.wait_for("completions", 3, timeout=30)
    errors = {f.headers["PlastronJobId"]: f.headers["PlastronJobError"] for f in done}
    assert "names no resources" in errors["pub-empty"]
    assert "line 1 of the message body is not a URI" in errors["pub-junk"]
    assert "contradict" in errors["pub-both"]


async def test_publish_progress_is_rounded_down(fedora, tmp_path):
    # The percent of every command is the items finished out of the total, rounded down
    # (plastrond.jobs.items): 2 of 3 is 66, as for the other commands, not 67.
    uris = [await trio.to_thread.run_sync(_new_item, fedora) for _ in range(3)]
    config = in_process_config(fedora.rest_url, CommandsConfig(), log_dir=tmp_path)
    async with RepositoryClient(config.repository) as repo:
        progress, result = await run_in_process(
            "publish", config, repo, "\n".join(uris).encode(), job_id="pub-percent", args={}
        )
    assert result.state == "publish_complete"
    assert [p["progress"] for p in progress] == [0, 33, 66, 100]
    assert [p["count"]["done"] for p in progress] == [0, 1, 2, 3]

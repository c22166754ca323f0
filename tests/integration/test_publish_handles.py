"""The STOMP publish command with a handle service (handles.md), against the real Fedoras,
ActiveMQ and UMD's handle service (umd-handle-django, services/handles.sh), sent as Archelon
sends it (with PlastronStatusURL); its edges (two handles for one resource, a recorded handle
whose suffix is not an integer) included."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from plastrond.repository._rdf import ntriples_into

pytestmark = pytest.mark.integration

PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
IDENTIFIER = URIRef("http://purl.org/dc/terms/identifier")
HANDLE = URIRef("http://vocab.lib.umd.edu/datatype#handle")
PATTERN = "https://digital.example/result/id/{uuid}"


@pytest.fixture
def container(fedora):
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as client:
        answer = client.put(f"{fedora.rest_url}/plastrond-test-handles-{uuid.uuid4()}")
        answer.raise_for_status()
        parent = answer.headers["Location"]
        yield client, parent
        client.delete(parent)
        client.delete(f"{parent}/fcr:tombstone")


def new_item(container) -> str:
    client, parent = container
    uri = f"{parent}/{uuid.uuid4()}"
    answer = client.put(
        uri,
        content=b'<> <http://purl.org/dc/terms/title> "A published letter" .',
        headers={"Content-Type": "text/turtle"},
    )
    answer.raise_for_status()
    return uri


def graph_of(container, uri: str) -> Graph:
    client, _ = container
    answer = client.get(uri, headers={"Accept": "application/n-triples"})
    answer.raise_for_status()
    return ntriples_into(Graph(), answer.text)


def handles_of(container, uri: str) -> list[str]:
    graph = graph_of(container, uri)
    return [
        str(o)
        for o in graph.objects(URIRef(uri), IDENTIFIER)
        if isinstance(o, Literal) and o.datatype == HANDLE
    ]


def minted_for(handle_service, repo_id: str) -> list[dict]:
    return handle_service.records(repo_id)


@pytest.fixture
def running(activemq, fedora, handle_service, plastrond_setup, archelon_factory):
    def start(**overrides: str):
        publication = {
            "HANDLE_ENDPOINT": handle_service.url,
            "HANDLE_JWT_TOKEN": handle_service.token,
            "HANDLE_PREFIX": "1903.1",
            "HANDLE_REPO": "fcrepo",
            "PUBLIC_URL_PATTERN": PATTERN,
            **overrides,
        }
        setup = plastrond_setup(
            activemq,
            repository=fedora.repository_keys,
            sections={"PUBLICATION_WORKFLOW": publication},
            PROGRESS_INTERVAL=0,
        )
        daemon = setup.plastrond()
        daemon.wait_connected()
        return daemon, archelon_factory(activemq, setup.dests)

    return start


FINAL = ("publish_complete", "publish_incomplete", "publish_error")


def finished(client, job_id: str, timeout: float = 90):
    """The completion of *job_id*, and the `result`s of every message about it (progress may
    come on JOB_PROGRESS, or with PlastronStatusURL on JOB_STATUS too)."""
    import time

    deadline = time.monotonic() + timeout
    with client.lock:
        while True:
            frames = [
                f
                for f in [*client.completions, *client.progress]
                if f.headers.get("PlastronJobId") == job_id
            ]
            done = [f for f in frames if f.headers.get("PlastronJobState") in FINAL]
            if done:
                break
            left = deadline - time.monotonic()
            assert left > 0, f"no completion of {job_id} after {timeout} s"
            client.lock.wait(left)
    results = []
    for frame in frames:
        try:
            body = json.loads(frame.body)
        except ValueError:
            continue
        if isinstance(body, dict) and "result" in body:
            results.append(body["result"])
    return done[0], results


def send_publish(client, job_id: str, body: str) -> None:
    """As Archelon's PublishJob does: the URIs one per line, with PlastronStatusURL."""
    client.conn.send(
        client.dests.jobs,
        body=body,
        headers={
            "persistent": "true",
            "PlastronJobId": job_id,
            "PlastronCommand": "publish",
            "PlastronStatusURL": f"http://archelon.example/publish_jobs/{job_id}/status",
        },
    )


def test_publish_job_mints_once_and_names_each_handle(running, container, handle_service):
    _daemon, client = running()
    first, second = new_item(container), new_item(container)
    send_publish(client, "pub-h-1", f"{first}\n{second}\n")
    done, results = finished(client, "pub-h-1")
    assert done.headers["PlastronJobState"] == "publish_complete", done.body
    handles = {}
    for uri in (first, second):
        (record,) = minted_for(handle_service, uri)
        handles[uri] = f"hdl:1903.1/{record['suffix']}"
        assert record["url"] == "https://digital.example/result/id/" + uri.rsplit("/", 1)[1]
        assert handles_of(container, uri) == [handles[uri]]
        assert PUBLISHED in set(graph_of(container, uri).objects(URIRef(uri), RDF.type))
    assert handles[first] != handles[second]
    assert json.loads(done.body)["handles"] == handles
    # Progress is coalesced: the results it names are right, the last one at least is there.
    expected = [{"uri": uri, "handle": handles[uri], "status": "published"} for uri in handles]
    assert results and all(r in expected for r in results)

    # Again: nothing minted, nothing changed.
    send_publish(client, "pub-h-2", first)
    done, results = finished(client, "pub-h-2")
    assert json.loads(done.body)["handles"] == {first: handles[first]}
    assert done.headers["PlastronJobState"] == "publish_complete", done.body
    assert len(minted_for(handle_service, first)) == 1
    assert handles_of(container, first) == [handles[first]]


def test_handle_service_down_leaves_items_unpublished(running, container, handle_service):
    daemon, client = running(HANDLE_ENDPOINT="http://127.0.0.1:9/api/v1", HANDLE_TIMEOUT="5")
    uri = new_item(container)
    send_publish(client, "pub-h-down", uri)
    done, _ = finished(client, "pub-h-down")
    assert done.headers["PlastronJobState"] == "publish_incomplete", done.body
    body = json.loads(done.body)
    assert body["count"] == {"total": 1, "done": 0, "errors": 1}
    assert "handle service" in body["errors"][uri]
    assert PUBLISHED not in set(graph_of(container, uri).objects(URIRef(uri), RDF.type))
    assert handles_of(container, uri) == []
    # the token is a secret: not in what plastrond sends back nor in its log
    assert handle_service.token not in done.body
    assert "publish failed for" in daemon.log()
    assert handle_service.token not in daemon.log()


def test_the_services_edges_fail_one_resource_each_in_one_line(running, container, handle_service):
    # Two handles for one resource (another client minted twice): the service's exists answers
    # an HTML 500. A recorded handle whose suffix is not an integer: its info would answer an
    # HTML 500 (suffixes are integers). Each fails its own resource in one line, asked once
    # at most, nothing written on it, nothing minted; the others are published.
    _daemon, client = running()
    doubled, odd, fine = new_item(container), new_item(container), new_item(container)
    handle_service.mint(doubled, "https://digital.example/one")
    handle_service.mint(doubled, "https://digital.example/two")
    client_http, _ = container
    client_http.patch(
        odd,
        content=(f'INSERT DATA {{ <{odd}> <{IDENTIFIER}> "hdl:1903.1/abc"^^<{HANDLE}> }}').encode(),
        headers={"Content-Type": "application/sparql-update"},
    ).raise_for_status()
    exists_500 = handle_service.errors_answered("/api/v1/handles/exists")
    info_500 = handle_service.errors_answered("/api/v1/handles/info")

    send_publish(client, "pub-h-edges", f"{doubled}\n{odd}\n{fine}\n")
    done, _ = finished(client, "pub-h-edges")
    assert done.headers["PlastronJobState"] == "publish_incomplete", done.body
    body = json.loads(done.body)
    assert body["count"] == {"total": 3, "done": 1, "errors": 2}
    assert body["uris"] == [fine]
    assert set(body["errors"]) == {doubled, odd}
    for reason in body["errors"].values():
        assert "\n" not in reason and "<" not in reason, reason
    assert body["errors"][doubled] == (
        f"handle service: GET /handles/exists?repo=fcrepo&repo_id={doubled}: "
        "500 Internal Server Error: Server Error (500) (umd-handle-django answers 500 here "
        "when it holds two or more handles for this repo_id: keep one of them (its admin "
        "pages) and publish again)"
    )
    assert body["errors"][odd] == (
        "handle hdl:1903.1/abc is not registered (the service's suffixes are integers)"
    )
    # asked once, not again and again; the odd suffix not at all
    assert handle_service.errors_answered("/api/v1/handles/exists") == exists_500 + 1
    assert handle_service.errors_answered("/api/v1/handles/info") == info_500
    # nothing half-published
    for uri, handles in ((doubled, []), (odd, ["hdl:1903.1/abc"])):
        assert PUBLISHED not in set(graph_of(container, uri).objects(URIRef(uri), RDF.type))
        assert handles_of(container, uri) == handles
    assert len(minted_for(handle_service, doubled)) == 2
    assert minted_for(handle_service, odd) == []
    (record,) = minted_for(handle_service, fine)
    assert handles_of(container, fine) == [f"hdl:1903.1/{record['suffix']}"]
    assert PUBLISHED in set(graph_of(container, fine).objects(URIRef(fine), RDF.type))

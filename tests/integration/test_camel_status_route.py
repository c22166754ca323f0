"""The Camel status route (services/camel.sh) in front of the Archelon status endpoint double:
what the route passes on, what it drops, and what the double refuses. plastrond is not
involved here; test_status_url.py runs plastrond through the same route."""

from __future__ import annotations

import json
import os
import time

import pytest
import stomp

from tests.support.archelon_status import check_update

pytestmark = pytest.mark.integration


def _send(route, body: str, headers: dict[str, str]) -> None:
    conn = stomp.Connection12([(route.stomp_host, route.stomp_port)], heartbeats=(0, 0))
    conn.connect(wait=True)
    try:
        conn.send(route.status_destination, body=body, headers={"persistent": "true", **headers})
    finally:
        conn.disconnect()


def test_route_posts_only_messages_with_a_status_url(camel_route, archelon_status):
    url = archelon_status.url("import", 7)
    body = {"type": "import_complete", "state": "import_complete", "progress": 100}
    _send(camel_route, "{}", {"PlastronJobId": "no-url"})
    _send(camel_route, json.dumps(body), {"PlastronJobId": "j7", "PlastronStatusURL": url})
    (post,) = archelon_status.wait_for_state(url, "import_complete", timeout=60)
    assert post.body == body
    assert post.headers["Content-Type"] == "application/json"
    # The route copies the message's headers onto the POST, as the real one does.
    assert post.headers["PlastronJobId"] == "j7"
    time.sleep(1)
    assert len(archelon_status.accepted) == 1 and not archelon_status.rejected


def test_a_state_archelon_does_not_know_is_refused_and_lost(camel_route, archelon_status):
    url = archelon_status.url("publish", 3)
    bad = {"type": "Error", "state": "Error", "progress": 0, "error": "boom"}
    received: list[stomp.utils.Frame] = []
    conn = stomp.Connection12([(camel_route.stomp_host, camel_route.stomp_port)], heartbeats=(0, 0))

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame: stomp.utils.Frame) -> None:
            received.append(frame)

    conn.set_listener("errors", Listener())
    conn.connect(wait=True)
    conn.subscribe(camel_route.errors_destination, id="errors", ack="auto")
    try:
        _send(camel_route, json.dumps(bad), {"PlastronJobId": "p3", "PlastronStatusURL": url})
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        conn.disconnect()
    assert received, "the failed POST did not reach the errors queue"
    assert json.loads(received[0].body) == bad
    assert "422" in received[0].headers.get("ExceptionMessage", "")
    assert archelon_status.posts(url) == []
    (refused,) = archelon_status.rejected
    assert refused.reason == "'Error' is not a valid state of a publish job"


def test_the_enums_per_kind_of_job():
    assert check_update("import", b'{"state": "validate_success", "progress": 100}')[1] is None
    assert check_update("export", b'{"state": "in_progress", "progress": 40}')[1] is None
    assert check_update("publish", b'{"state": "unpublish_complete", "progress": 100}')[1] is None
    assert (
        "not a valid state" in check_update("import", b'{"state": "in_progress", "progress": 1}')[1]
    )
    assert "not a valid state" in check_update("export", b'{"state": "Error", "progress": 0}')[1]
    assert "progress" in check_update("export", b'{"state": "pending"}')[1]
    assert "progress" in check_update("export", b'{"state": "pending", "progress": 101}')[1]
    assert "not JSON" in check_update("import", b"hello")[1]


def test_the_route_script_reuses_the_running_route(camel_route):
    # services/camel.sh keeps the service contract (test_service_scripts.py for the others):
    # start on a running route only says where, the same process stays; status and pid say so.
    pid = int(camel_route.script("camel", "pid"))
    os.kill(pid, 0)
    queue = camel_route.status_destination.removeprefix("/queue/")
    where = f"camel tcp://127.0.0.1:{camel_route.openwire_port} queue://{queue}"
    assert camel_route.script("camel", "start") == where
    assert int(camel_route.script("camel", "pid")) == pid
    assert camel_route.script("camel", "status") == f"up {where}"

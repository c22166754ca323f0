"""The second round of hostile input against the stomp mode, through the real ActiveMQ: a
user name that cannot be a header, and URIs that only look like the repository's."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", ["publish", "update", "export"])
def test_an_unusable_on_behalf_of_is_a_one_line_argument_error(running, command) -> None:
    _setup, daemon, client = running
    job_id = f"obo-{uuid.uuid4().hex[:8]}"
    root = "http://127.0.0.1:8080/fcrepo/rest"
    body = {"publish": root, "update": "", "export": root}[command]
    args = {"on_behalf_of": "bob\nX-Injected: 1"}
    if command == "export":
        args["output_dest"] = "/nowhere/x.zip"
    client.send_job(job_id, command, body, **args)
    (done,) = client.wait_for("completions", 1, timeout=30)
    error = done.headers["PlastronJobError"]
    assert "on-behalf-of" in error, error
    assert "internal error" not in error, error
    assert "\n" not in error
    assert daemon.running


def test_publish_refuses_uris_with_a_query_fragment_or_dot_segments(running) -> None:
    _setup, daemon, client = running
    missing = f"http://127.0.0.1:8080/fcrepo/rest/audit-missing-{uuid.uuid4().hex[:8]}"
    uris = [f"{missing}?x", f"{missing}#x", f"{missing}/../..", f"{missing}/%2e%2e/x"]
    client.send_job(f"pub-{uuid.uuid4().hex[:8]}", "publish", "\n".join(uris))
    (done,) = client.wait_for("completions", 1, timeout=30)
    body = json.loads(done.body)
    text = json.dumps(body)
    for uri in uris:
        assert uri in text, text
    assert text.count("not a resource of this repository") == len(uris), text
    assert daemon.running

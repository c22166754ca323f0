"""The session fixtures bring up the real services, and they answer as plastrond needs."""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid

import httpx
import pytest
import stomp

pytestmark = pytest.mark.integration


class _Collector(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.messages: list[stomp.utils.Frame] = []
        self.got_message = threading.Event()
        self.headers: dict[str, str] = {}

    def on_connected(self, frame: stomp.utils.Frame) -> None:
        self.headers = dict(frame.headers)
        self.connected.set()

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.messages.append(frame)
        self.got_message.set()


def test_activemq_connect_round_trip_with_stomp_py(activemq):
    conn = stomp.Connection12([(activemq.host, activemq.port)], heartbeats=(0, 0))
    listener = _Collector()
    conn.set_listener("collector", listener)
    conn.connect(wait=True, headers={"client-id": f"plastrond-test-{uuid.uuid4()}"})
    try:
        assert listener.connected.wait(10), "no CONNECTED frame from ActiveMQ"
        assert listener.headers.get("version") == "1.2"
        assert "ActiveMQ" in listener.headers.get("server", "")
        # The connector carries messages too: a queue round trip through the broker.
        queue = f"/queue/plastrond.test.{uuid.uuid4()}"
        conn.subscribe(queue, id="1", ack="auto")
        conn.send(queue, body="hello, broker", headers={"PlastronJobId": "test-1"})
        assert listener.got_message.wait(10), "message not delivered back"
        (message,) = listener.messages
        assert message.body == "hello, broker"
        assert message.headers["PlastronJobId"] == "test-1"
    finally:
        conn.disconnect()


def test_activemq_raw_connect_frame(activemq):
    # The connector speaks plain STOMP on loopback: a hand-written CONNECT gets CONNECTED.
    with socket.create_connection((activemq.host, activemq.port), timeout=10) as sock:
        sock.sendall(b"CONNECT\naccept-version:1.1,1.2\nhost:localhost\n\n\x00")
        reply = b""
        while b"\x00" not in reply:
            chunk = sock.recv(4096)
            assert chunk, "broker closed the connection"
            reply += chunk
        assert reply.startswith(b"CONNECTED\n")
        assert b"version:1.2" in reply


def test_fedora_create_then_read_container(fedora):
    slug = f"plastrond-test-{uuid.uuid4()}"
    title = f"A container made by the fixture test {slug}"
    turtle = f'<> <http://purl.org/dc/terms/title> "{title}"@en .'
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as client:
        created = client.post(
            fedora.rest_url + "/",
            content=turtle.encode(),
            headers={"Content-Type": "text/turtle", "Slug": slug},
        )
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        assert location.startswith(fedora.rest_url + "/")
        assert location.endswith(slug)

        read = client.get(location, headers={"Accept": "application/n-triples"})
        assert read.status_code == 200
        assert f'<http://purl.org/dc/terms/title> "{title}"@en' in read.text
        # An LDP container, as HEAD reports through its type links.
        head = client.head(location)
        assert 'http://www.w3.org/ns/ldp#BasicContainer>;rel="type"' in head.headers.get(
            "Link", ""
        ).replace(" ", "")


def test_fedora_rejects_wrong_password(fedora):
    with httpx.Client(timeout=30) as client:
        answer = client.get(fedora.rest_url + "/", auth=(fedora.admin_user, "wrong password"))
        assert answer.status_code == 401


def test_fedora_honours_on_behalf_of(fedora):
    # The admin account may delegate: a write on behalf of a user is made as that user.
    # The user has no rights in the default ACL, so Fedora refuses it; without the header the
    # same request succeeds.
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as client:
        headers = {"Content-Type": "text/turtle"}
        as_admin = client.post(fedora.rest_url + "/", content=b"", headers=headers)
        assert as_admin.status_code == 201
        delegated = client.post(
            fedora.rest_url + "/",
            content=b"",
            headers={**headers, "On-Behalf-Of": f"nobody-{uuid.uuid4().hex[:8]}"},
        )
        assert delegated.status_code == 403


def test_sshd_serves_sftp_with_the_test_key(sshd, tmp_path):
    local = tmp_path / "upload.txt"
    local.write_text("over sftp\n")
    remote = tmp_path / "remote.txt"
    batch = f"put {local} {remote}\nls -l {remote}\n"
    result = subprocess.run(
        [
            "sftp",
            "-b",
            "-",
            "-i",
            str(sshd.private_key),
            "-P",
            str(sshd.port),
            "-o",
            f"UserKnownHostsFile={sshd.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            f"{sshd.user}@{sshd.host}",
        ],
        input=batch,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert remote.read_text() == "over sftp\n"


def test_sshd_refuses_an_unknown_key(sshd, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    result = subprocess.run(
        [
            "sftp",
            "-b",
            "-",
            "-i",
            str(stranger),
            "-P",
            str(sshd.port),
            "-o",
            f"UserKnownHostsFile={sshd.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"{sshd.user}@{sshd.host}",
        ],
        input="pwd\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Permission denied" in result.stderr

"""The admin listener (served for real on a loopback port), what /health says, the ADMIN and
LOG_FORMAT keys, and the labels of the metrics."""

from __future__ import annotations

import errno
import socket
import textwrap
from pathlib import Path

import httpx
import pytest
import trio

from plastrond import metrics
from plastrond.admin import AdminListener
from plastrond.config import AdminConfig, ConfigError, load_config
from plastrond.health import Health

BASE = """\
REPOSITORY:
  REST_ENDPOINT: http://repository:8080/fcrepo/rest
  RELPATH: /pcdm
  LOG_DIR: /var/log/plastron
"""


async def get(url: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, timeout=5)


async def test_health_answers_what_the_daemon_reports(tmp_path):
    health = Health(tmp_path)
    admin = AdminListener(AdminConfig(host="127.0.0.1", port=0), health)
    async with trio.open_nursery() as nursery:
        await nursery.start(admin.serve)
        url = admin.url

        response = await get(f"{url}/health")
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "problems": ["not connected to the broker yet"],
        }

        health.session_opened("broker:61613")
        response = await get(f"{url}/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok" and body["broker"] == "broker:61613"
        assert body["session_uptime"] >= 0

        health.store_failed(OSError(errno.ENOSPC, "No space left on device", "/msg/journal.log"))
        health.session_lost("broker:61613 silent for over 20 s (heart-beats missed)")
        response = await get(f"{url}/health")
        assert response.status_code == 503
        assert response.json()["problems"] == [
            "no broker session: broker:61613 silent for over 20 s (heart-beats missed)",
            "message store write failed: No space left on device (/msg/journal.log)",
        ]
        health.session_opened("broker:61613")
        health.store_written()
        assert (await get(f"{url}/health")).status_code == 200
        head = await get(f"{url}/health", "HEAD")
        assert head.status_code == 200 and head.content == b""

        response = await get(f"{url}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        assert "# TYPE plastrond_jobs_accepted_total counter" in response.text
        assert 'plastrond_jobs_running{kind="async"}' in response.text

        missing = await get(f"{url}/jobs")
        assert missing.status_code == 404 and missing.json()["detail"] == "nothing at /jobs"
        post = await get(f"{url}/health", "POST")
        assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
        nursery.cancel_scope.cancel()


def test_a_port_in_use_is_a_configuration_error_naming_the_section():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            AdminListener(AdminConfig(host="127.0.0.1", port=port), Health(), where="x.yml: ADMIN")
    assert str(caught.value) == (
        f"x.yml: ADMIN: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_a_store_without_room_or_rights_is_unhealthy(tmp_path):
    health = Health(tmp_path, min_free_bytes=1 << 62)
    health.session_opened("b:1")
    (problem,) = health.problems()
    assert problem.startswith(f"message store {tmp_path} is full (") and "bytes free" in problem
    gone = Health(tmp_path / "missing")
    gone.session_opened("b:1")
    assert gone.problems() == [
        f"message store {tmp_path / 'missing'} cannot be examined: No such file or directory"
    ]
    healthy = Health(tmp_path)
    healthy.session_opened("b:1")
    assert healthy.problems() == []
    healthy.stopping = True
    assert healthy.problems() == ["stopping"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plastrond.yml"
    path.write_text(BASE + textwrap.dedent(text))
    return path


def test_admin_is_off_unless_configured(tmp_path):
    assert load_config(write(tmp_path, ""), environ={}).admin is None
    config = load_config(write(tmp_path, "ADMIN:\n  HOST: 0.0.0.0\n  PORT: 9180\n"), environ={})
    assert config.admin == AdminConfig(host="0.0.0.0", port=9180)
    assert config.warnings == ()
    defaults = load_config(write(tmp_path, "ADMIN: {}\n"), environ={})
    assert defaults.admin == AdminConfig(host="127.0.0.1", port=9180)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ADMIN:\n  PORT: 70000\n", "ADMIN.PORT: expected a TCP port, got 70000"),
        ("ADMIN:\n  PORT: web\n", "ADMIN.PORT: expected an integer, got 'web'"),
        ("ADMIN: [1]\n", "ADMIN: expected a mapping of keys, got a list"),
    ],
)
def test_bad_admin_sections_are_one_line(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(write(tmp_path, text), environ={})
    assert str(caught.value).endswith(expected)


def test_log_format_key(tmp_path):
    assert load_config(write(tmp_path, ""), environ={}).repository.log_format == "text"
    path = tmp_path / "json.yml"
    path.write_text(BASE + "  LOG_FORMAT: JSON\n")
    assert load_config(path, environ={}).repository.log_format == "json"
    path.write_text(BASE + "  LOG_FORMAT: xml\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).endswith("REPOSITORY.LOG_FORMAT: expected text or json, got 'xml'")


def test_command_labels_are_a_fixed_set():
    known = ["echo", "import"]
    assert metrics.command_label("Echo ", known) == "echo"
    assert metrics.command_label("import", known) == "import"
    assert metrics.command_label("frob-s3cr3t", known) == "other"
    assert metrics.command_label(None, known) == "none"
    assert metrics.command_label("", known) == "none"


def test_handle_calls_are_counted_with_their_outcome():
    from prometheus_client import REGISTRY

    def count(operation: str, outcome: str) -> float:
        labels = {"operation": operation, "outcome": outcome}
        return REGISTRY.get_sample_value("plastrond_handle_requests_total", labels) or 0.0

    before_ok, before_error = count("mint", "201"), count("info", "error")
    with metrics.handle_call("mint") as call:
        call.outcome = "201"
    with pytest.raises(TimeoutError), metrics.handle_call("info"):
        raise TimeoutError("no answer")
    assert count("mint", "201") == before_ok + 1
    assert count("info", "error") == before_error + 1
    timed = REGISTRY.get_sample_value(
        "plastrond_handle_request_duration_seconds_count", {"operation": "mint"}
    )
    assert timed is not None and timed >= 1


@pytest.mark.parametrize("module", ["metrics", "health"])
def test_metrics_and_health_import_nothing_of_plastrond(module):
    import ast

    path = Path(__file__).resolve().parents[2] / "src" / "plastrond" / f"{module}.py"
    tree = ast.parse(path.read_text())
    imported = [
        node.module or "" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    levels = [n.level for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert all(level == 0 for level in levels)
    assert not any(name.startswith("plastrond") for name in imported)

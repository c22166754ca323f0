"""Running plastrond in production: the admin listener's /health and /metrics, a real
Prometheus scraping both modes, JSON logs, and the repository client's request metrics.

The freeze test uses a private ActiveMQ (`private_broker`), never the shared one; the full-store
test puts the message store on a small tmpfs of its own (the tests run as root).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.tmpfs import fill, tmpfs

pytestmark = pytest.mark.integration

REPO_DIR = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO_DIR / "services"
ADMIN = {"ADMIN": {"HOST": "127.0.0.1", "PORT": 0}}
_SERVING = re.compile(r"serving import jobs from .* on (http://[0-9.]+:\d+)")


def _wait_until(check: Callable[[], Any], timeout: float, what: str, pause: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout} s")
        time.sleep(pause)


def health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(f"{url}/health", timeout=5)
    except httpx.TransportError as e:
        return 0, {"error": str(e)}
    return response.status_code, response.json()


# --- /health follows the broker session ---------------------------------------------------


def test_health_turns_503_when_the_broker_freezes_and_200_when_it_thaws(
    private_broker, plastrond_setup, archelon_factory
):
    interval = 1.0
    setup = plastrond_setup(
        private_broker.endpoint,
        sections=ADMIN,
        HEARTBEAT_SEND_MS=int(interval * 1000),
        HEARTBEAT_RECEIVE_MS=int(interval * 1000),
        CONNECT_TIMEOUT=60,
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    url = daemon.admin_url()
    _wait_until(lambda: health(url)[0] == 200, 10, "healthy daemon")
    status, body = health(url)
    assert body["status"] == "ok"
    assert body["broker"] == f"127.0.0.1:{private_broker.endpoint.port}"

    private_broker.freeze()
    try:
        frozen = time.monotonic()
        _wait_until(lambda: health(url)[0] == 503, 30, "503 from /health", pause=0.02)
        noticed = time.monotonic() - frozen
        status, body = health(url)
        assert status == 503 and body["status"] == "unavailable"
        assert any("no broker session" in p for p in body["problems"]), body
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert "plastrond_broker_connected 0.0" in metrics
        assert "plastrond_broker_heartbeat_misses_total 1.0" in metrics
    finally:
        private_broker.thaw()
    print(f"503 after {noticed:.2f} s")
    # Within two heart-beat intervals of the freeze (and the probe's own 20 ms of polling).
    assert noticed <= 2 * interval + 0.1, noticed

    _wait_until(lambda: health(url)[0] == 200, 60, "200 after the thaw")
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert "plastrond_broker_connected 1.0" in metrics
    assert "plastrond_broker_reconnects_total 1.0" in metrics
    client = archelon_factory(private_broker.endpoint, setup.dests)
    client.send_job("after-thaw", "echo", "awake")
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.body == "awake"


# --- a full message store -------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own (unmounted after the test, once plastrond has stopped)."""
    with tmpfs(tmp_path / "smallfs", "4m") as mount:
        yield mount


def test_a_full_store_makes_health_503_with_that_reason_and_loses_nothing(
    small_fs, plastrond_setup, archelon_factory, activemq
):
    store = small_fs / "msg"
    setup = plastrond_setup(activemq, sections=ADMIN, MESSAGE_STORE_DIR=str(store))
    daemon = setup.plastrond()
    daemon.wait_connected()
    url = daemon.admin_url()
    _wait_until(lambda: health(url)[0] == 200, 10, "healthy daemon")

    filler = fill(small_fs)
    status, body = health(url)
    assert status == 503
    assert body["problems"] == [f"message store {store} is full (0 bytes free)"], body

    # A job that arrives now cannot be kept: it stays with the broker, unacknowledged.
    client = archelon_factory(activemq, setup.dests)
    client.send_job("while-full", "echo", "kept")
    _wait_until(lambda: "message store write failed" in daemon.log(), 30, "failed write")
    status, body = health(url)
    assert status == 503
    assert any("No space left on device" in p for p in body["problems"]), body
    assert client.completions == []

    filler.unlink()
    # Once there is room, the broker's redelivery is kept and run; health is back.
    (done,) = client.wait_for("completions", 1, timeout=60)
    assert done.headers["PlastronJobId"] == "while-full" and done.body == "kept"
    _wait_until(lambda: health(url)[0] == 200, 10, "200 after room was made")
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    errors = re.search(r"^plastrond_message_store_write_errors_total (\S+)$", metrics, re.M)
    assert errors is not None and float(errors.group(1)) >= 1


# --- JSON logs ------------------------------------------------------------------------------


def test_json_log_lines_parse_carry_the_job_id_and_no_secret(
    plastrond_setup, archelon_factory, activemq, monkeypatch
):
    password = f"pw-{uuid.uuid4().hex}"
    passcode = f"pc-{uuid.uuid4().hex}"
    setup = plastrond_setup(
        activemq,
        repository={"FEDORA_USER": "fedoraAdmin", "FEDORA_PASSWORD": password},
        LOGIN="archelon",
        PASSCODE=passcode,
    )
    monkeypatch.setenv("LOG_FORMAT", "json")
    daemon = setup.plastrond()
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    client.send_job("json-ok", "echo", "hello")
    # A secret in a job id and in a command name reaches log lines, and must not show.
    client.send_job(f"json-{passcode}", "echo", "hello")
    client.send_job("json-bad", f"frob-{password}")
    client.wait_for("completions", 3, timeout=30)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0

    console = daemon.log()
    (log_file,) = (setup.tmp / "logs").glob("plastrond.stomp.*.log")
    for text in (console, log_file.read_text()):
        assert password not in text and passcode not in text
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert entries and all(
            {"time", "level", "logger", "message"} <= set(entry) for entry in entries
        )
        assert all(
            re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]) for e in entries
        )
        ok = [e for e in entries if e.get("job_id") == "json-ok"]
        assert any(e["message"] == "accepted echo job" for e in ok), ok
        done = next(e for e in ok if e["message"].startswith("job done"))
        assert done["command"] == "echo" and done["state"] == "Done"
        assert isinstance(done["seconds"], float)
        assert any(e.get("job_id") == "json-***" for e in entries)
        failed = [e for e in entries if e.get("job_id") == "json-bad" and e["level"] == "WARNING"]
        assert any("unknown command 'frob-***'" in e["message"] for e in failed), failed


# --- a real Prometheus scrapes both modes -----------------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    result = subprocess.run(
        ["bash", str(SERVICES_DIR / "prometheus.sh"), "start"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    return {"url": lines[0], "targets": Path(lines[1].removeprefix("targets="))}


def query(prometheus: dict[str, Any], expr: str) -> float | None:
    response = httpx.get(f"{prometheus['url']}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    data = response.json()["data"]["result"]
    return float(data[0]["value"][1]) if data else None


class HttpMode:
    """plastrond http as a real child process."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "jobs").mkdir()
        config = tmp / "http.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "REPOSITORY": {
                        "REST_ENDPOINT": "http://127.0.0.1:9/fcrepo/rest",
                        "RELPATH": "/pcdm",
                        "LOG_DIR": str(tmp / "http-logs"),
                    },
                    "COMMANDS": {"IMPORT": {"JOBS_DIR": str(tmp / "jobs")}},
                    "HTTP_SERVER": {"HOST": "127.0.0.1", "PORT": 0},
                }
            )
        )
        self.out = tmp / "http.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "plastrond", "-c", str(config), "http"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_DIR,
            )

    def url(self) -> str:
        def found() -> str | None:
            assert self.proc.poll() is None, self.out.read_text()
            match = _SERVING.search(self.out.read_text())
            return match.group(1) if match else None

        return str(_wait_until(found, 30, "http mode"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def promtool_check(exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prometheus_scrapes_both_modes_and_has_the_job_counters(
    prometheus, plastrond_setup, archelon_factory, activemq, tmp_path
):
    tag = uuid.uuid4().hex[:10]
    setup = plastrond_setup(activemq, sections=ADMIN)
    daemon = setup.plastrond()
    daemon.wait_connected()
    stomp_url = daemon.admin_url()
    http = HttpMode(tmp_path)
    targets = prometheus["targets"] / f"test-{tag}.json"
    try:
        http_url = http.url()
        targets.write_text(
            json.dumps(
                [
                    {"targets": [stomp_url.removeprefix("http://")], "labels": {"test": tag}},
                    {"targets": [http_url.removeprefix("http://")], "labels": {"test": tag}},
                ]
            )
        )
        client = archelon_factory(activemq, setup.dests)
        burst = 40
        for n in range(burst):
            client.send_job(f"burst-{tag}-{n}", "echo", f"body {n}")
        client.send_job(f"burst-{tag}-bad", "frobnicate")
        client.send_job(f"burst-{tag}-sync", "echo", "now", synchronous=True)
        client.wait_for("completions", burst + 1, timeout=60)
        client.wait_for("replies", 1, timeout=30)
        for _ in range(3):
            assert httpx.get(f"{http_url}/jobs", timeout=5).status_code == 200
        assert httpx.get(f"{http_url}/jobs/nope", timeout=5).status_code == 404

        sel = f'test="{tag}"'
        expectations = {
            f'sum(plastrond_jobs_completed_total{{{sel},command="echo"}})': burst + 1,
            f'sum(plastrond_jobs_failed_total{{{sel},command="other",state="error"}})': 1,
            f'sum(plastrond_jobs_accepted_total{{{sel},command="echo",kind="async"}})': burst,
            f'sum(plastrond_jobs_accepted_total{{{sel},kind="sync"}})': 1,
            f'sum(plastrond_job_duration_seconds_count{{{sel},command="echo"}})': burst + 1,
            f"sum(plastrond_inbox_depth{{{sel}}})": 0,
            f"sum(plastrond_outbox_depth{{{sel}}})": 0,
            f"sum(plastrond_broker_connected{{{sel}}})": 1,
            f'sum(plastrond_http_requests_total{{{sel},route="/jobs",status="200"}})': 3,
            f'sum(plastrond_http_requests_total{{{sel},route="/jobs/<path:job_id>",'
            'status="404"})': 1,
            f"count(up{{{sel}}} == 1)": 2,
        }

        def all_seen() -> bool:
            return all(query(prometheus, e) == want for e, want in expectations.items())

        try:
            _wait_until(all_seen, 60, "the counters in Prometheus", pause=0.5)
        except AssertionError:
            seen = {e: query(prometheus, e) for e in expectations}
            raise AssertionError(f"Prometheus has {seen}") from None

        for url in (stomp_url, http_url):
            exposition = httpx.get(f"{url}/metrics", timeout=5)
            assert exposition.headers["content-type"].startswith("text/plain; version=")
            checked = promtool_check(exposition.text)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert checked.stdout == checked.stderr == ""
        # The admin listener ends with the daemon, which still stops cleanly.
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        assert health(stomp_url)[0] == 0
    finally:
        targets.unlink(missing_ok=True)
        http.stop()


# --- the repository client counts its requests ------------------------------------------------


async def test_repository_requests_are_counted_by_method_and_status(fedora):
    from prometheus_client import REGISTRY

    from plastrond.config import RepositoryConfig
    from plastrond.repository import RepositoryClient

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    config = RepositoryConfig(
        rest_endpoint=fedora.rest_url,
        relpath="/pcdm",
        log_dir=Path(os.devnull),
        fedora_user=fedora.admin_user,
        fedora_password=fedora.admin_password,
    )
    before_200 = sample("plastrond_repository_requests_total", method="HEAD", status="200")
    before_404 = sample("plastrond_repository_requests_total", method="HEAD", status="404")
    timed = sample("plastrond_repository_request_duration_seconds_count", method="HEAD")
    client = RepositoryClient(config)
    try:
        assert await client.exists(fedora.rest_url)
        assert not await client.exists(f"{fedora.rest_url}/no-such-{uuid.uuid4().hex}")
    finally:
        await client.aclose()
    assert sample("plastrond_repository_requests_total", method="HEAD", status="200") == (
        before_200 + 1
    )
    assert sample("plastrond_repository_requests_total", method="HEAD", status="404") == (
        before_404 + 1
    )
    assert sample("plastrond_repository_request_duration_seconds_count", method="HEAD") == (
        timed + 2
    )


# --- the Swarm stack's health checks, run against real daemons ---------------------------------


def test_the_compose_health_checks_pass_on_healthy_daemons_and_fail_otherwise(
    plastrond_setup, activemq, tmp_path
):
    stack = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    checks = {name: s["healthcheck"]["test"] for name, s in stack["services"].items()}

    def run_check(name: str, url: str) -> int:
        # The command of the stack, aimed at this test's port instead of the container's.
        command = re.sub(r"http://127\.0\.0\.1:\d+", url, checks[name][3])
        result = subprocess.run(
            [sys.executable, "-c", command], capture_output=True, timeout=30, check=False
        )
        return result.returncode

    # A stomp daemon whose broker does not answer is unhealthy; one that is connected is not.
    unreachable = plastrond_setup(activemq, sections=ADMIN, SERVER="127.0.0.1:9")
    lonely = unreachable.plastrond("lonely")
    lonely_url = lonely.admin_url()
    _wait_until(lambda: "cannot connect to 127.0.0.1:9" in lonely.log(), 30, "failed attempt")
    assert run_check("plastrond-stomp", lonely_url) != 0

    setup = plastrond_setup(activemq, sections=ADMIN)
    daemon = setup.plastrond(own_store=True)
    daemon.wait_connected()
    url = daemon.admin_url()
    _wait_until(lambda: health(url)[0] == 200, 10, "healthy daemon")
    assert run_check("plastrond-stomp", url) == 0

    http = HttpMode(tmp_path)
    try:
        http_url = http.url()
        assert run_check("plastrond-http", http_url) == 0
    finally:
        http.stop()
    assert run_check("plastrond-http", http_url) != 0


# --- the handle service client counts its calls ------------------------------------------------


async def test_handle_service_calls_are_counted_by_operation_and_outcome(handle_service):
    from prometheus_client import REGISTRY

    from plastrond.config import PublicationConfig
    from plastrond.handles import HandleClient, HandleServiceError

    def count(operation: str, outcome: str) -> float:
        labels = {"operation": operation, "outcome": outcome}
        return REGISTRY.get_sample_value("plastrond_handle_requests_total", labels) or 0.0

    config = PublicationConfig(
        handle_endpoint=handle_service.url,
        handle_jwt_token=handle_service.token,
        handle_prefix="1903.1",
        handle_repo="fcrepo",
    )
    before = {k: count(*k) for k in [("mint", "200"), ("info", "200"), ("update", "200")]}
    refused_before = count("exists", "401")
    repo_id = f"http://repo.example/{uuid.uuid4().hex}"
    async with HandleClient(config) as service:
        minted = await service.mint(url="http://public.example/1", repo_id=repo_id)
        assert await service.info(minted.prefix, minted.suffix) is not None
        await service.update(minted, url="http://public.example/2")
    after = {k: count(*k) for k in before}
    assert {k: after[k] - before[k] for k in before} == {
        ("mint", "200"): 1,
        ("info", "200"): 1,
        ("update", "200"): 1,
    }
    wrong = PublicationConfig(handle_endpoint=handle_service.url, handle_jwt_token="not-the-token")
    async with HandleClient(wrong) as service:
        with pytest.raises(HandleServiceError):
            await service.exists("fcrepo", repo_id)
    assert count("exists", "401") == refused_before + 1

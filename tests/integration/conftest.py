"""Helpers for tests that run plastrond against the real ActiveMQ, with stomp.py as Archelon.

- `private_broker`: an ActiveMQ of the session's own (another port and data folder), for
  tests that stop, restart or freeze the broker without disturbing anyone else; each module
  gets it running and thawed.
- `plastrond_setup`: starts `plastrond -c CONFIG stomp` as a real process with a config of
  its own (message store under tmp_path, destinations unique to the test).
- `Archelon`: a stomp.py client that sends requests and collects completions and progress.
- `running`: a plastrond on the shared broker and an Archelon talking to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import stomp
import yaml

from tests.support.ports import free_port

REPO_DIR = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO_DIR / "services"


@attrs.frozen
class BrokerEndpoint:
    host: str
    port: int


@attrs.define
class Destinations:
    jobs: str
    sync: str
    status: str
    progress: str

    @classmethod
    def unique(cls) -> Destinations:
        tag = uuid.uuid4().hex[:10]
        return cls(
            jobs=f"/queue/test.{tag}.jobs",
            sync=f"/queue/test.{tag}.jobs.synchronous",
            status=f"/queue/test.{tag}.jobs.status",
            progress=f"/topic/test.{tag}.jobs.progress",
        )


class PrivateBroker:
    """An ActiveMQ of our own, started with services/activemq.sh on another port."""

    def __init__(self, port: int, state: Path) -> None:
        self.port = port
        self.state = state
        self.env = {
            **os.environ,
            "ACTIVEMQ_STOMP_PORT": str(port),
            "PLASTROND_SERVICES_STATE": str(state),
        }

    def _script(self, *args: str) -> str:
        result = subprocess.run(
            ["bash", str(SERVICES_DIR / "activemq.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0 and args[0] != "pid":
            raise RuntimeError(f"activemq.sh {args[0]} failed: {result.stderr}")
        return result.stdout.strip()

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    @property
    def pid(self) -> int:
        return int(self._script("pid"))

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    @property
    def endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint("127.0.0.1", self.port)


@pytest.fixture(scope="session")
def _private_broker_process(tmp_path_factory) -> Iterator[PrivateBroker]:
    # A port of its own: several test runs on one machine (parallel worktrees) each get
    # their own broker, and never freeze or stop another's. One JVM for the session.
    broker = PrivateBroker(free_port(), tmp_path_factory.mktemp("private-activemq"))
    broker.start()
    try:
        yield broker
    finally:
        with contextlib.suppress(ValueError, ProcessLookupError, RuntimeError):
            broker.thaw()
        broker.stop()


@pytest.fixture(scope="module")
def private_broker(_private_broker_process) -> PrivateBroker:
    """The session's private broker, running and thawed for this module whatever the last one
    left it as (start is idempotent: on a running broker it only checks that it answers)."""
    broker = _private_broker_process
    with contextlib.suppress(ValueError, ProcessLookupError, RuntimeError):
        broker.thaw()
    broker.start()
    return broker


def write_config(
    path: Path,
    broker: BrokerEndpoint,
    dests: Destinations,
    store: Path,
    repository: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
    **broker_keys: Any,
) -> Path:
    """A plastrond config; *repository* keys are merged into REPOSITORY (e.g. FEDORA_USER and
    FEDORA_PASSWORD), *sections* adds top-level sections (e.g. CONTENT_MODELS, COMMANDS)."""
    config = {
        "REPOSITORY": {
            "REST_ENDPOINT": "http://127.0.0.1:8080/fcrepo/rest",
            "RELPATH": "/pcdm",
            "LOG_DIR": str(path.parent / "logs"),
            **(repository or {}),
        },
        "MESSAGE_BROKER": {
            "SERVER": f"{broker.host}:{broker.port}",
            "MESSAGE_STORE_DIR": str(store),
            "DESTINATIONS": {
                "JOBS": dests.jobs,
                "JOB_PROGRESS": dests.progress,
                "JOB_STATUS": dests.status,
                "SYNCHRONOUS_JOBS": dests.sync,
            },
            "RECONNECT_INITIAL_DELAY": 0.2,
            "RECONNECT_MAX_DELAY": 2,
            "SHUTDOWN_GRACE_PERIOD": 5,
            **broker_keys,
        },
        **(sections or {}),
    }
    path.write_text(yaml.safe_dump(config))
    return path


_LISTENING = re.compile(r"admin listener \(/health, /metrics\) on (http://[0-9.]+:\d+)")


class Plastrond:
    """plastrond stomp as a real child process."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Plastrond:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plastrond", "-c", str(self.config), "stomp"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO_DIR,
        )
        return self

    def wait_connected(self, timeout: float = 30, count: int = 1) -> None:
        self.wait_for_log("connected to ", timeout=timeout, count=count)

    def wait_for_log(self, text: str, *, timeout: float = 30, count: int = 1) -> str:
        """Wait until *text* stands *count* times in the log (while the process runs); the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if log.count(text) >= count:
                return log
            assert self.proc is not None and self.proc.poll() is None, log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not {count} times in plastrond's log:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def admin_url(self, timeout: float = 30) -> str:
        """The address of its admin listener (/health, /metrics), once it has logged it."""
        deadline = time.monotonic() + timeout
        while (match := _LISTENING.search(self.log())) is None:
            assert self.running, self.log()
            if time.monotonic() > deadline:
                raise AssertionError(f"no admin listener in the log:\n{self.log()}")
            time.sleep(0.05)
        return match.group(1)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@attrs.define
class Setup:
    """A plastrond configuration for one test: broker, destinations, store, config file."""

    broker: BrokerEndpoint
    dests: Destinations
    store: Path
    config: Path
    tmp: Path
    processes: list[Plastrond] = attrs.field(factory=list)

    def plastrond(self, name: str = "plastrond", *, own_store: bool = False) -> Plastrond:
        """Start plastrond; with *own_store*, a replica with a message store of its own."""
        config = self.config
        if own_store:
            data = yaml.safe_load(self.config.read_text())
            data["MESSAGE_BROKER"]["MESSAGE_STORE_DIR"] = str(self.tmp / f"msg-{name}")
            config = self.tmp / f"{name}.yml"
            config.write_text(yaml.safe_dump(data))
        process = Plastrond(config, self.tmp / f"{name}.out")
        self.processes.append(process)
        return process.start()


@pytest.fixture
def plastrond_setup(tmp_path) -> Iterator[Any]:
    setups: list[Setup] = []

    def make(
        broker: BrokerEndpoint,
        *,
        repository: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        **broker_keys: Any,
    ) -> Setup:
        dests = Destinations.unique()
        store = tmp_path / "msg"
        config = write_config(
            tmp_path / "plastrond.yml",
            broker,
            dests,
            store,
            repository=repository,
            sections=sections,
            **broker_keys,
        )
        setup = Setup(broker, dests, store, config, tmp_path)
        setups.append(setup)
        return setup

    yield make
    for setup in setups:
        for process in setup.processes:
            if process.running:
                process.signal(signal.SIGINT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


class Archelon(stomp.ConnectionListener):
    """Sends job requests and collects what plastrond answers, as Archelon would."""

    def __init__(self, broker: BrokerEndpoint, dests: Destinations) -> None:
        self.dests = dests
        self.lock = threading.Condition()
        self.completions: list[stomp.utils.Frame] = []
        self.progress: list[stomp.utils.Frame] = []
        self.replies: list[stomp.utils.Frame] = []
        self.reply_queue = f"/temp-queue/archelon-{uuid.uuid4().hex[:8]}"
        self.conn = stomp.Connection12(
            [(broker.host, broker.port)],
            heartbeats=(0, 0),
            reconnect_attempts_max=200,
            reconnect_sleep_initial=0.2,
            reconnect_sleep_max=1.0,
        )
        self.conn.set_listener("archelon", self)
        self.connect()

    def connect(self) -> None:
        self.conn.connect(wait=True)
        self.conn.subscribe(self.dests.status, id="status", ack="auto")
        self.conn.subscribe(self.dests.progress, id="progress", ack="auto")
        self.conn.subscribe(self.reply_queue, id="replies", ack="auto")

    def on_message(self, frame: stomp.utils.Frame) -> None:
        with self.lock:
            sub = frame.headers.get("subscription")
            {"status": self.completions, "progress": self.progress, "replies": self.replies}[
                sub
            ].append(frame)
            self.lock.notify_all()

    def send_job(
        self,
        job_id: str | None,
        command: str | None = "echo",
        body: str = "",
        *,
        synchronous: bool = False,
        reply_to: bool | None = None,
        **args: str,
    ) -> None:
        headers = {"persistent": "true"}
        if job_id is not None:
            headers["PlastronJobId"] = job_id
        if command is not None:
            headers["PlastronCommand"] = command
        for name, value in args.items():
            headers[f"PlastronArg-{name.replace('_', '-')}"] = value
        if reply_to if reply_to is not None else synchronous:
            headers["reply-to"] = self.reply_queue
        dest = self.dests.sync if synchronous else self.dests.jobs
        self.conn.send(dest, body=body, headers=headers)

    def wait_for(self, what: str, count: int, timeout: float = 60) -> list[stomp.utils.Frame]:
        deadline = time.monotonic() + timeout
        with self.lock:
            items = getattr(self, what)
            while len(items) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(items)} {what} of {count} after {timeout} s")
                self.lock.wait(left)
            return list(items)

    def wait_for_count(self, key: str, at_least: int, timeout: float = 120) -> None:
        """Wait until a progress message's `count[key]` reaches *at_least* (an import that
        has got going, say)."""
        deadline = time.monotonic() + timeout

        def reached() -> bool:
            return any(
                json.loads(f.body).get("count", {}).get(key, 0) >= at_least for f in self.progress
            )

        with self.lock:
            while not reached():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no progress with {key} >= {at_least} in {timeout} s")
                self.lock.wait(left)

    def completion_ids(self) -> list[str]:
        with self.lock:
            return [f.headers["PlastronJobId"] for f in self.completions]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.disconnect()


@pytest.fixture
def archelon_factory() -> Iterator[Any]:
    clients: list[Archelon] = []

    def make(broker: BrokerEndpoint, dests: Destinations) -> Archelon:
        client = Archelon(broker, dests)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def camel_route(tmp_path_factory) -> Iterator[Any]:
    """The messaging stack's Camel status route (services/camel.sh) on a private ActiveMQ,
    one for the session (each test posts to a status URL of its own)."""
    from tests.support.archelon_status import start_camel_route, stop_camel_route

    route = start_camel_route(tmp_path_factory.mktemp("camel-route"))
    try:
        yield route
    finally:
        stop_camel_route(route)


@pytest.fixture
def archelon_status() -> Iterator[Any]:
    """Current Archelon's status_update endpoint (see tests/support/archelon_status.py)."""
    from tests.support.archelon_status import ArchelonStatusEndpoint

    endpoint = ArchelonStatusEndpoint()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.fixture
def running(activemq, plastrond_setup, archelon_factory):
    """A plastrond on the shared broker, connected, and an Archelon talking to it: (setup,
    daemon, client). A module whose daemon needs more configuration defines its own."""
    setup = plastrond_setup(activemq)
    daemon = setup.plastrond()
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    return setup, daemon, client

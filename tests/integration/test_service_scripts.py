"""The contract of the service scripts (services/*.sh, services/common.sh): start reuses a
service that already answers (the same process, the same address printed), status says "up"
and where, pid names the live process; on a private state folder and port, restart gives a
new process and stop ends it (then status says "down", pid fails); start refuses a port that
something else holds, and fails at once when the process it launched exits.

The shared services are only ever started here, never stopped: every stop is of a service of
this test's own state folder and port. The Camel route's script is checked where its route
runs (test_camel_status_route.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.integration

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"

#: script -> the variable that moves its port (README, "Local services")
PORT_VARIABLES = {
    "activemq": "ACTIVEMQ_STOMP_PORT",
    "fedora": "FEDORA_PORT",
    "fedora47": "FEDORA47_PORT",
    "sshd": "SSHD_PORT",
    "handles": "HANDLE_SERVICE_PORT",
    "prometheus": "PROMETHEUS_PORT",
}


def script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        ["bash", str(SERVICES_DIR / f"{name}.sh"), *args],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def started(name: str, env: dict[str, str] | None = None) -> list[str]:
    result = script(name, "start", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def pid_of(name: str, env: dict[str, str] | None = None) -> int:
    result = script(name, "pid", env=env)
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout.strip())
    assert alive(pid)
    return pid


def assert_up(name: str, where: list[str], env: dict[str, str] | None = None) -> None:
    result = script(name, "status", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # "up <where>" when where is one line, else "up" and then where's lines
    assert lines == ([f"up {where[0]}"] if len(where) == 1 else ["up", *where])


@pytest.mark.parametrize("name", list(PORT_VARIABLES))
def test_start_reuses_the_running_service(name):
    where = started(name)  # (the session's fixtures have started most of them already)
    pid = pid_of(name)
    again = script(name, "start")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == where
    assert "already answers" in again.stderr
    assert pid_of(name) == pid  # the same process: nothing was started
    assert_up(name, where)


@pytest.fixture
def private_env(tmp_path) -> dict[str, str]:
    """The environment of a state folder of the test's own."""
    return {**os.environ, "PLASTROND_SERVICES_STATE": str(tmp_path / "state")}


@pytest.mark.parametrize("name", ["activemq", "sshd", "handles", "prometheus"])
def test_private_service_start_restart_stop(name, private_env):
    port = free_port()
    env = {**private_env, PORT_VARIABLES[name]: str(port)}
    pids: list[int] = []
    try:
        where = started(name, env)
        assert f"127.0.0.1:{port}" in where[0]
        assert_up(name, where, env)
        pids.append(pid_of(name, env))
        assert started(name, env) == where
        assert pid_of(name, env) == pids[0]

        restarted = script(name, "restart", env=env)
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.splitlines() == where
        pids.append(pid_of(name, env))
        assert pids[1] != pids[0] and not alive(pids[0])
        assert_up(name, where, env)
    finally:
        stopped = script(name, "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(alive(pid) for pid in pids)
    down = script(name, "status", env=env)
    assert (down.returncode, down.stdout.strip()) == (1, "down")
    assert script(name, "pid", env=env).returncode == 1
    again = script(name, "stop", env=env)
    assert again.returncode == 0 and "not running" in again.stderr


@pytest.fixture
def squatter() -> Iterator[int]:
    """A port held by a server that answers every connection with a line of nonsense."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"nothing to see here\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        done.set()
        thread.join(5)
        server.close()


@pytest.mark.parametrize("name", list(PORT_VARIABLES))
def test_start_refuses_a_port_something_else_holds(name, squatter, private_env):
    env = {**private_env, PORT_VARIABLES[name]: str(squatter)}
    result = script(name, "start", env=env, timeout=120)
    assert result.returncode == 1
    assert f"port 127.0.0.1:{squatter} is taken by" in result.stderr
    assert result.stdout == ""
    down = script(name, "status", env=env, timeout=120)
    assert (down.returncode, down.stdout.strip()) == (1, "down")


def test_start_fails_at_once_when_the_service_exits(private_env):
    # A JVM option Java does not know: Fedora 4.7's JVM exits at once. start says so, with
    # the log, instead of waiting FEDORA_START_TIMEOUT for an answer that cannot come.
    env = {
        **private_env,
        "FEDORA47_PORT": str(free_port()),
        "FEDORA47_JMS_PORT": str(free_port()),
        "FEDORA47_STOMP_PORT": str(free_port()),
        "FEDORA47_JAVA_OPTS": "-XX:+NoSuchOptionForThisTest",
        "FEDORA_START_TIMEOUT": "3600",
    }
    result = script("fedora47", "start", env=env, timeout=300)
    assert result.returncode == 1
    assert "exited while starting" in result.stderr
    assert "NoSuchOptionForThisTest" in result.stderr  # the log's tail
    assert script("fedora47", "pid", env=env).returncode == 1

"""The Swarm stack of docker-compose.yml played by podman, from the image built from this checkout.

`build_image()` builds the repository's Dockerfile with podman (dev/setup.sh installs podman and
the `python:3.11-slim` base). A `Stack` runs a service of docker-compose.yml the way Swarm
would: the image with the service's `command` and `environment`, its `volumes` as podman named
volumes of the stack's own, and its `configs` as read-only files at their `target` with the
`mode`, `uid` and `gid` the stack gives them (Swarm's defaults: 0444, root). `health_check()`
runs the service's `healthcheck.test` inside its container, as the engine does; `stop()` is
what Swarm does at an update or a `docker service rm`: SIGTERM, then SIGKILL after the
service's `stop_grace_period`.

Each container has a network of its own, as in Swarm (the stack's ports are the container's,
whatever listens on the host), through slirp4netns, where the host's loopback, on which the
shared ActiveMQ, Fedora and sshd listen, is `HOST_LOOPBACK` (10.0.2.2). A service's published
`ports` are published on a free port of the host's loopback (`Service.published`).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import attrs
import yaml

from tests.support.ports import free_port

REPO_DIR = Path(__file__).resolve().parents[2]
COMPOSE = REPO_DIR / "docker-compose.yml"
TEMPLATE = REPO_DIR / "docker-plastron-template.yml"
#: one tag per checkout: its layers stay cached for the next run of the same checkout
IMAGE_TAG = "localhost/plastrond-test:" + hashlib.sha1(str(REPO_DIR).encode()).hexdigest()[:12]


#: the network of the containers, and the host's loopback as they see it
NETWORK = "slirp4netns:allow_host_loopback=true"
HOST_LOOPBACK = "10.0.2.2"


class PodmanError(AssertionError):
    pass


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise PodmanError("podman is not installed: dev/setup.sh installs it (Debian's podman)")
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise PodmanError(
            f"podman {' '.join(args[:2])} ... exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


#: open files and processes (of the uid, across its containers) given to the containers:
#: podman asks for more by default (1048576 open files) than the hard limits of these machines,
#: which runc then cannot set ("error setting rlimit"); a daemon needs far fewer
ULIMITS = {"nofile": (resource.RLIMIT_NOFILE, 16384), "nproc": (resource.RLIMIT_NPROC, 4096)}


def ulimit_flags() -> list[str]:
    """`--ulimit` flags: ULIMITS, or this process's own hard limit where that is lower."""
    flags = []
    for name, (which, wanted) in ULIMITS.items():
        hard = resource.getrlimit(which)[1]
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        flags += ["--ulimit", f"{name}={value}:{value}"]
    return flags


def build_image(tag: str = IMAGE_TAG) -> float:
    """Build the Dockerfile of this checkout as *tag*; the seconds it took."""
    started = time.monotonic()
    result = podman(
        "build", *ulimit_flags(), "--tag", tag, str(REPO_DIR), timeout=1200, check=False
    )
    if result.returncode != 0:
        raise PodmanError(
            f"podman build of {REPO_DIR / 'Dockerfile'} failed ({result.returncode}); the end:\n"
            + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            + "\n(dev/setup.sh prepares podman and the python:3.11-slim base image)"
        )
    return time.monotonic() - started


def last_lines(text: str, count: int = 3) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def seconds(duration: str | int | float) -> float:
    """A compose duration ("45s", "1m30s", "500ms") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's `${VAR}` and `${VAR:-default}` with *environ* as the deployer's shell."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        if environ.get(name):
            return environ[name]
        assert default is not None, f"{name} is unset and has no default"
        return default

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, value)


@attrs.define
class Service:
    """One compose service running in a container of its own."""

    name: str
    container: str
    spec: dict[str, Any]
    #: the container's published ports -> the host's (on 127.0.0.1)
    published: dict[int, int] = attrs.field(factory=dict)

    @property
    def grace_period(self) -> float:
        return seconds(self.spec.get("stop_grace_period", "10s"))

    @property
    def start_period(self) -> float:
        return seconds(self.spec["healthcheck"].get("start_period", "0s"))

    def exec(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return podman("exec", self.container, *args, timeout=timeout, check=False)

    def health_check(self) -> subprocess.CompletedProcess:
        """The service's `healthcheck.test`, run inside its container as the engine runs it
        (as the image's user; `CMD` is an argument list, `CMD-SHELL` a shell line)."""
        check = self.spec["healthcheck"]
        test = check["test"]
        if test[0] == "CMD":
            args = test[1:]
        else:
            assert test[0] == "CMD-SHELL", test
            args = ["/bin/sh", "-c", test[1]]
        try:
            return self.exec(*args, timeout=seconds(check.get("timeout", "30s")))
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", "timed out")

    def wait_healthy(self) -> float:
        """Run the health check until it passes, within the service's `start_period` (the
        time the engine gives a starting task); the seconds it took."""
        started = time.monotonic()
        deadline = started + self.start_period
        while True:
            assert self.running, f"{self.name} exited:\n{self.logs()}"
            result = self.health_check()
            if result.returncode == 0:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}'s health check still fails after its start period ("
                    f"{result.returncode}):\n{last_lines(result.stderr)}\n{self.logs()}"
                )
            time.sleep(0.5)

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.container).stdout.strip()

    @property
    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    @property
    def pid(self) -> int:
        """The container's first process, as the host sees it."""
        return int(self.inspect("{{.State.Pid}}"))

    def logs(self) -> str:
        result = podman("logs", self.container, check=False)
        return result.stdout + result.stderr

    def stop(self) -> tuple[int, float]:
        """SIGTERM, then SIGKILL after the service's stop_grace_period, as Swarm stops a
        task; the exit status and the seconds until the container had exited."""
        started = time.monotonic()
        podman("stop", "--time", str(round(self.grace_period)), self.container, timeout=300)
        elapsed = time.monotonic() - started
        return int(self.inspect("{{.State.ExitCode}}")), elapsed


class Stack:
    """The services of docker-compose.yml, deployed with podman under a name of their own.

    *files* are the stack's `configs` files by their `file:` name (e.g. "docker-plastron.yml");
    *environ* plays the deployer's shell for compose's `${VAR}` (none: the defaults).
    """

    def __init__(
        self,
        image: str,
        tmp: Path,
        files: dict[str, Path],
        environ: dict[str, str] | None = None,
        extra_run_args: tuple[str, ...] = (),
    ) -> None:
        self.image = image
        self.tmp = tmp
        self.files = files
        self.environ = environ or {}
        self.extra_run_args = extra_run_args
        self.prefix = f"plastrond-test-{uuid.uuid4().hex[:8]}"
        self.stack = compose()
        self.containers: list[str] = []
        self.volumes: set[str] = set()

    def volume(self, name: str) -> str:
        """The podman volume that plays the stack's volume *name*."""
        assert name in self.stack["volumes"], name
        return f"{self.prefix}-{name}"

    def volume_path(self, name: str) -> Path:
        path = podman("volume", "inspect", "--format", "{{.Mountpoint}}", self.volume(name))
        return Path(path.stdout.strip())

    def _config_file(self, service: str, config: dict[str, Any]) -> Path:
        """The stack config as the engine mounts it: its mode, uid and gid."""
        source = self.files[self.stack["configs"][config["source"]]["file"]]
        copy = self.tmp / "configs" / service / config["source"]
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy)
        os.chown(copy, int(config.get("uid", 0)), int(config.get("gid", 0)))
        os.chmod(copy, int(config.get("mode", 0o444)))
        return copy

    def run(self, service: str, *, network: str = NETWORK) -> Service:
        spec = self.stack["services"][service]
        container = f"{self.prefix}-{service}-{len(self.containers) + 1}"
        args = ["run", "--detach", "--name", container, f"--network={network}", *ulimit_flags()]
        published = {}
        for entry in spec.get("ports", []):
            port = int(str(entry).rpartition(":")[2])
            published[port] = free_port()
            args += ["--publish", f"127.0.0.1:{published[port]}:{port}"]
        for entry in spec.get("volumes", []):
            name, _, target = entry.partition(":")
            args += ["--volume", f"{self.volume(name)}:{target}"]
            self.volumes.add(self.volume(name))
        for config in spec.get("configs", []):
            args += ["--volume", f"{self._config_file(service, config)}:{config['target']}:ro"]
        for key, value in (spec.get("environment") or {}).items():
            args += ["--env", f"{key}={interpolate(str(value), self.environ)}"]
        args += ["--stop-timeout", str(round(seconds(spec.get("stop_grace_period", "10s"))))]
        args += [*self.extra_run_args, self.image, *spec.get("command", [])]
        self.containers.append(container)
        podman(*args)
        return Service(service, container, spec, published)

    def close(self) -> None:
        for container in self.containers:
            podman("rm", "--force", "--volumes", "--time", "0", container, check=False)
        for volume in self.volumes:
            podman("volume", "rm", "--force", volume, check=False)

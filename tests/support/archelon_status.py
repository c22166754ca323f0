"""Current Archelon's `status_update`, played by a loopback HTTP server, and the Camel status
route of the messaging stack in front of it (services/camel.sh on a private ActiveMQ with an
OpenWire connector).

Archelon does `job.state = body["state"]` and `job.progress = body["progress"]`; a state its
job model does not define raises, and the update is lost. `ArchelonStatusEndpoint` enforces
the same enums per kind of job (the URL path names the kind: `/import_jobs/<n>/status`,
`/export_jobs/<n>/status`, `/publish_jobs/<n>/status`), keeps what it accepted and answers
anything else with 422 and the reason, keeping that too.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import attrs

from tests.support.loopback import LoopbackServer, QuietHandler

REPO_DIR = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO_DIR / "services"

#: the state enums of Archelon's job models (app/models/*_job.rb)
STATES: dict[str, frozenset[str]] = {
    "import": frozenset(
        {
            "validate_pending",
            "validate_in_progress",
            "validate_success",
            "validate_failed",
            "validate_error",
            "import_pending",
            "import_in_progress",
            "import_complete",
            "import_incomplete",
            "import_error",
        }
    ),
    "export": frozenset(
        {"pending", "in_progress", "export_complete", "partial_export", "export_error"}
    ),
    "publish": frozenset(
        {
            "publish_not_submitted",
            "publish_pending",
            "publish_in_progress",
            "publish_complete",
            "publish_incomplete",
            "publish_error",
            "unpublish_complete",
            "unpublish_incomplete",
            "unpublish_error",
        }
    ),
}


@attrs.frozen
class StatusPost:
    path: str
    body: Any
    headers: dict[str, str]
    received: float


@attrs.frozen
class Rejected:
    path: str
    raw: bytes
    reason: str


def check_update(kind: str, raw: bytes) -> tuple[Any, str | None]:
    """The parsed body and None, or what Archelon's status_update would fail on."""
    try:
        body = json.loads(raw)
    except ValueError as e:
        return None, f"body is not JSON: {e}"
    if not isinstance(body, dict):
        return body, "body is not a JSON object"
    state = body.get("state")
    if state not in STATES[kind]:
        return body, f"'{state}' is not a valid state of a {kind} job"
    progress = body.get("progress")
    if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
        return body, f"progress {progress!r} is not an integer 0-100"
    return body, None


class ArchelonStatusEndpoint(LoopbackServer):
    def __init__(self) -> None:
        self.accepted: list[StatusPost] = []
        self.rejected: list[Rejected] = []
        self.lock = threading.Condition()
        endpoint = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.strip("/").split("/")
                kind = parts[0].removesuffix("_jobs") if parts else ""
                if len(parts) != 3 or kind not in STATES or parts[2] != "status":
                    status, reason = 404, f"no route for {self.path}"
                    body = None
                else:
                    body, reason = check_update(kind, raw)
                    status = 422 if reason else 200
                with endpoint.lock:
                    if reason:
                        endpoint.rejected.append(Rejected(self.path, raw, reason))
                    else:
                        endpoint.accepted.append(
                            StatusPost(self.path, body, dict(self.headers), time.time())
                        )
                    endpoint.lock.notify_all()
                answer = json.dumps({"error": reason} if reason else {"ok": True}).encode()
                self.answer(status, "application/json", answer)

        super().__init__(Handler)

    def url(self, kind: str, number: int | str) -> str:
        return f"{self.base}/{kind}_jobs/{number}/status"

    def posts(self, url: str) -> list[StatusPost]:
        path = "/" + url.split("/", 3)[3]
        with self.lock:
            return [p for p in self.accepted if p.path == path]

    def wait_for_state(
        self, url: str, states: set[str] | str, timeout: float = 120
    ) -> list[StatusPost]:
        """Every post accepted for *url*, once one of them has a state in *states*."""
        wanted = {states} if isinstance(states, str) else states
        path = "/" + url.split("/", 3)[3]
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                mine = [p for p in self.accepted if p.path == path]
                if any(p.body.get("state") in wanted for p in mine):
                    return mine
                failed = [p.body for p in mine if str(p.body.get("state")).endswith("error")]
                if failed and not any(str(w).endswith("error") for w in wanted):
                    raise AssertionError(f"{path} failed instead of {sorted(wanted)}: {failed}")
                left = deadline - time.monotonic()
                if left <= 0:
                    refused = [r for r in self.rejected if r.path == path]
                    raise AssertionError(
                        f"no {sorted(wanted)} at {path} after {timeout} s; accepted "
                        f"{[p.body.get('state') for p in mine]}, rejected {refused}"
                    )
                self.lock.wait(left)


@attrs.frozen
class CamelRoute:
    """The status route running against a private broker."""

    stomp_host: str
    stomp_port: int
    openwire_port: int
    #: what plastrond's JOB_STATUS must be for the route to see its messages
    status_destination: str
    errors_destination: str
    env: dict[str, str]

    def script(self, name: str, *args: str) -> str:
        result = subprocess.run(
            ["bash", str(SERVICES_DIR / f"{name}.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0 and args[0] not in ("pid", "status"):
            raise RuntimeError(f"{name}.sh {args[0]} failed: {result.stderr}")
        return result.stdout.strip()


def start_camel_route(state: Path) -> CamelRoute:
    """A private ActiveMQ (STOMP and OpenWire) and the Camel route consuming its status
    queue; ports from PLASTROND_CAMEL_TEST_STOMP_PORT / _OPENWIRE_PORT (61633, 61636)."""
    stomp_port = int(os.environ.get("PLASTROND_CAMEL_TEST_STOMP_PORT", "61633"))
    openwire_port = int(os.environ.get("PLASTROND_CAMEL_TEST_OPENWIRE_PORT", "61636"))
    queue = f"test.{uuid.uuid4().hex[:10]}.jobs.status"
    env = {
        **os.environ,
        "PLASTROND_SERVICES_STATE": str(state),
        "ACTIVEMQ_STOMP_PORT": str(stomp_port),
        "ACTIVEMQ_OPENWIRE_PORT": str(openwire_port),
        "CAMEL_BROKER_URL": f"tcp://127.0.0.1:{openwire_port}",
        "CAMEL_STATUS_QUEUE": queue,
        "CAMEL_ERRORS_QUEUE": f"errors.{queue}",
    }
    route = CamelRoute(
        "127.0.0.1",
        stomp_port,
        openwire_port,
        f"/queue/{queue}",
        f"/queue/errors.{queue}",
        env,
    )
    route.script("activemq", "start")
    route.script("camel", "start")
    return route


def stop_camel_route(route: CamelRoute) -> None:
    try:
        route.script("camel", "stop")
    finally:
        route.script("activemq", "stop")

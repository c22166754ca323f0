"""The stomp daemon's memory and pace as an import job grows: validate-only of N rows for two
N, and an import of new items, each in a daemon process of its own.

    .venv/bin/python bench/bench_sizes.py [--rows 2000 20000] [--items 2000]
        [--server URL] [--src DIR] [--quick]

Needs ActiveMQ and the Fedora given (default the local Fedora 6.1.0; `services/*.sh start`).
Each case starts `plastrond -c CONFIG stomp` as a real process (with `--src`, another tree's
`src` first on its path: `--src /path/to/main/src` measures that code), sends one import job
as Archelon does (metadata-only Item rows: identifier, title, type, rights, format, date,
description, creator, subject, language), waits for its completion and prints:

- the daemon's peak resident memory (`VmHWM` of /proc/<pid>/status) at the end of the job,
  and the same before the job was sent (its baseline);
- the time from sending the job to its completion, per row;
- the longest time `GET /health` took to answer while the job ran (the admin listener,
  polled every 0.1 s: a stalled trio thread shows here first);
- the completion's size and the number of row reports it carried;

then the ratio of the peak RSS at the larger N to the smaller (flat memory: near 1).
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import httpx
import stomp
import yaml

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "imports" / "data"
VOCABULARIES = {
    f"http://vocab.lib.umd.edu/{name}#": str(DATA / "vocabularies" / f"{name}.ttl")
    for name in ("rightsStatement", "form", "collection", "set", "termsOfUse")
}
COLUMNS = (
    "Identifier,Object Type,Rights Statement,Title,Format,Date,Description,Creator,Subject,Language"
)
ADMIN_USER = ("fedoraAdmin", "fedoraAdmin")


def csv_body(rows: int, tag: str) -> str:
    lines = [COLUMNS]
    for n in range(rows):
        lines.append(
            f"{tag}-{n},http://purl.org/dc/dcmitype/Text,"
            "http://vocab.lib.umd.edu/rightsStatement#InC,"
            f"Row {n} of a large collection,http://vocab.lib.umd.edu/form#photographs,"
            f'19{n % 100:02d},"A description of row {n}, long enough to be typical",'
            f'"Doe, Jane;Roe, Richard",Students;Campus,en'
        )
    return "\n".join(lines) + "\n"


def vm(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client(stomp.ConnectionListener):
    def __init__(self, host: str, port: int, status: str) -> None:
        self.cond = threading.Condition()
        self.frames: list[stomp.utils.Frame] = []
        self.conn = stomp.Connection12([(host, port)], heartbeats=(0, 0))
        self.conn.set_listener("bench", self)
        self.conn.connect(wait=True)
        self.conn.subscribe(status, id="status", ack="auto")

    def on_message(self, frame: stomp.utils.Frame) -> None:
        if "PlastronJobState" not in frame.headers:
            return
        with self.cond:
            self.frames.append(frame)
            self.cond.notify_all()

    def wait(self, timeout: float) -> stomp.utils.Frame:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.frames:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no completion")
                self.cond.wait(left)
            return self.frames[0]


class HealthProbe(threading.Thread):
    """GET /health every 0.1 s; the longest answer time and the failures."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/health"
        self.longest = 0.0
        self.failures = 0
        self.probes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=60) as answer:
                    answer.read()
            except OSError:
                self.failures += 1
            self.longest = max(self.longest, time.monotonic() - started)
            self.probes += 1
            self.stop.wait(0.1)


def run_case(
    args: argparse.Namespace, host: str, port: str, rows: int, *, validate_only: bool
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    dests = {
        "JOBS": f"/queue/bench.{tag}.jobs",
        "JOB_STATUS": f"/queue/bench.{tag}.status",
    }
    container = f"{args.server.rstrip('/')}/bench-sizes-{tag}"
    if not validate_only:
        httpx.put(container, auth=ADMIN_USER, timeout=60).raise_for_status()
    admin_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "plastrond.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "REPOSITORY": {
                        "REST_ENDPOINT": args.server,
                        "RELPATH": "/pcdm",
                        "LOG_DIR": f"{tmp}/logs",
                        "FEDORA_USER": ADMIN_USER[0],
                        "FEDORA_PASSWORD": ADMIN_USER[1],
                    },
                    "MESSAGE_BROKER": {
                        "SERVER": f"{host}:{port}",
                        "MESSAGE_STORE_DIR": f"{tmp}/msg",
                        "DESTINATIONS": dests,
                    },
                    "ADMIN": {"PORT": admin_port},
                    "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
                    "COMMANDS": {"IMPORT": {"JOBS_DIR": f"{tmp}/jobs"}},
                }
            )
        )
        env = {"PYTHONPATH": str(args.src), "PATH": "/usr/bin:/bin"}
        out = (Path(tmp) / "plastrond.out").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "plastrond", "-c", str(config), "stomp"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        client = Client(host, int(port), dests["JOB_STATUS"])
        try:
            deadline = time.monotonic() + 30
            while b"connected to " not in Path(f"{tmp}/plastrond.out").read_bytes():
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise RuntimeError(Path(f"{tmp}/plastrond.out").read_text())
                time.sleep(0.1)  # polling the daemon's output until it is connected
            time.sleep(0.5)  # its subscription settles before the first job is sent
            baseline = vm(daemon.pid, "VmHWM")
            probe = HealthProbe(admin_port)
            probe.start()
            headers = {
                "PlastronCommand": "import",
                "PlastronJobId": f"http://archelon.example/import_jobs/{tag}",
                "PlastronArg-model": "Item",
                "PlastronArg-container": container,
                "persistent": "true",
            }
            if validate_only:
                headers["PlastronArg-validate-only"] = "true"
            body = csv_body(rows, tag)
            started = time.monotonic()
            client.conn.send(dests["JOBS"], body, headers=headers)
            frame = client.wait(args.timeout)
            elapsed = time.monotonic() - started
            probe.stop.set()
            probe.join()
            peak = vm(daemon.pid, "VmHWM")
            completion = json.loads(frame.body)
        finally:
            client.conn.disconnect()
            daemon.terminate()
            daemon.wait(60)
            if not validate_only:
                httpx.delete(container, auth=ADMIN_USER, timeout=600)
    return {
        "rows": rows,
        "state": completion.get("state"),
        "count": completion.get("count", {}),
        "reports": len(completion.get("validation", [])),
        "bytes": len(frame.body),
        "baseline": baseline,
        "peak": peak,
        "elapsed": elapsed,
        "health": probe.longest,
        "health_failures": probe.failures,
    }


def show(name: str, r: dict[str, Any]) -> None:
    count = r["count"]
    print(
        f"  {name:<26} {r['state']:<16} peak RSS {r['peak']:7.1f} MB "
        f"(baseline {r['baseline']:5.1f})  {1000 * r['elapsed'] / r['rows']:6.2f} ms/row  "
        f"({r['elapsed']:6.1f} s)  /health longest {r['health']:5.2f} s"
        f"{'' if not r['health_failures'] else ' ' + str(r['health_failures']) + ' failed'}  "
        f"completion {r['bytes'] / 1024:8.1f} KiB, {r['reports']} reports  "
        f"(valid {count.get('valid')}, created {count.get('created')})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs=2, default=[2000, 20000])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--server", default="http://127.0.0.1:8080/fcrepo/rest")
    parser.add_argument("--src", type=Path, default=REPO / "src")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--quick", action="store_true", help="rows 200 and 2000, 200 items")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.items = [200, 2000], 200
    address = subprocess.run(
        ["bash", str(REPO / "services/activemq.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    host, port = address.removeprefix("stomp://").rsplit(":", 1)
    commit = subprocess.run(
        ["git", "-C", str(args.src), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"python {platform.python_version()}, code {args.src} ({commit[:60]})")
    small, large = args.rows
    results = {}
    for rows in (small, large):
        results[rows] = run_case(args, host, port, rows, validate_only=True)
        show(f"validate-only, {rows} rows", results[rows])
    if args.items:
        imported = run_case(args, host, port, args.items, validate_only=False)
        show(f"import, {args.items} new items", imported)
    ratio = results[large]["peak"] / results[small]["peak"]
    growth = (results[large]["peak"] - results[large]["baseline"]) / max(
        0.1, results[small]["peak"] - results[small]["baseline"]
    )
    print(
        f"  peak RSS at {large} rows / at {small} rows: {ratio:.2f} "
        f"(above the baseline: {growth:.2f}; flat memory: near 1)"
    )


if __name__ == "__main__":
    main()

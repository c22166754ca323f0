"""How long a taken request is in the inbox without its ACK at the broker's door.

    .venv/bin/python bench/bench_ack_window.py [--jobs N]

Needs ActiveMQ (started with services/activemq.sh if it is not running). Runs the stomp daemon
in this process (so that it can be timed from inside) with `MAX_QUEUED_JOBS: 1` and one
runner, sends N echo jobs of 2 ms with a stomp.py client, and times, for each write of the
inbox that kept requests, from the end of its fdatasync (in the store's worker thread) to the
end of the socket write that carried their ACK. A replica that dies within that window runs
the job after its restart while the broker gives it to another replica too (README, "How jobs
are kept"). The fdatasync's own duration is printed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import stomp
import trio
import yaml

from plastrond.broker.connection import BrokerConnection
from plastrond.config import load_config
from plastrond.daemon import Daemon

REPO = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def send_jobs(host: str, port: int, dests: dict[str, str], jobs: int) -> None:
    """Send *jobs* echo jobs and wait for their completions (in a thread)."""
    done = threading.Event()
    received = [0]

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame: stomp.utils.Frame) -> None:
            received[0] += 1
            if received[0] >= jobs:
                done.set()

    conn = stomp.Connection12([(host, port)], heartbeats=(0, 0))
    conn.set_listener("bench", Listener())
    conn.connect(wait=True)
    conn.subscribe(dests["JOB_STATUS"], id="status", ack="auto")
    for i in range(jobs):
        headers = {
            "PlastronJobId": f"bench-{i}",
            "PlastronCommand": "echo",
            "PlastronArg-echo-delay": "0.002",
        }
        conn.send(dests["JOBS"], body="x", headers=headers)
    if not done.wait(600):
        raise TimeoutError(f"{received[0]} of {jobs} completions")
    conn.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    jobs = parser.parse_args().jobs
    address = subprocess.run(
        ["bash", str(REPO / "services/activemq.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    host, port = address.removeprefix("stomp://").rsplit(":", 1)
    tag = uuid.uuid4().hex[:8]
    dests = {
        "JOBS": f"/queue/bench.{tag}.jobs",
        "JOB_PROGRESS": f"/topic/bench.{tag}.progress",
        "JOB_STATUS": f"/queue/bench.{tag}.status",
    }
    fsyncs: list[float] = []
    windows: list[float] = []
    synced_at: list[float] = []  # end of the last inbox write whose ACKs are not written yet

    write_now = BrokerConnection._write_now

    async def timed_write(self: BrokerConnection, data: bytes) -> None:
        await write_now(self, data)
        if synced_at and (data.startswith(b"ACK\n") or b"\nACK\n" in data):
            windows.append(time.perf_counter() - synced_at.pop())

    BrokerConnection._write_now = timed_write  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "plastrond.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "REPOSITORY": {
                        "REST_ENDPOINT": "http://127.0.0.1:8080/fcrepo/rest",
                        "RELPATH": "/pcdm",
                        "LOG_DIR": f"{tmp}/logs",
                    },
                    "MESSAGE_BROKER": {
                        "SERVER": f"{host}:{port}",
                        "MESSAGE_STORE_DIR": f"{tmp}/msg",
                        "DESTINATIONS": dests,
                        "MAX_QUEUED_JOBS": 1,
                        "MAX_CONCURRENT_JOBS": 1,
                    },
                }
            )
        )
        daemon = Daemon(load_config(config, environ={}), handle_signals=False)
        write_batch = daemon.store.write_batch

        def timed_batch(operations: Any) -> None:
            operations = list(operations)
            started = time.perf_counter()
            write_batch(operations)
            ended = time.perf_counter()
            if any(kind == "request" for kind, _ in operations):
                fsyncs.append(ended - started)
                synced_at[:] = [ended]

        daemon.store.write_batch = timed_batch  # type: ignore[method-assign]

        async def run() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(daemon.run)
                await trio.to_thread.run_sync(send_jobs, host, int(port), dests, jobs)
                daemon.stop()

        try:
            trio.run(run)
        finally:
            daemon.store.close()

    ms = 1000
    print(f"{jobs} echo jobs, MAX_QUEUED_JOBS 1, one runner; {len(windows)} inbox writes timed")
    print(
        f"  end of the inbox fdatasync -> ACK written to the socket: "
        f"p50 {statistics.median(windows) * ms:.2f} ms, p99 {percentile(windows, 99) * ms:.2f} ms, "
        f"max {max(windows) * ms:.2f} ms"
    )
    print(
        f"  the inbox write itself (write + fdatasync):              "
        f"p50 {statistics.median(fsyncs) * ms:.2f} ms, p99 {percentile(fsyncs, 99) * ms:.2f} ms"
    )
    print(f"  window / write (p50): {statistics.median(windows) / statistics.median(fsyncs):.2f}")


if __name__ == "__main__":
    main()

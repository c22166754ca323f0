"""plastrond's stomp mode against the broker's own speed, measured in one run.

    .venv/bin/python bench/bench_daemon.py [--quick]

Needs ActiveMQ (started with services/activemq.sh if it is not running). Starts
`plastrond -c CONFIG stomp` as a real process with a durable message store in a temporary
folder, and uses one stomp.py client for everything (so the client's own cost is in both
sides of every ratio):

- synchronous echo round trip (request -> plastrond -> reply on a /temp-queue/) against the
  broker's own round trip (the client sending to a queue it subscribes to itself): p50 and
  p99, and their ratio (goal: p50 within 2x of the floor);
- a burst of async echo jobs (inbox fsync, ACK, run, outbox fsync, SEND with receipt, removal)
  from the first request sent to the last completion received, against the broker carrying
  the same number of messages from the client back to itself (goal: >= 1000 jobs/s);
- plastrond's resident memory idle and after the burst (goals: < 60 MB and < 100 MB).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import stomp
import yaml

REPO = Path(__file__).resolve().parent.parent


class Client(stomp.ConnectionListener):
    def __init__(self, host: str, port: int) -> None:
        self.cond = threading.Condition()
        self.counts: dict[str, int] = {}
        self.conn = stomp.Connection12([(host, port)], heartbeats=(0, 0))
        self.conn.set_listener("bench", self)
        self.conn.connect(wait=True)

    def on_message(self, frame: stomp.utils.Frame) -> None:
        sub = frame.headers["subscription"]
        with self.cond:
            self.counts[sub] = self.counts.get(sub, 0) + 1
            self.cond.notify_all()

    def wait(self, sub: str, count: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.counts.get(sub, 0) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.counts.get(sub, 0)} of {count} on {sub}")
                self.cond.wait(left)


RELAY = """
import sys, time, stomp
conn = stomp.Connection12([(sys.argv[1], int(sys.argv[2]))], heartbeats=(0, 0))
class Relay(stomp.ConnectionListener):
    def on_message(self, frame):
        conn.send(frame.headers["reply-to"], frame.body)
conn.set_listener("relay", Relay())
conn.connect(wait=True)
conn.subscribe(sys.argv[3], id="relay", ack="auto")
time.sleep(3600)
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def round_trips(client: Client, sub: str, send, offset: int = 0) -> list[float]:
    times = []
    for i in range(ROUNDS):
        started = time.perf_counter()
        send(i)
        client.wait(sub, offset + i + 1)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    global ROUNDS
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    ROUNDS = 100 if options.quick else 500
    burst = 1000 if options.quick else 5000

    address = subprocess.run(
        ["bash", str(REPO / "services/activemq.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    host, port = address.removeprefix("stomp://").rsplit(":", 1)
    tag = uuid.uuid4().hex[:8]
    dests = {
        "JOBS": f"/queue/bench.{tag}.jobs",
        "JOB_PROGRESS": f"/topic/bench.{tag}.progress",
        "JOB_STATUS": f"/queue/bench.{tag}.status",
        "SYNCHRONOUS_JOBS": f"/queue/bench.{tag}.sync",
    }
    with tempfile.TemporaryDirectory(dir=REPO / ".services") as tmp:
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
                    },
                }
            )
        )
        out = (Path(tmp) / "plastrond.out").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "plastrond", "-c", str(config), "stomp"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            client = Client(host, int(port))
            echo_queue = f"/queue/bench.{tag}.echo"
            reply_queue = f"/temp-queue/bench-{tag}"
            client.conn.subscribe(echo_queue, id="echo", ack="auto")
            client.conn.subscribe(reply_queue, id="reply", ack="auto")
            client.conn.subscribe(dests["JOB_STATUS"], id="status", ack="auto")
            time.sleep(2)  # let plastrond connect and subscribe
            # warm both paths
            client.conn.send(echo_queue, "warm")
            client.wait("echo", 1)
            client.counts["echo"] = 0

            floor = round_trips(client, "echo", lambda i: client.conn.send(echo_queue, "x" * 200))
            sync_headers = {"PlastronCommand": "echo", "reply-to": reply_queue}
            sync = round_trips(
                client,
                "reply",
                lambda i: client.conn.send(
                    dests["SYNCHRONOUS_JOBS"],
                    "x" * 200,
                    headers={**sync_headers, "PlastronJobId": f"SYNCHRONOUS-{i}"},
                ),
            )
            idle_rss = rss_mb(daemon.pid)
            # The least any relay can do: a stomp.py process that answers reply-to at once,
            # with no persistence, no job and no receipt.
            relay_queue = f"/queue/bench.{tag}.relay"
            relay = subprocess.Popen([sys.executable, "-c", RELAY, host, port, relay_queue])
            time.sleep(1.5)
            before = client.counts.get("reply", 0)
            relayed = round_trips(
                client,
                "reply",
                lambda i: client.conn.send(
                    relay_queue, "x" * 200, headers={"reply-to": reply_queue}
                ),
                offset=before,
            )
            relay.kill()

            started = time.perf_counter()
            for _ in range(burst):
                client.conn.send(echo_queue, "x" * 200, headers={"persistent": "true"})
            client.wait("echo", ROUNDS + burst)
            broker_rate = burst / (time.perf_counter() - started)

            started = time.perf_counter()
            for i in range(burst):
                client.conn.send(
                    dests["JOBS"],
                    "x" * 200,
                    headers={
                        "PlastronCommand": "echo",
                        "PlastronJobId": f"bench-{i}",
                        "persistent": "true",
                    },
                )
            client.wait("status", burst)
            job_rate = burst / (time.perf_counter() - started)
            burst_rss = rss_mb(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(30)

    p = {
        name: (percentile(v, 50) * 1000, percentile(v, 99) * 1000)
        for name, v in (("broker", floor), ("plastrond", sync), ("relay", relayed))
    }
    print(f"sync echo round trip, {ROUNDS} rounds, 200-byte body (ms):")
    print(
        f"  broker floor (client -> queue -> client)  p50 {p['broker'][0]:7.2f}  "
        f"p99 {p['broker'][1]:7.2f}  mean {statistics.mean(floor) * 1000:.2f}"
    )
    print(
        f"  plastrond sync echo via /temp-queue/        p50 {p['plastrond'][0]:7.2f}  "
        f"p99 {p['plastrond'][1]:7.2f}  mean {statistics.mean(sync) * 1000:.2f}"
    )
    print(
        f"  bare stomp.py relay (no store, no job)      p50 {p['relay'][0]:7.2f}  "
        f"p99 {p['relay'][1]:7.2f}  mean {statistics.mean(relayed) * 1000:.2f}"
    )
    print(f"  plastrond against the bare relay: p50 {p['plastrond'][0] / p['relay'][0]:.2f}x")
    print(
        f"  ratio to the floor: p50 {p['plastrond'][0] / p['broker'][0]:.2f}x, "
        f"p99 {p['plastrond'][1] / p['broker'][1]:.2f}x (goal: p50 within 2x)"
    )
    print(f"burst of {burst} persistent messages / async echo jobs:")
    print(f"  broker carrying them client -> client   {broker_rate:8.0f} msg/s")
    print(
        f"  plastrond async echo, durable            {job_rate:8.0f} jobs/s "
        f"({job_rate / broker_rate:.2f} of the broker's rate; goal: >= 1000 jobs/s)"
    )
    print(
        f"plastrond resident memory: idle {idle_rss:.1f} MB (goal < 60), "
        f"after the burst {burst_rss:.1f} MB (goal < 100)"
    )


ROUNDS = 500

if __name__ == "__main__":
    main()

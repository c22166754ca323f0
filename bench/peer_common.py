"""What the peer benches (bench_peer_import.py, bench_peer_export.py) share: upstream Plastron
4.8.1 in its own virtual environment, one run of its `plastron` CLI measured, and the rounds that
alternate it with plastrond and print their figures.

Upstream's figures leave out its start-up: each round runs it on 1 item and on N items, and
its rate, CPU and Fedora's CPU per item are the N-item run less the 1-item run, over N - 1
items. Its CPU is the child process's (`RUSAGE_CHILDREN` around the run: every thread of it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import cpu_seconds, fedora_pid, make_workload

PEER_REQUIREMENTS = ["plastron-stomp==4.8.1", "plastron-cli==4.8.1"]
WRAPPER = Path(__file__).resolve().parent / "peer_plastron.py"


def ensure_peer(venv: Path) -> Path:
    """The Python of upstream's virtual environment, made and installed the first time."""
    python = venv / "bin" / "python"
    stamp = venv / ".plastron-4.8.1"
    if not stamp.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
        stamp.touch()
    return python


def add_arguments(parser: argparse.ArgumentParser, items: int, warmup: int) -> None:
    """The options both peer benches take."""
    parser.add_argument("--url", default="http://127.0.0.1:8090/rest")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--items", type=int, default=items)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of both, alternating which goes first"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=warmup,
        help=f"items plastrond handles first, not measured (default {warmup}; upstream 5)",
    )
    parser.add_argument("--broker", default="127.0.0.1:61613")
    parser.add_argument(
        "--peer-only", action="store_true", help="measure upstream alone (no plastrond run)"
    )
    parser.add_argument(
        "--peer-venv", type=Path, default=Path.home() / ".cache" / "plastrond" / "peer-venv"
    )
    parser.add_argument("--json", type=Path, help="also write the medians into this file")


def new_container(args: argparse.Namespace, prefix: str) -> str:
    """A new empty container at the top of the repository; its path (`/name`)."""
    name = f"{prefix}-{uuid.uuid4()}"
    with httpx.Client(auth=(args.user, args.password), timeout=60) as admin:
        admin.put(
            f"{args.url.rstrip('/')}/{name}", headers={"Content-Type": "text/turtle"}
        ).raise_for_status()
    return f"/{name}"


def peer_folder(args: argparse.Namespace, work: Path, relpath: str) -> Path:
    """A folder of its own for one upstream run, with the `config.yml` naming the Fedora (with
    *relpath*) and the broker, and queues of its own."""
    name = f"bench-peer-{uuid.uuid4()}"
    run = work / name
    (run / "logs").mkdir(parents=True)
    host, _, port = args.broker.rpartition(":")
    config = {
        "REPOSITORY": {
            "REST_ENDPOINT": args.url.rstrip("/"),
            "RELPATH": relpath,
            "LOG_DIR": str(run / "logs"),
            "FEDORA_USER": args.user,
            "FEDORA_PASSWORD": args.password,
        },
        "MESSAGE_BROKER": {
            "SERVER": f"{host}:{port}",
            "MESSAGE_STORE_DIR": str(run / "msg"),
            "DESTINATIONS": {
                "JOBS": f"/queue/{name}.jobs",
                "JOB_PROGRESS": f"/topic/{name}.progress",
                "JOB_STATUS": f"/queue/{name}.status",
                "SYNCHRONOUS_JOBS": f"/queue/{name}.sync",
            },
        },
        "COMMANDS": {"IMPORT": {"JOBS_DIR": str(run / "jobs")}},
        # upstream's export writes each item's public URL and fails without a pattern
        "PUBLICATION_WORKFLOW": {"PUBLIC_URL_PATTERN": "http://digital.example/result/id/{uuid}"},
    }
    (run / "config.yml").write_text(yaml.safe_dump(config))
    return run


@attrs.frozen
class PeerRun:
    seconds: float
    cpu: float  # upstream's process, every thread
    fedora: float
    output: str


def run_peer(
    args: argparse.Namespace, python: Path, work: Path, run: Path, plastron_args: list[str]
) -> PeerRun:
    """Run `plastron -c run/config.yml PLASTRON_ARGS` (through peer_plastron.py) in *run*;
    exits the bench when it fails."""
    command = [
        str(python),
        str(WRAPPER),
        str(work / "rights.ttl"),
        "--",
        "-c",
        str(run / "config.yml"),
        *plastron_args,
    ]
    pid = fedora_pid(args.url)
    before = cpu_seconds(pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=run, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    fedora = cpu_seconds(pid) - before
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        sys.exit(f"upstream {plastron_args[0]} failed ({done.returncode}):\n{output[-3000:]}")
    return PeerRun(elapsed, cpu, fedora, output)


@attrs.frozen
class Ours:
    """plastrond's run of N items, in this process."""

    seconds: float
    requests: int
    cpu: float
    fedora: float


@attrs.frozen
class Round:
    ours: Ours | None  # None with --peer-only
    theirs: PeerRun  # N items
    one: PeerRun  # 1 item: upstream's start-up and one item
    first: str  # which ran first in the round

    def theirs_per_item(self, total: int, field: str) -> float:
        """Upstream's seconds, CPU or Fedora CPU per item without its start-up."""
        n, one = float(getattr(self.theirs, field)), float(getattr(self.one, field))
        return max(n - one, 1e-9) / max(total - 1, 1)

    def theirs_rate(self, total: int) -> float:
        return 1 / self.theirs_per_item(total, "seconds")

    def ratio(self, total: int) -> float:
        return (total / self.ours.seconds) / self.theirs_rate(total) if self.ours else 0.0


#: what a bench does before its rounds (warm both up, make its items), given the arguments,
#: upstream's Python and the work folder; it returns the two sides of a round: plastrond's run
#: of N items, and upstream's run of a given number of items
Prepare = Callable[
    [argparse.Namespace, Path, Path],
    Awaitable[tuple[Callable[[], Awaitable[Ours]], Callable[[int], PeerRun]]],
]


def main(doc: str, what: str, items: int, warmup: int, prepare: Prepare) -> None:
    """A peer bench's command line: its options, the workload's files (bench_import's), the
    warm-up (*prepare*), the alternating rounds and the report."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_arguments(parser, items=items, warmup=warmup)
    args = parser.parse_args()
    python = ensure_peer(args.peer_venv)
    load_before = os.getloadavg()

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix=f"bench-peer-{what}-") as name:
            work = Path(name)
            make_workload(work, args.items + args.warmup)
            ours, theirs = await prepare(args, python, work)
            rounds = await alternate(args, ours, theirs)
        report(args, what, rounds, load_before)

    trio.run(run)


async def alternate(
    args: argparse.Namespace,
    ours: Callable[[], Awaitable[Ours]],
    theirs: Callable[[int], PeerRun],
) -> list[Round]:
    """R rounds, each running plastrond (*ours*: N items) and upstream (*theirs*(count): 1
    item, then N), alternating which goes first, so that neither always meets a Fedora the
    other has just warmed (or loaded)."""
    rounds: list[Round] = []
    for r in range(args.rounds):
        mine: Ours | None = None
        if r % 2 == 0 and not args.peer_only:
            mine = await ours()
        one, peer = theirs(1), theirs(args.items)
        if r % 2 == 1 and not args.peer_only:
            mine = await ours()
        rounds.append(Round(mine, peer, one, "plastrond" if r % 2 == 0 else "upstream"))
    return rounds


def report(
    args: argparse.Namespace,
    what: str,
    rounds: list[Round],
    load_before: tuple[float, ...],
    **extra: Any,
) -> dict[str, Any]:
    """Print the rounds and their medians; return the medians (for the before/after table)."""
    total = args.items
    load_after = os.getloadavg()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {what} of {total} items, "
        f"each one page of a TIFF and a JPG, {len(rounds)} rounds; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"Fedora 4.7.5 at {args.url}")
    for n, rd in enumerate(rounds, 1):
        line = f"  round {n} ({rd.first} first):"
        if rd.ours:
            m = rd.ours
            line += (
                f" plastrond {total / m.seconds:6.2f} items/s ({m.requests / total:.1f} req/item, "
                f"CPU/item {m.cpu / total:.3f} s, Fedora {m.fedora / total:.3f} s);"
            )
        line += (
            f" upstream {rd.theirs_rate(total):5.2f} items/s ({rd.theirs.seconds:.2f} s, 1 item "
            f"{rd.one.seconds:.2f} s, CPU/item {rd.theirs_per_item(total, 'cpu'):.3f} s, "
            f"Fedora {rd.theirs_per_item(total, 'fedora'):.3f} s)"
        )
        if rd.ours:
            line += f"  ratio {rd.ratio(total):.2f}x"
        print(line)

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    mine = [rd.ours for rd in rounds if rd.ours]
    figures: dict[str, Any] = {
        "upstream_rate": median([rd.theirs_rate(total) for rd in rounds]),
        "upstream_cpu": median([rd.theirs_per_item(total, "cpu") for rd in rounds]),
        "upstream_fedora": median([rd.theirs_per_item(total, "fedora") for rd in rounds]),
        "rate": median([total / m.seconds for m in mine]),
        "cpu": median([m.cpu / total for m in mine]),
        "fedora": median([m.fedora / total for m in mine]),
        "ratios": [rd.ratio(total) for rd in rounds if rd.ours],
        **extra,
    }
    figures["ratio"] = median(figures["ratios"])
    line = (
        f"  median: upstream Plastron 4.8.1 {figures['upstream_rate']:.2f} items/s "
        f"(CPU/item {figures['upstream_cpu']:.3f} s, Fedora {figures['upstream_fedora']:.3f} s)"
    )
    if mine:
        line += (
            f", plastrond {figures['rate']:.2f} items/s (CPU/item {figures['cpu']:.3f} s, "
            f"Fedora {figures['fedora']:.3f} s)"
        )
    print(line)
    if mine:
        print(
            f"  ratio: median {figures['ratio']:.2f}x "
            f"(rounds {', '.join(f'{x:.2f}' for x in figures['ratios'])}; goal >= 5x)"
        )
    if args.json:
        args.json.write_text(json.dumps(figures))
    return figures

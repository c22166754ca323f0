"""Import with files into Fedora 4.7.5: plastrond vs upstream Plastron 4.8.1, in the same run.

Run: python bench/bench_peer_import.py [--items N] [--rounds R] [--warmup N] [--url URL]
     [--user U --password P] [--peer-venv DIR] [--broker HOST:PORT]

Needs the running Fedora 4.7.5 (`services/fedora47.sh start`; the default URL is the one it
serves). The peer is upstream Plastron 4.8.1 from PyPI (`plastron-stomp==4.8.1`, with
`plastron-cli==4.8.1`), installed once into its own virtual environment (default
`~/.cache/plastrond/peer-venv`). Both import the same CSV (bench_import.make_csv: N Item rows,
each with a page of a TIFF and a JPG, 2 KiB each) from the same local binaries folder into a fresh
container of the same Fedora. The peer runs `plastron import` (upstream's ImportJob, the code its
STOMP daemon runs for an import job) with a config naming the same Fedora and broker.

What is adapted for the peer to run at all (bench/peer_plastron.py says how): its rdflib
parses read xsd:string literals as simple literals (upstream cannot import pages into 4.7.5
otherwise), and the UMD rights vocabulary is read from a local file (vocab.lib.umd.edu is not
reachable here; plastrond's run reads the same file). Upstream's rate leaves out its start-up:
(N - 1) items over the time of the N-item run less that of a 1-item run. plastrond's run is
in-process at its default concurrency (`MAX_CONCURRENT_ITEMS` 4).

Fairness: both are warmed up first, not measured (plastrond imports --warmup items, upstream
5): a Fedora JVM just started runs several times slower for its first requests, and whichever
ran first used to meet it cold. Then R rounds (default 3) each measure both, alternating which
goes first.

Printed: per round, items/s of each and their ratio; then the medians and the median ratio
(goal: plastrond >= 5x upstream), with the load average before and after (the machine is
shared: say how busy it was).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import attrs
import httpx
import trio
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import RIGHTS, cpu_seconds, fedora_pid, make_csv, make_files, run_once

PEER_REQUIREMENTS = ["plastron-stomp==4.8.1", "plastron-cli==4.8.1"]
WRAPPER = Path(__file__).resolve().parent / "peer_plastron.py"


def ensure_peer(venv: Path) -> Path:
    python = venv / "bin" / "python"
    stamp = venv / ".plastron-4.8.1"
    if not stamp.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
        stamp.touch()
    return python


def peer_import(
    args: argparse.Namespace, python: Path, work: Path, csv_bytes: bytes, expect: int
) -> tuple[float, float]:
    """(seconds, Fedora CPU seconds) of upstream importing *csv_bytes* into a new container."""
    name = f"bench-peer-{uuid.uuid4()}"
    url = args.url.rstrip("/")
    with httpx.Client(auth=(args.user, args.password), timeout=60) as admin:
        admin.put(f"{url}/{name}", headers={"Content-Type": "text/turtle"}).raise_for_status()
    run = work / name
    run.mkdir()
    host, _, port = args.broker.rpartition(":")
    config = {
        "REPOSITORY": {
            "REST_ENDPOINT": url,
            "RELPATH": f"/{name}",
            "LOG_DIR": str(run / "logs"),
            "FEDORA_USER": args.user,
            "FEDORA_PASSWORD": args.password,
        },
        "MESSAGE_BROKER": {
            "SERVER": f"{host}:{port}",
            "MESSAGE_STORE_DIR": str(run / "msg"),
            "DESTINATIONS": {
                "JOBS": f"/queue/bench-peer-{name}.jobs",
                "JOB_PROGRESS": f"/topic/bench-peer-{name}.progress",
                "JOB_STATUS": f"/queue/bench-peer-{name}.status",
                "SYNCHRONOUS_JOBS": f"/queue/bench-peer-{name}.sync",
            },
        },
        "COMMANDS": {"IMPORT": {"JOBS_DIR": str(run / "jobs")}},
    }
    (run / "logs").mkdir()
    (run / "config.yml").write_text(yaml.safe_dump(config))
    (run / "items.csv").write_bytes(csv_bytes)
    command = [
        str(python),
        str(WRAPPER),
        str(work / "rights.ttl"),
        "--",
        "-c",
        str(run / "config.yml"),
        "import",
        "-m",
        "Item",
        "--binaries-location",
        str(work / "files"),
        "--container",
        f"/{name}",
        str(run / "items.csv"),
    ]
    pid = fedora_pid(args.url)
    before = cpu_seconds(pid)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=run, check=False)
    elapsed = time.perf_counter() - started
    fedora = cpu_seconds(pid) - before
    out = done.stdout + done.stderr
    if done.returncode != 0 or f"Created Items: {expect}" not in out:
        sys.exit(f"upstream import failed ({done.returncode}):\n{out[-3000:]}")
    return elapsed, fedora


@attrs.define
class Round:
    ours: float  # seconds for N items
    requests: int
    ours_cpu: float
    ours_fedora: float
    theirs: float  # seconds for N items
    one: float  # seconds for 1 item (upstream's start-up and one item)
    theirs_fedora: float
    first: str  # which ran first in the round

    def theirs_rate(self, total: int) -> float:
        # upstream's rate without its start-up: the N-item run less a 1-item run, per N-1 items
        return (total - 1) / max(self.theirs - self.one, 1e-9)

    def ratio(self, total: int) -> float:
        return (total / self.ours) / self.theirs_rate(total) if self.ours else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8090/rest")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of both, alternating which goes first"
    )
    parser.add_argument(
        "--warmup", type=int, default=30, help="items plastrond imports first, not measured"
    )
    parser.add_argument("--broker", default="127.0.0.1:61613")
    parser.add_argument(
        "--peer-only", action="store_true", help="measure upstream alone (no plastrond run)"
    )
    parser.add_argument(
        "--peer-venv", type=Path, default=Path.home() / ".cache" / "plastrond" / "peer-venv"
    )
    args = parser.parse_args()
    python = ensure_peer(args.peer_venv)
    total = args.items
    rounds: list[Round] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as name:
        work = Path(name)
        (work / "files").mkdir()
        make_files(work / "files", max(total, args.warmup))
        (work / "rights.ttl").write_text(
            f'<{RIGHTS}InC> <http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .\n'
        )
        # Warm-up of both, not measured: Fedora's JIT (a JVM just started runs several times
        # slower for its first few hundred requests), plastrond's vocabularies and pool.
        if not args.peer_only:
            await run_once(args, args.url, work, 4, 0, args.warmup)
        peer_import(args, python, work, make_csv(0, 5, "warm"), 5)

        async def ours() -> tuple[float, int, float, float]:
            if args.peer_only:
                return 0.0, 0, 0.0, 0.0
            m = await run_once(args, args.url, work, 4, 0, total)
            return m.seconds, m.requests, m.daemon_cpu, m.fedora_cpu

        def theirs() -> tuple[float, float, float]:
            one, _ = peer_import(args, python, work, make_csv(0, 1, uuid.uuid4().hex[:8]), 1)
            n, fedora = peer_import(
                args, python, work, make_csv(0, total, uuid.uuid4().hex[:8]), total
            )
            return n, one, fedora

        for r in range(args.rounds):
            # alternate which goes first, so that neither always meets a Fedora the other
            # has just warmed (or loaded)
            if r % 2 == 0:
                mine = await ours()
                peer = theirs()
            else:
                peer = theirs()
                mine = await ours()
            rounds.append(Round(*mine, *peer, first="plastrond" if r % 2 == 0 else "upstream"))
    load_after = os.getloadavg()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {total} items, "
        f"each one page of a TIFF and a JPG, {len(rounds)} rounds; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"Fedora 4.7.5 at {args.url}")
    for n, rd in enumerate(rounds, 1):
        line = f"  round {n} ({rd.first} first):"
        if rd.ours:
            line += (
                f" plastrond {total / rd.ours:6.2f} items/s ({rd.requests / total:.1f} req/item, "
                f"CPU/item {rd.ours_cpu / total:.3f} s, Fedora {rd.ours_fedora / total:.3f} s);"
            )
        line += (
            f" upstream {rd.theirs_rate(total):5.2f} items/s ({rd.theirs:.2f} s, 1 item "
            f"{rd.one:.2f} s, Fedora {rd.theirs_fedora / total:.3f} s/item)"
        )
        if rd.ours:
            line += f"  ratio {rd.ratio(total):.2f}x"
        print(line)
    ours_rates = sorted(total / rd.ours for rd in rounds if rd.ours)
    theirs_rates = sorted(rd.theirs_rate(total) for rd in rounds)
    print(
        f"  median: upstream Plastron 4.8.1 {statistics.median(theirs_rates):.2f} items/s"
        + (f", plastrond {statistics.median(ours_rates):.2f} items/s" if ours_rates else "")
    )
    if ours_rates:
        ratios = [rd.ratio(total) for rd in rounds]
        print(
            f"  ratio: median {statistics.median(ratios):.2f}x "
            f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; goal >= 5x)"
        )


if __name__ == "__main__":
    trio.run(main)

"""Import with files into Fedora 4.7.5: plastrond vs upstream Plastron 4.8.1, in the same run.

Run: python bench/bench_peer_import.py [--items N] [--rounds R] [--warmup N] [--url URL]
     [--user U --password P] [--peer-venv DIR] [--broker HOST:PORT] [--peer-only] [--json FILE]

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
reachable here; plastrond's run reads the same file). Upstream's figures leave out its start-up:
the N-item run less a 1-item run, over N - 1 items (bench/peer_common.py). plastrond's run is
in-process at its default concurrency (`MAX_CONCURRENT_ITEMS` 4).

Fairness: both are warmed up first, not measured (plastrond imports --warmup items, upstream
5): a Fedora JVM just started runs several times slower for its first requests, and whichever
ran first used to meet it cold. Then R rounds (default 3) each measure both, alternating which
goes first.

Printed: per round, items/s and CPU per item of each (plastrond's process, upstream's
process, and Fedora's during each) and their speed ratio; then the medians and the median ratio
(goal: plastrond >= 5x upstream), with the load average before and after (the machine is
shared: say how busy it was).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import make_csv, run_once
from peer_common import Ours, PeerRun, main, new_container, peer_folder, run_peer


def peer_import(args: argparse.Namespace, python: Path, work: Path, count: int) -> PeerRun:
    """Upstream importing *count* new items into a new container."""
    container = new_container(args, "bench-peer")
    run = peer_folder(args, work, container)
    (run / "items.csv").write_bytes(make_csv(0, count, uuid.uuid4().hex[:8]))
    done = run_peer(
        args,
        python,
        work,
        run,
        [
            "import",
            "-m",
            "Item",
            "--binaries-location",
            str(work / "files"),
            "--container",
            container,
            str(run / "items.csv"),
        ],
    )
    if f"Created Items: {count}" not in done.output:
        sys.exit(f"upstream import did not create {count} items:\n{done.output[-3000:]}")
    return done


async def prepare(
    args: argparse.Namespace, python: Path, work: Path
) -> tuple[Callable[[], Awaitable[Ours]], Callable[[int], PeerRun]]:
    # Warm-up of both, not measured: Fedora's JIT (a JVM just started runs several times
    # slower for its first few hundred requests), plastrond's vocabularies and pool.
    if not args.peer_only:
        await run_once(args, args.url, work, 4, 0, args.warmup)
    peer_import(args, python, work, 5)

    async def ours() -> Ours:
        m = await run_once(args, args.url, work, 4, 0, args.items)
        return Ours(m.seconds, m.requests, m.daemon_cpu, m.fedora_cpu)

    return ours, lambda count: peer_import(args, python, work, count)


if __name__ == "__main__":
    main(__doc__, "import", 50, 30, prepare)

"""Export with binaries from Fedora 4.7.5: plastrond vs upstream Plastron 4.8.1, in the same run.

Run: python bench/bench_peer_export.py [--items N] [--rounds R] [--warmup N] [--url URL]
     [--user U --password P] [--peer-venv DIR] [--broker HOST:PORT] [--peer-only] [--json FILE]

The export counterpart of bench_peer_import.py, on the same Fedora 4.7.5, with the same peer
(upstream Plastron 4.8.1 in its own virtual environment, bench/peer_common.py) and the same
items: plastrond first imports --warmup + N items of bench_import.py's workload (one page of a
2 KiB TIFF and a 2 KiB JPG each) into a container of its own, not measured. Then both export
those N items as Turtle with binaries to a local ZIP: plastrond's `export` command in this
process, as the runner drives it, at its default concurrency (bench_cpu.export_items), and
upstream's `plastron export -B -f text/turtle -o FILE.zip URI...` (its ExportJob, the code its
STOMP daemon runs for an export job). Both are warmed up first (plastrond exports the --warmup
items, upstream 5), then R rounds (default 3) each measure both, alternating which goes first.

Upstream's figures leave out its start-up (the N-item run less a 1-item run, over N - 1 items).
Printed: per round, items/s and CPU per item of each (plastrond's process, upstream's process,
and Fedora's during each) and their speed ratio; then the medians and the median ratio (goal:
plastrond >= 5x upstream), with the load average before and after.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cpu import export_items, import_items
from peer_common import Ours, PeerRun, main, peer_folder, run_peer


def peer_export(args: argparse.Namespace, python: Path, work: Path, uris: list[str]) -> PeerRun:
    """Upstream exporting *uris* (Turtle and binaries) into a local ZIP; checks the ZIP holds
    both files of every item."""
    run = peer_folder(args, work, "/")
    target = run / "export.zip"
    done = run_peer(
        args,
        python,
        work,
        run,
        ["export", "-B", "-f", "text/turtle", "-o", str(target), *uris],
    )
    with zipfile.ZipFile(target) as z:
        binaries = [n for n in z.namelist() if n.endswith((".tif", ".jpg"))]
    if len(binaries) != 2 * len(uris):
        sys.exit(
            f"upstream export wrote {len(binaries)} binaries, not {2 * len(uris)}:\n"
            f"{done.output[-3000:]}"
        )
    target.unlink()
    return done


async def prepare(
    args: argparse.Namespace, python: Path, work: Path
) -> tuple[Callable[[], Awaitable[Ours]], Callable[[int], PeerRun]]:
    _, uris = await import_items(args, args.url, work, 0, args.items + args.warmup)
    measured, warm = uris[: args.items], uris[args.items :]
    # Warm-up of both, not measured: Fedora's JIT and caches, plastrond's models and pool.
    if not args.peer_only:
        await export_items(args, args.url, work, warm)
    peer_export(args, python, work, warm[:5] or measured[:5])

    async def ours() -> Ours:
        m = await export_items(args, args.url, work, measured)
        return Ours(m.seconds, m.requests, m.daemon, m.fedora)

    return ours, lambda count: peer_export(args, python, work, measured[:count])


if __name__ == "__main__":
    main(__doc__, "export", 200, 20, prepare)

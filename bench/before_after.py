"""Before and after in the same run: CPU per item and the speed against upstream Plastron 4.8.1,
for two source trees, alternating.

Run: python bench/before_after.py [--before REV] [--after REV] [--quick] [--repeats N]
     [--fedora47 URL] [--fedora6 URL] [--logs DIR]

"before" is a git revision (default 75498e8), unpacked with `git archive` into a temporary
folder; "after" is this working tree (or `--after REV`, unpacked the same way). Each bench runs
as a process of its own with `PYTHONPATH=<that tree>/src`, with this tree's bench scripts for
both sides (the same measurement code), and the two sides take turns: for each repeat and each
bench, one side then the other, the order swapped every repeat, so that the shared machine's
busy moments fall on both. The benches:

- bench_cpu.py, import and export, on Fedora 4.7.5 and on Fedora 6.1 (each its own process):
  the daemon's CPU and Fedora's per item;
- bench_peer_import.py and bench_peer_export.py on Fedora 4.7.5: items/s against upstream
  Plastron 4.8.1's (its own virtual environment, installed the first time).

Printed at the end: one table, per side, Fedora and command: daemon CPU ms/item, Fedora CPU
ms/item, daemon/Fedora, and speed against upstream (4.7.5 only), each as the median over the
repeats and (with two or more) the range; then after / before of the daemon's CPU per item.
Every bench's own output is kept in the --logs folder (printed).

Run time on the 2-CPU development machine, shared: with --quick (60 items on 4.7.5, 10 on 6.1,
20 imported and 40 exported against upstream, 2 repeats) 9 minutes at load average 10-19, and
up to about 15 when the shared Fedora 6.1 is busy; by default (200, 60, 50 and 200 items) about
30-40 minutes (estimated). The shared Fedora 6.1 is the slowest part (0.1-0.5 items/s on the
import when other suites use it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

BENCH = Path(__file__).resolve().parent
TREE = BENCH.parent


@attrs.frozen
class Side:
    name: str
    label: str  # a revision, or "working tree"
    root: Path


@attrs.frozen
class Bench:
    name: str
    script: str
    args: tuple[str, ...]


def unpack(rev: str, into: Path) -> Path:
    """The tree of *rev* (this repository's), unpacked into *into*."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(TREE), "archive", "--format=tar", rev],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(into, filter="data")
    return into


def describe(rev: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(TREE), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


#: items per bench, (default, --quick); each bench also handles some first, not measured
SIZES = {
    "cpu-4.7.5": ((200, 10), (60, 10)),
    "cpu-6.1": ((60, 5), (10, 3)),
    "peer-import": ((50, 10), (20, 10)),
    "peer-export": ((200, 10), (40, 10)),
}


def benches(args: argparse.Namespace) -> list[Bench]:
    def size(name: str) -> tuple[str, ...]:
        items, warmup = SIZES[name][1 if args.quick else 0]
        return ("--items", str(items), "--warmup", str(warmup), "--rounds", "1")

    return [
        Bench("cpu-4.7.5", "bench_cpu.py", (*size("cpu-4.7.5"), "--server", f"x={args.fedora47}")),
        Bench("cpu-6.1", "bench_cpu.py", (*size("cpu-6.1"), "--server", f"x={args.fedora6}")),
        Bench(
            "peer-import", "bench_peer_import.py", (*size("peer-import"), "--url", args.fedora47)
        ),
        Bench(
            "peer-export", "bench_peer_export.py", (*size("peer-export"), "--url", args.fedora47)
        ),
    ]


def run_bench(bench: Bench, side: Side, logs: Path, n: int, timeout: float) -> float:
    """One bench on one side (its figures in LOGS/<n>-<side>-<bench>.json); its time."""
    out = logs / f"{n}-{side.name}-{bench.name}.json"
    log = logs / f"{n}-{side.name}-{bench.name}.log"
    env = {**os.environ, "PYTHONPATH": str(side.root / "src")}
    command = [sys.executable, str(BENCH / bench.script), *bench.args, "--json", str(out)]
    started = time.monotonic()
    with log.open("w") as f:
        f.write(" ".join(command) + "\n")
        f.flush()
        try:
            done = subprocess.run(
                command, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False
            )
            failed = done.returncode != 0
        except subprocess.TimeoutExpired:
            f.write(f"\n(timed out after {timeout:.0f} s)\n")
            failed = True
    elapsed = time.monotonic() - started
    if failed or not out.exists():
        tail = log.read_text()[-1500:]
        print(f"    {side.name} {bench.name} FAILED ({log}):\n{tail}", flush=True)
    return elapsed


def collect(logs: Path) -> tuple[list[Side], dict[tuple[str, str], list[dict[str, Any]]]]:
    """The sides and every bench's figures kept in *logs*, by (side, bench)."""
    sides = [
        Side(name, label, logs) for name, label in json.loads((logs / "sides.json").read_text())
    ]
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(logs.glob("*.json")):
        if path.name != "sides.json":
            _, side, bench = path.stem.split("-", 2)
            results.setdefault((side, bench), []).append(json.loads(path.read_text()))
    return sides, results


def check_side(side: Side) -> None:
    """Exit unless `import plastrond` with this side's PYTHONPATH finds this side's code."""
    env = {**os.environ, "PYTHONPATH": str(side.root / "src")}
    found = subprocess.run(
        [sys.executable, "-c", "import plastrond; print(plastrond.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    ).stdout.strip()
    if not found.startswith(str(side.root / "src")):
        sys.exit(f"{side.name}: plastrond comes from {found or '(nowhere)'}, not {side.root}/src")


def span(values: Iterable[float], digits: int = 1) -> str:
    """'median (min-max)', or the one value, or '-'."""
    xs = [x for x in values if x == x]  # drop NaN
    if not xs:
        return "-"
    m = f"{statistics.median(xs):.{digits}f}"
    if len(xs) > 1:
        m += f" ({min(xs):.{digits}f}-{max(xs):.{digits}f})"
    return m


def table(sides: list[Side], results: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    servers = (("4.7.5", "cpu-4.7.5"), ("6.1", "cpu-6.1"))
    peers = {"import": "peer-import", "export": "peer-export"}
    print(
        "| side | Fedora | command | daemon CPU ms/item | Fedora CPU ms/item | daemon/Fedora "
        "| speed vs upstream 4.8.1 | upstream CPU ms/item |"
    )
    print("|---|---|---|---|---|---|---|---|")
    daemon: dict[tuple[str, str, str], list[float]] = {}
    for side in sides:
        for fedora, bench in servers:
            for command in ("import", "export"):
                # bench_cpu's figures for its one server, whatever its name
                cpu = [s[command] for r in results.get((side.name, bench), []) for s in r.values()]
                daemon[side.name, fedora, command] = [c["daemon_ms"] for c in cpu]
                peer = results.get((side.name, peers[command]), []) if fedora == "4.7.5" else []
                print(
                    f"| {side.name} ({side.label}) | {fedora} | {command} "
                    f"| {span(c['daemon_ms'] for c in cpu)} "
                    f"| {span(c['fedora_ms'] for c in cpu)} "
                    f"| {span((c['ratio'] for c in cpu), 2)} "
                    f"| {span((p['ratio'] for p in peer), 2)}{'x' if peer else ''} "
                    f"| {span(1000 * p['upstream_cpu'] for p in peer)} |"
                )
    if len(sides) == 2:
        a, b = sides
        parts = []
        for fedora, _ in servers:
            for command in ("import", "export"):
                x, y = daemon[a.name, fedora, command], daemon[b.name, fedora, command]
                if x and y:
                    parts.append(
                        f"{fedora} {command} {statistics.median(y) / statistics.median(x):.2f}"
                    )
        if parts:
            print(f"\ndaemon CPU per item, {b.name} / {a.name} (medians): " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=(
            "Takes about 30-40 minutes on the 2-CPU development machine; with --quick (fewer "
            "items) 9-15 minutes (9 at load average 10-19). Needs Fedora 4.7.5, Fedora 6.1 "
            "and ActiveMQ running."
        ),
    )
    parser.add_argument("--before", default="75498e8", help="git revision (default 75498e8)")
    parser.add_argument("--after", help="git revision (default: this working tree)")
    parser.add_argument(
        "--quick", action="store_true", help="fewer items: 9-15 minutes instead of 30-40"
    )
    parser.add_argument("--repeats", type=int, default=2, help="turns of each side (default 2)")
    parser.add_argument("--fedora47", default="http://127.0.0.1:8090/rest")
    parser.add_argument("--fedora6", default="http://127.0.0.1:8080/fcrepo/rest")
    parser.add_argument(
        "--only",
        action="append",
        help="run only these benches (cpu-4.7.5, cpu-6.1, peer-import, peer-export; repeatable)",
    )
    parser.add_argument("--logs", type=Path, help="folder for each bench's output")
    parser.add_argument(
        "--table", type=Path, metavar="LOGS", help="only print the table of an earlier run's logs"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds for one bench run (default 900)"
    )
    args = parser.parse_args()
    if args.table:
        table(*collect(args.table))
        return
    logs = args.logs or Path(tempfile.mkdtemp(prefix="before-after-"))
    logs.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="before-after-trees-"))
    started = time.monotonic()
    try:
        before = Side("before", describe(args.before), unpack(args.before, scratch / "before"))
        if args.after:
            after = Side("after", describe(args.after), unpack(args.after, scratch / "after"))
        else:
            after = Side("after", f"working tree at {describe('HEAD')}", TREE)
        sides = [before, after]
        for side in sides:
            check_side(side)
        todo = [b for b in benches(args) if not args.only or b.name in args.only]
        (logs / "sides.json").write_text(json.dumps([[s.name, s.label] for s in sides]))
        print(
            f"before: {before.label}; after: {after.label}; {args.repeats} repeats of "
            f"{', '.join(b.name for b in todo)}; load average {os.getloadavg()[0]:.1f}; "
            f"logs in {logs}",
            flush=True,
        )
        for n in range(args.repeats):
            order = sides if n % 2 == 0 else sides[::-1]
            for bench in todo:
                for side in order:
                    elapsed = run_bench(bench, side, logs, n, args.timeout)
                    print(
                        f"  [{time.strftime('%H:%M:%S')}] repeat {n + 1} {side.name:6} "
                        f"{bench.name:12} {elapsed:5.0f} s  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    print(
        f"\n{args.repeats} repeats in {minutes:.1f} minutes; load average "
        f"{os.getloadavg()[0]:.1f} at the end; median (range) over the repeats:"
    )
    table(*collect(logs))


if __name__ == "__main__":
    main()

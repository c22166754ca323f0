"""CPU per item of an import and of an export: the daemon's against Fedora's, in the same run.

Run: python bench/bench_cpu.py [--items N] [--rounds R] [--warmup N] [--server NAME=URL ...]
     [--profile DIR] [--json FILE] [--user U --password P]

Needs the running Fedoras (by default both, `fcrepo6` and `fcrepo47`, as in bench_import.py; a
server that does not answer is skipped). Each round imports N items (default 200) of
bench_import.py's workload (one page of a TIFF and a JPG, 2 KiB each) into a container of its
own at the default concurrency, then exports those N items (Turtle with binaries, to a local
ZIP, the default concurrency), both in this process as the runner drives them. Measured around
each command: this process's CPU time (`time.process_time`: every thread, so work moved to a
worker thread still counts) and the Fedora `java` process's (utime + stime of /proc/<pid>/stat);
CPU time, not wall time, because the machine is shared and loaded. Printed per round and as the
median over the rounds: daemon and Fedora CPU in ms per item and daemon / Fedora (the goal of
issue 27: at most 0.25 on both commands).

`--profile DIR` also runs each measured command under cProfile and writes
`DIR/<server>-<command>-<round>.prof`, timed by the trio thread's CPU time (worker threads are
not in it; the figures then include the profiler's own cost: read the ratios from a run
without it).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import attrs
import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import (
    SERVERS,
    answers,
    config_for,
    cpu_seconds,
    fedora_pid,
    make_csv,
    make_workload,
    requests_sent,
)

from plastrond.commands import get_command
from plastrond.config import Config, ExportConfig
from plastrond.jobs import JobContext, JobRequest, JobResult
from plastrond.jobs.runner import run_command
from plastrond.repository import RepositoryClient


@attrs.frozen
class Cpu:
    items: int
    requests: int
    daemon: float
    fedora: float
    seconds: float = 0.0  # wall time

    @property
    def ratio(self) -> float:
        return self.daemon / self.fedora if self.fedora else float("nan")


async def run_measured(
    args: argparse.Namespace, config: Config, url: str, request: JobRequest, profile: Path | None
) -> tuple[JobResult, Cpu]:
    """Run *request* as the runner does; what it cost this process and Fedora (CPU seconds),
    and how many requests it sent (as the client counts them: it keeps its own transport).
    *profile*: see the module."""
    requests_before = requests_sent()
    pid = fedora_pid(url)
    # timed by this thread's CPU time: a wall-clock profile on a loaded machine counts the waits
    profiler = cProfile.Profile(time.thread_time) if profile else None
    log = logging.getLogger("bench.cpu")
    async with RepositoryClient(config.repository) as repo:
        ctx = JobContext(request=request, config=config, log=log, repository_client=repo)
        command = get_command(request.command)
        fedora_before = cpu_seconds(pid)
        daemon_before = time.process_time()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = await run_command(command, ctx)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        daemon = time.process_time() - daemon_before
        fedora = cpu_seconds(pid) - fedora_before
    if profiler and profile:
        profiler.dump_stats(profile)
    assert result is not None and isinstance(result.body, dict), result
    return result, Cpu(0, requests_sent() - requests_before, daemon, fedora, elapsed)


async def import_items(
    args: argparse.Namespace,
    url: str,
    work: Path,
    first: int,
    count: int,
    profile: Path | None = None,
) -> tuple[Cpu, list[str]]:
    config = config_for(args, url, work, 4)
    parent = f"{url.rstrip('/')}/bench-cpu-{uuid.uuid4()}"
    with httpx.Client(auth=(args.user, args.password), timeout=60) as admin:
        admin.put(parent, headers={"Content-Type": "text/turtle"}).raise_for_status()
    tag = uuid.uuid4().hex[:8]
    request = JobRequest(
        job_id=f"bench-cpu-{tag}",
        command="import",
        args={"model": "Item", "binaries-location": str(work / "files"), "container": parent},
        body=make_csv(first, count, tag),
    )
    result, cpu = await run_measured(args, config, url, request, profile)
    assert isinstance(result.body, dict)
    counts = result.body["count"]
    if result.state != "import_complete" or counts["created"] != count:
        sys.exit(f"import into {url} failed: {result.state} {counts} {result.error}")
    with (work / "jobs" / request.job_id / "completed.log.csv").open(newline="") as f:
        uris = [row["uri"] for row in csv.DictReader(f)]
    return attrs.evolve(cpu, items=count), uris


async def export_items(
    args: argparse.Namespace, url: str, work: Path, uris: list[str], profile: Path | None = None
) -> Cpu:
    config = config_for(args, url, work, 4)
    out = work / "exports"
    out.mkdir(exist_ok=True)
    config = attrs.evolve(
        config,
        commands=attrs.evolve(config.commands, export=ExportConfig(allowed_output_dirs=(out,))),
    )
    target = out / f"export-{uuid.uuid4().hex[:8]}.zip"
    request = JobRequest(
        job_id=f"bench-cpu-export-{uuid.uuid4().hex[:8]}",
        command="export",
        args={"output-dest": str(target), "export-binaries": "true", "format": "text/turtle"},
        body="\n".join(uris).encode(),
    )
    result, cpu = await run_measured(args, config, url, request, profile)
    assert isinstance(result.body, dict)
    counts = result.body["count"]
    if result.state != "export_complete" or counts.get("exported") != len(uris):
        sys.exit(f"export from {url} failed: {result.state} {counts} {result.error}")
    target.unlink()
    return attrs.evolve(cpu, items=len(uris))


def line(label: str, m: Cpu) -> str:
    return (
        f"  {label:18} {m.requests / m.items:5.1f} requests/item  daemon CPU "
        f"{1000 * m.daemon / m.items:6.1f} ms/item  Fedora CPU {1000 * m.fedora / m.items:6.1f} "
        f"ms/item  daemon/Fedora {m.ratio:5.2f}"
    )


async def bench_server(
    args: argparse.Namespace, name: str, url: str, work: Path
) -> dict[str, dict[str, float]]:
    """Print the rounds on *url* and their medians; return the medians per command: daemon
    and Fedora CPU in ms per item, and their ratio."""
    # Warm-up: modules, vocabularies, the pool, Fedora's JIT; not measured.
    _, uris = await import_items(args, url, work, args.items, args.warmup)
    await export_items(args, url, work, uris)
    print(f"{name} ({url}):")
    results: dict[str, list[Cpu]] = {"import": [], "export": []}
    for r in range(args.rounds):

        def prof(command: str, r: int = r) -> Path | None:
            return args.profile / f"{name}-{command}-{r}.prof" if args.profile else None

        imported, uris = await import_items(args, url, work, 0, args.items, prof("import"))
        exported = await export_items(args, url, work, uris, prof("export"))
        results["import"].append(imported)
        results["export"].append(exported)
        print(line(f"round {r + 1} import", imported))
        print(line(f"round {r + 1} export", exported))
    medians: dict[str, dict[str, float]] = {}
    for command, ms in results.items():
        median = Cpu(
            ms[0].items,
            ms[0].requests,
            statistics.median(m.daemon for m in ms),
            statistics.median(m.fedora for m in ms),
        )
        ratios = ", ".join(f"{m.ratio:.2f}" for m in ms)
        print(line(f"median {command}", median) + f"  (rounds: {ratios}; goal <= 0.25)")
        medians[command] = {
            "daemon_ms": 1000 * median.daemon / median.items,
            "fedora_ms": 1000 * median.fedora / median.items,
            "ratio": median.ratio,
        }
    return medians


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", metavar="NAME=URL")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", type=Path, help="write cProfile stats into this folder")
    parser.add_argument("--json", type=Path, help="also write the medians into this file")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    servers = dict(s.split("=", 1) for s in args.server) if args.server else dict(SERVERS)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {args.items} items (one page of a TIFF and a JPG each), "
        f"{args.rounds} rounds"
    )
    figures: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as name:
        work = Path(name)
        make_workload(work, args.items + args.warmup)
        for server, url in servers.items():
            if not answers(args, url):
                print(f"{server} ({url}): does not answer, skipped")
                continue
            figures[server] = await bench_server(args, server, url, work)
    print(f"load average after {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    trio.run(main)

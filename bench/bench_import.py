"""The import command with files, on each Fedora: items/s, HTTP requests per item, and the CPU
the daemon and Fedora spend per item, one item at a time and at the default concurrency.

Run: python bench/bench_import.py [--quick] [--items N] [--warmup N]
     [--server NAME=URL ...] [--user U --password P]

Needs the running Fedoras (`services/fedora.sh start`, `services/fedora47.sh start`); by
default both are measured, `fcrepo6=http://127.0.0.1:8080/fcrepo/rest` and
`fcrepo47=http://127.0.0.1:8090/rest` (a server that does not answer is skipped, saying so).
Workload: a metadata CSV of N items (default 200) of the Item model, each with one page of a
TIFF and a JPG (`<n>.tif`, `<n>.jpg`, 2 KiB each) in a local binaries folder, created as the
command creates them: item, page, files and proxy in one transaction, in the nested layout,
each resource created before it is linked (see `plastrond.imports.items`). The import runs
in-process (the `import` command driven as the runner drives it, with the daemon's
RepositoryClient settings), once with `MAX_CONCURRENT_ITEMS: 1` and once with the default (4),
into a container of its own each time; the two alternate in halves (1, default, 1, default) so
that Fedora's slow moments fall on both alike.

Printed per server and concurrency: items/s, requests per item (every HTTP request, the
transaction's own included), and CPU per item in milliseconds for this process (the daemon's
work: CSV, validation, hashing, HTTP) and for Fedora (its `java` process, found by its port
in /proc, when it runs on this machine); then the ratio of the default to one at a time.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import attrs
import httpx
import trio

from plastrond import metrics
from plastrond.commands import get_command
from plastrond.config import (
    CommandsConfig,
    Config,
    ContentModelsConfig,
    HttpServerConfig,
    ImportConfig,
    RepositoryConfig,
    SolrConfig,
)
from plastrond.jobs import JobContext, JobRequest
from plastrond.jobs.runner import run_command
from plastrond.repository import RepositoryClient

RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#"
HEADER = ["Identifier", "Title", "Object Type", "Rights Statement", "Date", "Creator", "FILES"]
SERVERS = {
    "fcrepo6": "http://127.0.0.1:8080/fcrepo/rest",
    "fcrepo47": "http://127.0.0.1:8090/rest",
}


def requests_sent() -> int:
    """Requests to Fedora answered so far in this process, as the repository client counts
    them (`plastrond_repository_requests_total`, every method and status). A bench reads it
    before and after a command instead of passing the client a counting transport of its own,
    so that the client keeps the transport it chooses (the one under test)."""
    return int(
        sum(
            sample.value
            for family in metrics.REPOSITORY_REQUESTS.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        )
    )


def fedora_pid(url: str) -> int | None:
    """The process id of the local Fedora serving *url* (Linux /proc: a java process with
    `fcrepo` and `--port <port>` in its command line), or None."""
    port = httpx.URL(url).port or 80
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"java" in words[0] and any(b"fcrepo" in w for w in words):
            ports = [words[i + 1] for i, w in enumerate(words[:-1]) if w == b"--port"]
            if not ports or ports[0] == str(port).encode():
                return int(entry.name)
    return None


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_csv(first: int, count: int, tag: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(first, first + count):
        writer.writerow(
            [
                f"bench-{tag}-{n}",
                f"Benchmark item {n}",
                "http://purl.org/dc/dcmitype/Image",
                f"{RIGHTS}InC",
                "1945-05",
                f"Creator {n}",
                f"{n}.tif;{n}.jpg",
            ]
        )
    return out.getvalue().encode("utf-8")


def make_files(folder: Path, total: int) -> None:
    for n in range(total):
        (folder / f"{n}.tif").write_bytes(b"II*\x00" + os.urandom(2044))
        (folder / f"{n}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2044))


def make_workload(work: Path, total: int) -> None:
    """*total* items' files in `work/files`, and the rights vocabulary `config_for` names."""
    (work / "files").mkdir()
    make_files(work / "files", total)
    (work / "rights.ttl").write_text(
        f'<{RIGHTS}InC> <http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .\n'
    )


def config_for(args: argparse.Namespace, url: str, work: Path, concurrency: int) -> Config:
    rights = work / "rights.ttl"
    return Config(
        path=Path("/dev/null"),
        repository=RepositoryConfig(
            rest_endpoint=url.rstrip("/"),
            relpath="/",
            log_dir=work,
            fedora_user=args.user,
            fedora_password=args.password,
        ),
        message_broker=None,
        commands=CommandsConfig(
            import_=ImportConfig(
                jobs_dir=work / "jobs",
                allowed_binaries_dirs=(work,),
                max_concurrent_items=concurrency,
            )
        ),
        http_server=HttpServerConfig(),
        solr=SolrConfig(),
        content_models=ContentModelsConfig(vocabularies={RIGHTS: str(rights)}),
    )


@attrs.define
class Measure:
    seconds: float = 0.0
    items: int = 0
    requests: int = 0
    daemon_cpu: float = 0.0
    fedora_cpu: float = 0.0

    def add(self, other: Measure) -> None:
        self.seconds += other.seconds
        self.items += other.items
        self.requests += other.requests
        self.daemon_cpu += other.daemon_cpu
        self.fedora_cpu += other.fedora_cpu


async def run_once(
    args: argparse.Namespace, url: str, work: Path, concurrency: int, first: int, count: int
) -> Measure:
    """One import of *count* items into a container of its own on *url*."""
    config = config_for(args, url, work, concurrency)
    parent = f"{url.rstrip('/')}/bench-import-{uuid.uuid4()}"
    with httpx.Client(auth=(args.user, args.password), timeout=60) as admin:
        admin.put(parent, headers={"Content-Type": "text/turtle"}).raise_for_status()
    tag = uuid.uuid4().hex[:8]
    request = JobRequest(
        job_id=f"bench-import-{tag}",
        command="import",
        args={
            "model": "Item",
            "binaries-location": str(work / "files"),
            "container": parent,
        },
        body=make_csv(first, count, tag),
    )
    requests_before = requests_sent()
    async with RepositoryClient(config.repository) as repo:
        ctx = JobContext(
            request=request,
            config=config,
            log=logging.getLogger("bench.import"),
            repository_client=repo,
        )
        pid = fedora_pid(url)
        fedora_before = cpu_seconds(pid)
        daemon_before = time.process_time()
        started = time.perf_counter()
        result = await run_command(get_command("import"), ctx)
        elapsed = time.perf_counter() - started
        daemon_cpu = time.process_time() - daemon_before
        fedora_cpu = cpu_seconds(pid) - fedora_before
    assert result is not None and isinstance(result.body, dict), result
    counts = result.body["count"]
    if result.state != "import_complete" or counts["created"] != count:
        sys.exit(f"import into {url} failed: {result.state} {counts} {result.error}")
    return Measure(
        elapsed, counts["created"], requests_sent() - requests_before, daemon_cpu, fedora_cpu
    )


def answers(args: argparse.Namespace, url: str) -> bool:
    try:
        with httpx.Client(auth=(args.user, args.password), timeout=10) as client:
            return client.get(url + "/", headers={"Accept": "text/turtle"}).status_code == 200
    except httpx.HTTPError:
        return False


async def bench_server(
    args: argparse.Namespace, url: str, work: Path, total: int
) -> dict[int, Measure]:
    half = total // 2
    # Warm-up: vocabularies, the connection pool, Fedora's JIT and its node types.
    await run_once(args, url, work, 4, total, args.warmup)
    results = {1: Measure(), 4: Measure()}
    for first in (0, half):
        for concurrency in (1, 4):
            results[concurrency].add(
                await run_once(args, url, work, concurrency, first, total - half if first else half)
            )
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server",
        action="append",
        metavar="NAME=URL",
        help="a Fedora to measure (repeatable; default: " + ", ".join(SERVERS) + ")",
    )
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="60 items instead of 200")
    parser.add_argument(
        "--warmup", type=int, default=20, help="items imported first, not measured (default 20)"
    )
    args = parser.parse_args()
    servers = dict(s.split("=", 1) for s in args.server) if args.server else dict(SERVERS)
    total = 60 if args.quick else args.items
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {total} items, "
        "each one page of a TIFF and a JPG"
    )
    with tempfile.TemporaryDirectory(prefix="bench-import-") as name:
        work = Path(name)
        make_workload(work, total + args.warmup)
        for server, url in servers.items():
            if not answers(args, url):
                print(f"{server} ({url}): does not answer, skipped")
                continue
            results = await bench_server(args, url, work, total)
            print(f"{server} ({url}):")
            for concurrency, m in results.items():
                label = "1 at a time" if concurrency == 1 else f"{concurrency} at a time (default)"
                fedora = (
                    f"  Fedora CPU {1000 * m.fedora_cpu / m.items:6.1f} ms/item"
                    if m.fedora_cpu
                    else ""
                )
                print(
                    f"  {label:24} {m.items / m.seconds:6.1f} items/s  "
                    f"{m.requests / m.items:5.1f} requests/item  "
                    f"daemon CPU {1000 * m.daemon_cpu / m.items:6.1f} ms/item{fedora}"
                )
            rate = {c: m.items / m.seconds for c, m in results.items()}
            print(f"  ratio default / 1 at a time: {rate[4] / rate[1]:.2f}x")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    trio.run(main)

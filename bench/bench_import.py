"""The import command: items per second one at a time and at the default concurrency.

Run: python bench/bench_import.py [--quick] [--items N] [--warmup N] [--url URL]
     [--user U --password P]

Needs a running Fedora (`services/fedora.sh start`; the default URL is the one it serves).
Workload: a metadata CSV of N items (default 500) of the Item model, each with two small files
(`<n>-1.jpg` and `<n>-2.jpg`, 2 KiB each, so two pages per item) in a local binaries folder.
Each item is created as the command creates it: item, pages, files and proxies in one
transaction. The import runs in-process (the `import` command driven as the runner drives it,
with the daemon's RepositoryClient settings), once with `MAX_CONCURRENT_ITEMS: 1` and once with
the default (4), into a container of its own each time.

Printed: items/s and requests/s for both, and the ratio (goal: >= 3x). The two runs alternate
in halves (1, default, 1, default) so that Fedora's slow moments fall on both alike. When Fedora
runs on this machine (a `java` process with `fcrepo` and the URL's port in its command line),
the CPU it used is shown too, in cores: with both on one machine, the ratio cannot exceed the
CPUs Fedora can get over what one item at a time makes it use.
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

import httpx
import trio

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


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
        )
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


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
                f"{n}-1.jpg;{n}-2.jpg",
            ]
        )
    return out.getvalue().encode("utf-8")


def make_files(folder: Path, total: int) -> None:
    for n in range(total):
        for page in (1, 2):
            (folder / f"{n}-{page}.jpg").write_bytes(os.urandom(2048))


def config_for(args: argparse.Namespace, work: Path, concurrency: int) -> Config:
    rights = work / "rights.ttl"
    return Config(
        path=Path("/dev/null"),
        repository=RepositoryConfig(
            rest_endpoint=args.url.rstrip("/"),
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


async def run_once(
    args: argparse.Namespace, work: Path, concurrency: int, first: int, count: int
) -> tuple[float, int, int, float]:
    """(seconds, items created, requests sent, Fedora CPU seconds) of one import."""
    config = config_for(args, work, concurrency)
    parent = f"{args.url.rstrip('/')}/bench-import-{uuid.uuid4()}"
    with httpx.Client(auth=(args.user, args.password), timeout=60) as admin:
        admin.put(parent, headers={"Content-Type": "text/turtle"}).raise_for_status()
    transport = CountingTransport()
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
    async with RepositoryClient(config.repository, transport=transport) as repo:
        ctx = JobContext(
            request=request,
            config=config,
            log=logging.getLogger("bench.import"),
            repository_client=repo,
        )
        pid = fedora_pid(args.url)
        fedora_before = cpu_seconds(pid)
        started = time.perf_counter()
        result = await run_command(get_command("import"), ctx)
        elapsed = time.perf_counter() - started
        fedora_cpu = cpu_seconds(pid) - fedora_before
    assert result is not None and isinstance(result.body, dict), result
    counts = result.body["count"]
    if result.state != "import_complete" or counts["created"] != count:
        sys.exit(f"import failed: {result.state} {counts} {result.error}")
    return elapsed, counts["created"], transport.count, fedora_cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/fcrepo/rest")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="100 items instead of 500")
    parser.add_argument(
        "--warmup", type=int, default=20, help="items imported first, not measured (default 20)"
    )
    args = parser.parse_args()
    total = 100 if args.quick else args.items
    half = total // 2
    with tempfile.TemporaryDirectory(prefix="bench-import-") as name:
        work = Path(name)
        (work / "files").mkdir()
        make_files(work / "files", max(total, args.warmup))
        (work / "rights.ttl").write_text(
            f'<{RIGHTS}InC> <http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .\n'
        )
        # Warm-up: vocabularies, the connection pool, Fedora's JIT.
        await run_once(args, work, 4, 0, args.warmup)
        results: dict[int, list[tuple[float, int, int, float]]] = {1: [], 4: []}
        for first in (0, half):
            for concurrency in (1, 4):
                results[concurrency].append(
                    await run_once(args, work, concurrency, first, total - half if first else half)
                )
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {total} items x 2 files")
    rates = {}
    for concurrency, runs in results.items():
        seconds = sum(r[0] for r in runs)
        items = sum(r[1] for r in runs)
        requests = sum(r[2] for r in runs)
        fedora = sum(r[3] for r in runs)
        rates[concurrency] = items / seconds
        label = "1 at a time" if concurrency == 1 else f"{concurrency} at a time (default)"
        print(
            f"  {label:24} {seconds:7.2f} s  {items / seconds:6.1f} items/s  "
            f"{requests / seconds:6.1f} requests/s  ({requests / items:.1f} requests/item)"
            + (f"  Fedora CPU {fedora / seconds:.2f} cores" if fedora else "")
        )
    print(f"  ratio: {rates[4] / rates[1]:.2f}x (goal >= 3x)")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    trio.run(main)

"""Reconciling an import job with the repository (`plastrond.imports.reconcile`), on each
Fedora: items/s and requests per item of the full check and of the resume's existence check,
against the import that made the items.

Run: python bench/bench_reconcile.py [--items N] [--server NAME=URL ...]
     [--user U --password P]

Needs the running Fedoras (default: both of `bench_import.SERVERS`; one that does not answer
is skipped). Workload: `bench_import`'s, N items (default 200), each with one page of a TIFF
and a JPG, imported in-process at the default concurrency into a container of their own; then
`reconcile_job` (every item, page and file description read back, the container listed) and
`missing_items` (one HEAD per item, what `resume: true` asks) are run on the job, each twice,
the better run kept. Printed: items/s and requests/item of each, and the ratio of the import's
time to each check's.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import trio
from bench_import import (
    RIGHTS,
    SERVERS,
    answers,
    config_for,
    make_csv,
    make_files,
    requests_sent,
)

from plastrond.commands import get_command
from plastrond.imports.reconcile import missing_items, reconcile_job
from plastrond.jobfolders import JobFolder
from plastrond.jobs import JobContext, JobRequest
from plastrond.jobs.runner import run_command
from plastrond.repository import RepositoryClient


async def bench_server(args: argparse.Namespace, url: str, work: Path, total: int) -> None:
    config = config_for(args, url, work, 4)
    parent = f"{url.rstrip('/')}/bench-reconcile-{uuid.uuid4()}"
    with httpx.Client(auth=(args.user, args.password), timeout=60) as admin:
        admin.put(parent, headers={"Content-Type": "text/turtle"}).raise_for_status()
    job_id = f"bench-reconcile-{uuid.uuid4().hex[:8]}"
    request = JobRequest(
        job_id=job_id,
        command="import",
        args={"model": "Item", "binaries-location": str(work / "files"), "container": parent},
        body=make_csv(0, total, job_id),
    )
    requests_before = requests_sent()
    async with RepositoryClient(config.repository) as repo:
        ctx = JobContext(
            request=request,
            config=config,
            log=logging.getLogger("bench.reconcile"),
            repository_client=repo,
        )
        started = time.perf_counter()
        result = await run_command(get_command("import"), ctx)
        imported = time.perf_counter() - started
        assert result is not None and isinstance(result.body, dict), result
        import_requests = requests_sent() - requests_before
        done = JobFolder(config.commands.import_.jobs_dir, job_id).read_completed()
        created = len(done)
        if created < total:  # a row that failed is not among the items checked
            print(f"  ({result.state}: {created} of {total} items created)")

        best: dict[str, tuple[float, int]] = {}
        for _ in range(2):
            for name in ("reconcile", "resume check"):
                counted = requests_sent()
                started = time.perf_counter()
                if name == "reconcile":
                    outcome = await reconcile_job(config, repo, job_id)
                    assert outcome.clean and outcome.checked == created, outcome.text()
                else:
                    assert await missing_items(repo, done.values()) == set()
                took = time.perf_counter() - started
                if name not in best or took < best[name][0]:
                    best[name] = (took, requests_sent() - counted)
    print(f"{url}:")
    print(
        f"  {'import':14} {created / imported:7.1f} items/s  "
        f"{import_requests / created:5.1f} requests/item"
    )
    for name, (took, requests) in best.items():
        print(
            f"  {name:14} {created / took:7.1f} items/s  {requests / created:5.1f} requests/item  "
            f"({imported / took:.1f}x the import's speed)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", metavar="NAME=URL")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    servers = dict(s.split("=", 1) for s in args.server) if args.server else dict(SERVERS)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {args.items} items")
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as name:
        work = Path(name)
        (work / "files").mkdir()
        make_files(work / "files", args.items)
        (work / "rights.ttl").write_text(
            f'<{RIGHTS}InC> <http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .\n'
        )
        for server, url in servers.items():
            if not answers(args, url):
                print(f"{server} ({url}): does not answer, skipped")
                continue
            await bench_server(args, url, work, args.items)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    trio.run(main)

"""The export command: concurrent against sequential, and memory with a very large binary.

Run: python bench/bench_export.py [--quick] [--items N] [--rounds R] [--concurrency C]
                                  [--big-mb MB] [--url URL] [--user U --password P]

Needs a running Fedora (`services/fedora.sh start`). It makes, in a parent container of its
own (removed at the end), N items (default 200) of two pages with one 64 KiB binary each, and
one more item whose page holds a binary of --big-mb MiB (default 500).

Every export runs the real `export` command (Turtle, binaries included, to a local ZIP) in a
fresh child process, so that each starts alike and reports its own peak RSS:
1. sequential: `MAX_CONCURRENT_ITEMS: 1` (one item, one request at a time);
2. concurrent: `MAX_CONCURRENT_ITEMS: C` (default 8), the same code;
taking turns for R rounds (default 2); then
3. the N items plus the large one, concurrent, for the peak memory.

Printed: the speed-up of concurrent over sequential (wall time of the export itself, not of the
child's start-up), items/s and MB/s, and the peak RSS of the large export against the one
without the large binary (goal: flat, under 150 MB). Ratios come from one run, so they compare
across machines; absolute figures are for context.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import trio
from rdflib import Graph, Literal, URIRef

from plastrond.config import (
    CommandsConfig,
    Config,
    ExportConfig,
    HttpServerConfig,
    RepositoryConfig,
    SolrConfig,
)
from plastrond.repository import RepositoryClient

PCDM = "http://pcdm.org/models#"
DC = "http://purl.org/dc/terms/"
FABIO = "http://purl.org/spar/fabio/"
RDF_TYPE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
SMALL = os.urandom(64 * 1024)


def repo_config(args: argparse.Namespace) -> RepositoryConfig:
    return RepositoryConfig(
        rest_endpoint=args.url.rstrip("/"),
        relpath="/",
        log_dir=Path(tempfile.gettempdir()),
        fedora_user=args.user,
        fedora_password=args.password,
        timeout=120.0,
    )


# --------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------


def _item_graph(n: int) -> Graph:
    g = Graph()
    me = URIRef("")
    g.add((me, RDF_TYPE, URIRef(PCDM + "Object")))
    g.add((me, URIRef(DC + "title"), Literal(f"Benchmark item {n}")))
    g.add((me, URIRef(DC + "identifier"), Literal(f"bench-export-{n}")))
    return g


def _page_graph(n: int, item: str) -> Graph:
    g = Graph()
    me = URIRef("")
    g.add((me, RDF_TYPE, URIRef(PCDM + "Object")))
    g.add((me, RDF_TYPE, URIRef(FABIO + "Page")))
    g.add((me, URIRef(DC + "title"), Literal(f"Page {n}")))
    g.add((me, URIRef(FABIO + "hasSequenceIdentifier"), Literal(str(n))))
    g.add((me, URIRef(PCDM + "memberOf"), URIRef(item)))
    return g


async def make_item(
    repo: RepositoryClient, parent: str, n: int, binaries: list[tuple[str, bytes | Path]]
) -> str:
    item = await repo.create_container(parent, _item_graph(n))
    members = []
    for p, (filename, content) in enumerate(binaries, start=1):
        page = await repo.create_container(item.uri, _page_graph(p, item.uri))
        made = await repo.create_binary(
            page.uri, content, filename=filename, mime_type="image/tiff"
        )
        await repo.update(page.uri, f"INSERT DATA {{ <> <{PCDM}hasFile> <{made.uri}> . }}")
        members.append(f"<> <{PCDM}hasMember> <{page.uri}> .")
    await repo.update(item.uri, f"INSERT DATA {{ {' '.join(members)} }}")
    return item.uri


async def make_content(args: argparse.Namespace, big_file: Path) -> tuple[str, list[str], str]:
    async with RepositoryClient(repo_config(args)) as repo:
        parent = (await repo.create_container(repo.root, slug=f"bench-export-{uuid.uuid4()}")).uri
        uris: list[str] = [""] * args.items
        limiter = trio.CapacityLimiter(8)

        async def one(n: int) -> None:
            async with limiter:
                files: list[tuple[str, bytes | Path]] = [
                    (f"p{k}.tif", n.to_bytes(4, "big") + bytes([k]) + SMALL[5:]) for k in (1, 2)
                ]
                uris[n] = await make_item(repo, parent, n, files)

        async with trio.open_nursery() as nursery:
            for n in range(args.items):
                nursery.start_soon(one, n)
        big = await make_item(repo, parent, args.items, [("big.tif", big_file)])
        return parent, uris, big


async def remove(args: argparse.Namespace, parent: str) -> None:
    async with RepositoryClient(repo_config(args)) as repo:
        await repo.delete(parent, purge=True)


# --------------------------------------------------------------------------------------------
# One export, in a child process
# --------------------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def child_export(job: dict[str, Any]) -> dict[str, Any]:
    from plastrond.commands import get_command
    from plastrond.jobs import JobContext, JobRequest
    from plastrond.jobs.runner import run_command
    from plastrond.models import current_models

    out = Path(job["out"])
    config = Config(
        path=Path("/dev/null"),
        repository=RepositoryConfig(**job["repository"]),
        message_broker=None,
        commands=CommandsConfig(
            export=ExportConfig(
                allowed_output_dirs=(out.parent,), max_concurrent_items=job["concurrency"]
            )
        ),
        http_server=HttpServerConfig(),
        solr=SolrConfig(),
    )
    request = JobRequest(
        job_id="bench",
        command="export",
        args={"output-dest": str(out), "export-binaries": "true", "format": "text/turtle"},
        body="\n".join(job["uris"]).encode(),
    )
    # What a running daemon has done long before: the command modules imported, models read.
    command = get_command("export")
    await current_models(None)
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            samples.append(_rss_kib())

    sampler = threading.Thread(target=sample, daemon=True)
    async with RepositoryClient(config.repository) as repo:
        ctx = JobContext(
            request=request, config=config, log=logging.getLogger("bench"), repository_client=repo
        )
        before = _rss_kib()
        sampler.start()
        started = time.perf_counter()
        result = await run_command(command, ctx)
        elapsed = time.perf_counter() - started
        stop.set()
    assert result is not None and isinstance(result.body, dict), result
    return {
        "elapsed": elapsed,
        "state": result.state,
        "count": result.body["count"],
        "zip_bytes": out.stat().st_size,
        "rss_before_mib": before / 1024,
        "rss_peak_sampled_mib": max(samples or [0]) / 1024,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(args: argparse.Namespace, uris: list[str], concurrency: int, work: Path) -> dict:
    out = work / f"export-{uuid.uuid4().hex[:8]}.zip"
    job = {
        "repository": {
            "rest_endpoint": args.url.rstrip("/"),
            "relpath": "/",
            "log_dir": tempfile.gettempdir(),
            "fedora_user": args.user,
            "fedora_password": args.password,
            "timeout": 120.0,
        },
        "uris": uris,
        "concurrency": concurrency,
        "out": str(out),
    }
    job_file = work / "job.json"
    job_file.write_text(json.dumps(job))
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(job_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        env={**os.environ, "TMPDIR": str(work)},
    )
    if done.returncode != 0:
        raise SystemExit(f"export child failed:\n{done.stderr[-3000:]}")
    report: dict = json.loads(done.stdout.strip().splitlines()[-1])
    with zipfile.ZipFile(out) as zf:
        report["entries"] = len(zf.namelist())
    out.unlink()
    return report


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 items, a 50 MiB binary, 1 round")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--url", default="http://127.0.0.1:8080/fcrepo/rest")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(Path(args.child).read_text())
        print(json.dumps(trio.run(child_export, job)))
        return
    if args.quick:
        args.items, args.big_mb, args.rounds = 20, 50, 1

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, Fedora at {args.url}")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = Path(tmp)
        big_file = work / "big.tif"
        with big_file.open("wb") as f:
            block = os.urandom(1024 * 1024)
            for n in range(args.big_mb):
                f.write(n.to_bytes(4, "big") + block[4:])
        started = time.perf_counter()
        parent, uris, big = trio.run(make_content, args, big_file)
        big_file.unlink()
        print(
            f"made {args.items} items x 2 binaries of 64 KiB and one of {args.big_mb} MiB "
            f"in {time.perf_counter() - started:.1f} s"
        )
        try:
            seq: list[dict] = []
            conc: list[dict] = []
            for _ in range(args.rounds):
                seq.append(run_child(args, uris, 1, work))
                conc.append(run_child(args, uris, args.concurrency, work))
            large = run_child(args, [*uris, big], args.concurrency, work)
        finally:
            trio.run(remove, args, parent)

    for report in [*seq, *conc, large]:
        assert report["state"] == "export_complete", report
    t_seq = sum(r["elapsed"] for r in seq) / len(seq)
    t_conc = sum(r["elapsed"] for r in conc) / len(conc)
    payload_mb = args.items * 2 * len(SMALL) / 1e6

    def rounds(reports: list[dict]) -> str:
        return ", ".join(f"{r['elapsed']:.2f}" for r in reports)

    print(f"\n{args.items} items, 2 binaries each (Turtle + binaries, local ZIP):")
    print(
        f"  sequential (1 item at a time)   {t_seq:7.2f} s  {args.items / t_seq:6.1f} items/s  "
        f"{payload_mb / t_seq:6.1f} MB/s  rounds: {rounds(seq)}"
    )
    print(
        f"  concurrent ({args.concurrency} items at a time)   {t_conc:7.2f} s  "
        f"{args.items / t_conc:6.1f} items/s  {payload_mb / t_conc:6.1f} MB/s  "
        f"rounds: {rounds(conc)}"
    )
    print(f"  -> concurrent is {t_seq / t_conc:.2f}x faster than sequential")
    base_peak = max(r["maxrss_mib"] for r in conc)
    print(
        f"\nwith one more item holding a {args.big_mb} MiB binary ({args.concurrency} at a time):"
    )
    print(
        f"  export {large['elapsed']:.2f} s, ZIP {large['zip_bytes'] / 1e6:.0f} MB, "
        f"{(large['zip_bytes'] / 1e6) / large['elapsed']:.0f} MB/s"
    )
    print(
        f"  peak RSS {large['maxrss_mib']:.1f} MiB (sampled {large['rss_peak_sampled_mib']:.1f} "
        f"MiB, {large['rss_before_mib']:.1f} MiB before the export) against "
        f"{base_peak:.1f} MiB without it -> x{large['maxrss_mib'] / base_peak:.2f}; "
        f"goal < 150 MiB: {'met' if large['maxrss_mib'] < 150 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()

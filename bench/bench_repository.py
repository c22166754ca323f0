"""The repository client against a bare httpx loop, and sequential against concurrent.

Run: python bench/bench_repository.py [--quick] [--url URL] [--user U --password P]

Needs a running Fedora (`services/fedora.sh start`; the default URL is the one it serves).
Workload, per run: 500 small containers (POST of a three-triple graph with a Slug) and 100
binaries of 64 KiB (POST with Content-Type, Content-Disposition and a sha-256 Digest the server
verifies), each run in a parent container of its own so that runs never collide.

Three contenders, all under trio:
1. bare: an httpx.AsyncClient loop that sends the same requests (same headers, body bytes,
   Basic credentials and cookie policy), with the Turtle written by an f-string and the digest
   by hashlib. Nothing else.
2. client: `RepositoryClient`, one request after another, building each body from an rdflib
   Graph (as callers will).
3. client, concurrent: the same calls from a nursery, at most --concurrency at a time.

Bare and client run the same jobs taking turns in small batches (so that the server's slow
moments fall on both alike); the concurrent run follows in each round. Times are summed over
the rounds.

Printed: the client's overhead against bare in wall time (goal: within 10%), the ratio of CPU
time spent in this process (the client-side cost alone: Fedora runs in another process), and
the speed-up of the concurrent run over the sequential one. All are ratios of times measured in
the same run, so they compare across machines; absolute times are shown for context only.
"""

from __future__ import annotations

import argparse
import hashlib
import http.cookiejar
import os
import platform
import sys
import time
import uuid
from pathlib import Path

import httpx
import trio
from rdflib import Graph, Literal, URIRef

from plastrond.config import RepositoryConfig
from plastrond.repository import RepositoryClient

DC = "http://purl.org/dc/terms/"
PCDM_OBJECT = "http://pcdm.org/models#Object"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
BINARY = os.urandom(64 * 1024)


def graph_for(n: int) -> Graph:
    graph = Graph()
    me = URIRef("")
    graph.add((me, URIRef(RDF_TYPE), URIRef(PCDM_OBJECT)))
    graph.add((me, URIRef(DC + "title"), Literal(f"Benchmark item {n}", lang="en")))
    graph.add((me, URIRef(DC + "identifier"), Literal(f"bench-{n}")))
    return graph


def turtle_for(n: int) -> bytes:
    return (
        f"<> <{RDF_TYPE}> <{PCDM_OBJECT}> .\n"
        f'<> <{DC}title> "Benchmark item {n}"@en .\n'
        f'<> <{DC}identifier> "bench-{n}" .\n'
    ).encode()


def binary_for(n: int) -> bytes:
    return n.to_bytes(4, "big") + BINARY[4:]


def no_cookies() -> http.cookiejar.CookieJar:
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


async def bare_one(http: httpx.AsyncClient, parent: str, kind: str, n: int) -> None:
    if kind == "c":
        response = await http.post(
            parent,
            content=turtle_for(n),
            headers={"Content-Type": "text/turtle", "Slug": f"c{n}"},
        )
    else:
        data = binary_for(n)
        response = await http.post(
            parent,
            content=data,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="b{n}.bin"',
                "Digest": "sha-256=" + hashlib.sha256(data).hexdigest(),
                "Slug": f"b{n}",
            },
        )
    assert response.status_code == 201, response.text


async def client_one(repo: RepositoryClient, parent: str, kind: str, n: int) -> None:
    if kind == "c":
        await repo.create_container(parent, graph_for(n), slug=f"c{n}")
    else:
        await repo.create_binary(
            parent, binary_for(n), filename=f"b{n}.bin", mime_type="application/octet-stream",
            slug=f"b{n}",
        )  # fmt: skip


async def run_concurrent(
    repo: RepositoryClient, parent: str, jobs: list[tuple[str, int]], limit: int
) -> None:
    limiter = trio.CapacityLimiter(limit)

    async def bounded(kind: str, n: int) -> None:
        async with limiter:
            await client_one(repo, parent, kind, n)

    async with trio.open_nursery() as nursery:
        for kind, n in jobs:
            nursery.start_soon(bounded, kind, n)


Timed = dict[str, list[float]]


async def main(args: argparse.Namespace) -> int:
    config = RepositoryConfig(
        rest_endpoint=args.url.rstrip("/"),
        relpath="/",
        log_dir=Path("/tmp"),
        fedora_user=args.user,
        fedora_password=args.password,
        timeout=120.0,
    )
    containers, binaries = (100, 20) if args.quick else (args.containers, args.binaries)
    rounds = 2 if args.quick else args.rounds
    jobs = [("c", n) for n in range(containers)] + [("b", n) for n in range(binaries)]
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    wall: Timed = {"bare": [], "client": [], "concurrent": []}
    cpu: Timed = {"bare": [], "client": [], "concurrent": []}
    async with (
        RepositoryClient(config, max_connections=20) as repo,
        httpx.AsyncClient(
            auth=(args.user, args.password),
            timeout=120.0,
            limits=limits,
            cookies=no_cookies(),
            headers={"User-Agent": "bench"},
        ) as bare,
    ):
        if not await repo.exists(repo.root):
            print(f"no Fedora answers at {args.url}; start it with services/fedora.sh start")
            return 1
        run_id = uuid.uuid4().hex[:8]
        parents: list[str] = []

        async def fresh_parent(label: str, r: int) -> str:
            made = await repo.create_container(repo.root, slug=f"bench-{run_id}-{label}-{r}")
            parents.append(made.uri)
            return made.uri

        async def sequential(name: str, parent: str, batch: list[tuple[str, int]]) -> None:
            start, start_cpu = time.perf_counter(), time.process_time()
            for kind, n in batch:
                if name == "bare":
                    await bare_one(bare, parent, kind, n)
                else:
                    await client_one(repo, parent, kind, n)
            wall[name][-1] += time.perf_counter() - start
            cpu[name][-1] += time.process_time() - start_cpu

        # Warm up connections, the JIT and caches on both sides before measuring.
        for name in ("bare", "client"):
            wall[name].append(0.0)
            cpu[name].append(0.0)
            await sequential(name, await fresh_parent(f"warm-{name}", 0), jobs[:20] + jobs[-5:])
            wall[name].pop()
            cpu[name].pop()
        for r in range(rounds):
            # Bare and client take turns in small batches, so that the server's slow moments
            # (its garbage collector, the repository growing) fall on both alike.
            targets = {name: await fresh_parent(name, r) for name in ("bare", "client")}
            for name in targets:
                wall[name].append(0.0)
                cpu[name].append(0.0)
            for i in range(0, len(jobs), args.batch):
                order = ["bare", "client"] if (i // args.batch) % 2 == 0 else ["client", "bare"]
                for name in order:
                    await sequential(name, targets[name], jobs[i : i + args.batch])
            parent = await fresh_parent("concurrent", r)
            start, start_cpu = time.perf_counter(), time.process_time()
            await run_concurrent(repo, parent, jobs, args.concurrency)
            wall["concurrent"].append(time.perf_counter() - start)
            cpu["concurrent"].append(time.process_time() - start_cpu)
        # Clean up (not timed): delete each parent and its tombstone.
        for uri in parents:
            await repo.delete(uri, purge=True)

    total = {name: sum(values) for name, values in wall.items()}
    total_cpu = {name: sum(values) for name, values in cpu.items()}
    count = len(jobs) * rounds
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"workload: {containers} containers + {binaries} binaries of 64 KiB, {rounds} rounds "
        f"(sequential runs interleaved in batches of {args.batch})"
    )
    for name in ("bare", "client", "concurrent"):
        label = name if name != "concurrent" else f"client, {args.concurrency} at a time"
        print(
            f"  {label:<24} {total[name] / rounds:7.2f} s per round"
            f"  {count / total[name]:6.0f} requests/s"
            f"  {total_cpu[name] / count * 1000:5.2f} ms CPU per request in this process"
        )
    overhead = total["client"] / total["bare"] - 1
    verdict = "within" if overhead <= 0.10 else "OVER"
    rounds_text = ", ".join(
        f"{c / b - 1:+.1%}" for c, b in zip(wall["client"], wall["bare"], strict=True)
    )
    print(
        f"client overhead vs bare httpx, wall time: {overhead:+.1%} ({verdict} the 10% goal; "
        f"per round {rounds_text})"
    )
    print(
        f"client-side CPU, client vs bare httpx: {total_cpu['client'] / total_cpu['bare']:.2f}x "
        f"(+{(total_cpu['client'] - total_cpu['bare']) / count * 1000:.2f} ms per request)"
    )
    print(f"concurrent speed-up over sequential: {total['client'] / total['concurrent']:.2f}x")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/fcrepo/rest")
    parser.add_argument("--user", default=os.environ.get("FEDORA_ADMIN_USER", "fedoraAdmin"))
    parser.add_argument(
        "--password", default=os.environ.get("FEDORA_ADMIN_PASSWORD", "fedoraAdmin")
    )
    parser.add_argument("--containers", type=int, default=500)
    parser.add_argument("--binaries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=20, help="requests per interleaved batch")
    parser.add_argument("--quick", action="store_true", help="a smaller workload, two rounds")
    sys.exit(trio.run(main, parser.parse_args()))

"""The http mode under load: GET /jobs/<id> of a job with 10,000 completed rows, and the
routes that change the repository: PATCH /resources (one title) and POST /inbox.

Run: python bench/bench_http.py [--quick] [--duration SECONDS] [--connections N]
                                [--part jobs|routes|all] [--fedora NAME=REST_URL ...]

A job folder is written to a temporary JOBS_DIR (10,000 rows in completed.log.csv, 1,000 in
the latest run's dropped-invalid log, 11,000 in source.csv). `plastrond -c CONFIG http` runs
as its own process on 127.0.0.1 (port chosen by the kernel), logging as in production (one
access line per request, to a file). The load generator is Debian's `wrk` (1 thread, N
keep-alive connections, fixed duration) when installed; otherwise a bounded httpx loop in a
separate process. Only loopback is ever addressed, and every run stops by itself.

Printed, all measured in the same run:
- requests/s and latency p50/p99 of GET /jobs/<id> (2.25 MB of JSON; after the first request
  its item lists come from the cache of encoded items), of the same request with ?limit=0
  (counts only), with ?limit=10000 (the same document, but a narrowed page is never cached:
  the CSV logs are parsed and encoded on every request, as for a job still running), and of
  GET /health (the server's floor: routing, hypercorn, logging);
- the ratio of the job's requests/s to /health's, and the time the server takes per job
  response against the time this process takes to read the same three CSV files with the
  csv module and dump the same document with json (the cost of the answer itself).

The routes part (`--part routes`), against each Fedora given (default: Fedora 6 on
127.0.0.1:8080, and Fedora 4.7 on 127.0.0.1:8090 when it answers), with plastrond http running
against it as its own process:
- requests/s and latency p50/p99 of `PATCH /resources/<path>?model=Item` changing one title
  (each connection edits an item of its own, so that no edit races another), validated with
  the Item model, and of `POST /inbox` publishing and unpublishing in turn;
- the same three Fedora requests that one PATCH makes (HEAD, GET of the graph, PATCH with the
  state token or ETag) sent by a bare httpx loop straight to Fedora, with the same connections:
  its mean latency over plastrond's is the share of a PATCH's time spent in Fedora.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from plastrond import __version__
from plastrond.jobs.ids import job_id_segment

JOB_ID = "http://archelon.example/import_jobs/4242"
ROWS = 10_000
INVALID = 1_000
RUN = "20240131120000"

CONFIG = """\
REPOSITORY:
  REST_ENDPOINT: http://127.0.0.1:9/fcrepo/rest
  RELPATH: /pcdm
  LOG_DIR: {root}/logs
COMMANDS:
  IMPORT:
    JOBS_DIR: {root}/jobs
HTTP_SERVER:
  HOST: 127.0.0.1
  PORT: 0
"""


def write_csv(path: Path, columns: list[str], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


def make_job(root: Path) -> Path:
    folder = root / "jobs" / job_id_segment(JOB_ID)
    (folder / RUN).mkdir(parents=True)
    (folder / "config.yml").write_text(
        f"job_id: {JOB_ID}\nmodel: Item\naccess: None\n"
        "member_of: http://repo.example/fcrepo/rest/dc/2024/1\ncontainer: /dc/2024/1\n"
        "binaries_location: sftp://archelon@files.example/imports/4242\n"
    )
    write_csv(
        folder / "source.csv",
        ["Identifier", "Title", "Date", "FILES"],
        [
            (f"bench-{n}", f"Letter {n}, from a box", "1921-04-0{n % 9 + 1}", f"p{n}.tif")
            for n in range(ROWS + INVALID)
        ],
    )
    write_csv(
        folder / "completed.log.csv",
        ["id", "timestamp", "title", "uri", "status"],
        [
            (
                f"bench-{n}",
                f"2024-01-31T12:{n // 600 % 60:02d}:{n // 10 % 60:02d}.{n % 10}00000",
                f"Letter {n}, from a box of letters",
                f"http://repo.example/fcrepo/rest/dc/2024/1/{n:08x}-1111-2222-3333-444455556666",
                ("created", "modified", "unchanged")[n % 3],
            )
            for n in range(ROWS)
        ],
    )
    write_csv(
        folder / RUN / "dropped-invalid.log.csv",
        ["id", "timestamp", "title", "uri", "reason"],
        [
            (
                f"bench-{ROWS + n}",
                "2024-01-31T13:00:00",
                f"Letter {ROWS + n}",
                "",
                f"Missing file: p{ROWS + n}.tif",
            )
            for n in range(INVALID)
        ],
    )
    write_csv(
        folder / RUN / "dropped-failed.log.csv", ["id", "timestamp", "title", "uri", "reason"], []
    )
    return folder


def read_directly(folder: Path, url: str) -> bytes:
    """The same document, by the plainest code: csv.DictReader and json.dumps."""

    def rows(path: Path) -> list[dict[str, str]]:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    import yaml

    config = yaml.safe_load((folder / "config.yml").read_text())
    config = {k: None if v == "None" else v for k, v in config.items()}
    completed = rows(folder / "completed.log.csv")
    failed = rows(folder / RUN / "dropped-failed.log.csv")
    invalid = rows(folder / RUN / "dropped-invalid.log.csv")
    with (folder / "source.csv").open(newline="", encoding="utf-8") as f:
        total = sum(1 for _ in csv.reader(f)) - 1
    document = {
        "@id": url,
        **config,
        "runs": [RUN],
        "completed": {"count": len(completed), "items": completed},
        "dropped": {
            "timestamp": RUN,
            "failed": {"count": len(failed), "items": failed},
            "invalid": {"count": len(invalid), "items": invalid},
        },
        "total": total,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def start_server(root: Path, config: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    if config is None:
        config = root / "plastrond.yml"
        config.write_text(CONFIG.format(root=root))
    stderr = (root / "stderr.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "plastrond", "-c", str(config), "http"],
        stderr=stderr,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(
            r"serving import jobs from .* on (http://\S+)", (root / "stderr.log").read_text()
        )
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            sys.exit(f"plastrond exited: {(root / 'stderr.log').read_text()}")
        time.sleep(0.05)
    process.kill()
    sys.exit("plastrond did not start listening within 30 s")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def load_wrk(url: str, duration: float, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        sys.exit(f"errors under load:\n{out}")
    return {"rps": rps, "p50": _seconds(latency["50"]), "p99": _seconds(latency["99"])}


LOAD_LOOP = r"""
import sys, time, trio, httpx, json
url, duration, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
times = []
async def worker(client, stop_at):
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        r = await client.get(url)
        r.raise_for_status()
        times.append(time.perf_counter() - t0)
async def main():
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.monotonic()
        async with trio.open_nursery() as n:
            for _ in range(connections):
                n.start_soon(worker, client, start + duration)
        elapsed = time.monotonic() - start
    times.sort()
    print(json.dumps({"rps": len(times) / elapsed, "p50": times[len(times) // 2],
                      "p99": times[min(len(times) - 1, int(len(times) * 0.99))]}))
trio.run(main)
"""


def load_httpx(url: str, duration: float, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", LOAD_LOOP, url, str(duration), str(connections)],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    return json.loads(out)


ROUTE_LOOP = r"""
import json, sys, time, trio, httpx
spec = json.load(sys.stdin)
times, failures = [], []
DCT = "http://purl.org/dc/terms/title"
def title_update(n, i):
    return (f'DELETE WHERE {{ <> <{DCT}> ?t }} ;\n'
            f'INSERT DATA {{ <> <{DCT}> "Bench title {n} {i}"@en }}')
async def plastrond_patch(client, target, n, i):
    r = await client.patch(target["url"], params={"model": "Item"}, content=title_update(n, i),
                           headers={"Content-Type": "application/sparql-update"})
    return r.status_code == 204 or failures.append(r.text[:300])
async def plastrond_inbox(client, target, n, i):
    kind = "Publish" if i % 2 == 0 else "Unpublish"
    body = {"@context": "https://www.w3.org/ns/activitystreams",
            "type": "http://vocab.lib.umd.edu/activity#" + kind,
            "actor": "acct:bench@umd.edu", "object": target["uri"]}
    r = await client.post(target["url"], json=body)
    return r.status_code == 201 or failures.append(r.text[:300])
async def fedora_patch(client, target, n, i):
    uri = target["uri"]
    await client.head(uri)
    r = await client.get(uri, headers={"Accept": "application/n-triples",
        "Prefer": 'return=representation; omit="http://www.w3.org/ns/ldp#PreferContainment"'})
    r.raise_for_status()
    headers = {"Content-Type": "application/sparql-update"}
    if r.headers.get("X-State-Token"):
        headers["X-If-State-Token"] = r.headers["X-State-Token"]
    elif r.headers.get("ETag"):
        headers["If-Match"] = r.headers["ETag"].removeprefix("W/")
    old = [line for line in r.text.splitlines() if f"<{DCT}>" in line]
    text = f"DELETE DATA {{ {' '.join(old)} }} ;\n" if old else ""
    text += f'INSERT DATA {{ <{uri}> <{DCT}> "Bench title {n} {i}"@en . }}'
    r = await client.patch(uri, content=text.encode(), headers=headers)
    return r.status_code == 204 or failures.append(r.text[:300])
ACTIONS = {"plastrond_patch": plastrond_patch, "plastrond_inbox": plastrond_inbox,
           "fedora_patch": fedora_patch}
async def worker(client, n, target, stop_at, action):
    i = 0
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        await action(client, target, n, i)
        times.append(time.perf_counter() - t0)
        i += 1
async def main():
    auth = tuple(spec["auth"]) if spec.get("auth") else None
    action = ACTIONS[spec["action"]]
    limits = httpx.Limits(max_connections=len(spec["targets"]))
    async with httpx.AsyncClient(limits=limits, timeout=60, auth=auth) as client:
        start = time.monotonic()
        async with trio.open_nursery() as nursery:
            for n, target in enumerate(spec["targets"]):
                nursery.start_soon(worker, client, n, target, start + spec["duration"], action)
        elapsed = time.monotonic() - start
    times.sort()
    print(json.dumps({"rps": len(times) / elapsed, "p50": times[len(times) // 2],
                      "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
                      "mean": sum(times) / len(times), "count": len(times),
                      "failures": failures[:3], "failed": len(failures)}))
trio.run(main)
"""

ROUTES_CONFIG = """\
REPOSITORY:
  REST_ENDPOINT: {rest}
  RELPATH: /
  LOG_DIR: {root}/logs
  FEDORA_USER: {user}
  FEDORA_PASSWORD: {password}
COMMANDS:
  IMPORT:
    JOBS_DIR: {root}/jobs
HTTP_SERVER:
  HOST: 127.0.0.1
  PORT: 0
CONTENT_MODELS:
  VOCABULARIES:
    http://vocab.lib.umd.edu/rightsStatement#: {root}/rights.ttl
"""

ITEM_TTL = """\
@prefix dcterms: <http://purl.org/dc/terms/> .
<> a <http://pcdm.org/models#Object> ;
   dcterms:title "Bench title"@en ;
   dcterms:identifier "bench-{n}" ;
   dcterms:type <http://purl.org/dc/dcmitype/Text> ;
   dcterms:rights <http://vocab.lib.umd.edu/rightsStatement#InC> .
"""


def run_route_loop(spec: dict[str, object]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", ROUTE_LOOP],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=float(spec["duration"]) + 120,  # type: ignore[arg-type]
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"load loop failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    if result["failed"]:
        sys.exit(f"{result['failed']} requests failed under load, e.g. {result['failures']}")
    return result


def fedoras(given: list[str]) -> list[tuple[str, str]]:
    if given:
        return [tuple(g.split("=", 1)) for g in given]  # type: ignore[misc]
    found = [("fcrepo6", "http://127.0.0.1:8080/fcrepo/rest")]
    try:
        auth = (
            os.environ.get("FEDORA_ADMIN_USER", "fedoraAdmin"),
            os.environ.get("FEDORA_ADMIN_PASSWORD", "fedoraAdmin"),
        )
        if httpx.head("http://127.0.0.1:8090/rest", auth=auth, timeout=5).status_code == 200:
            found.append(("fcrepo47", "http://127.0.0.1:8090/rest"))
    except httpx.TransportError:
        pass
    return found


def bench_routes(name: str, rest: str, duration: float, connections: int, root: Path) -> None:
    user = os.environ.get("FEDORA_ADMIN_USER", "fedoraAdmin")
    password = os.environ.get("FEDORA_ADMIN_PASSWORD", "fedoraAdmin")
    root.mkdir()
    (root / "jobs").mkdir()
    (root / "rights.ttl").write_text(
        "<http://vocab.lib.umd.edu/rightsStatement#InC> "
        '<http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .\n'
    )
    with httpx.Client(auth=(user, password), timeout=60) as fedora:
        parent = fedora.post(rest, headers={"Content-Type": "text/turtle"})
        parent.raise_for_status()
        container = parent.headers["Location"]
        items = []
        for n in range(connections):
            made = fedora.post(
                container,
                content=ITEM_TTL.format(n=n),
                headers={"Content-Type": "text/turtle"},
            )
            made.raise_for_status()
            items.append(made.headers["Location"])
        config = root / "plastrond.yml"
        config.write_text(ROUTES_CONFIG.format(rest=rest, root=root, user=user, password=password))
        process, base = start_server(root, config)
        try:
            patch_targets = [
                {"url": f"{base}/resources{uri[len(rest) :]}", "uri": uri} for uri in items
            ]
            inbox_targets = [{"url": f"{base}/inbox", "uri": uri} for uri in items]
            fedora_targets = [{"uri": uri} for uri in items]
            runs = {
                "PATCH /resources (title)": {"action": "plastrond_patch", "targets": patch_targets},
                "POST /inbox (publish/unpublish)": {
                    "action": "plastrond_inbox",
                    "targets": inbox_targets,
                },
                "Fedora alone: HEAD+GET+PATCH": {
                    "action": "fedora_patch",
                    "targets": fedora_targets,
                    "auth": [user, password],
                },
            }
            results = {}
            print(f"{name} ({rest}), {connections} connections, {duration:g} s each")
            for label, spec in runs.items():
                run_route_loop({**spec, "duration": 1.0})  # warm-up
                results[label] = r = run_route_loop({**spec, "duration": duration})
                print(
                    f"  {label:34} {r['rps']:8.1f} req/s   p50 {r['p50'] * 1e3:7.2f} ms   "
                    f"p99 {r['p99'] * 1e3:7.2f} ms"
                )
            ours = results["PATCH /resources (title)"]
            bare = results["Fedora alone: HEAD+GET+PATCH"]
            print(
                f"  share of a PATCH's time spent in Fedora: {bare['mean'] / ours['mean']:.0%} "
                f"(mean {bare['mean'] * 1e3:.2f} of {ours['mean'] * 1e3:.2f} ms; "
                f"plastrond runs at {ours['rps'] / bare['rps']:.2f} of bare Fedora's req/s)"
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
            fedora.delete(container)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--part", choices=("jobs", "routes", "all"), default="all")
    parser.add_argument(
        "--fedora",
        action="append",
        default=[],
        metavar="NAME=REST_URL",
        help="a Fedora for the routes part (repeatable)",
    )
    args = parser.parse_args()
    duration = 3.0 if args.quick else args.duration
    if args.part in ("jobs", "all"):
        bench_jobs(args, duration)
    if args.part in ("routes", "all"):
        with tempfile.TemporaryDirectory(prefix="bench-http-routes-") as tmp:
            for name, rest in fedoras(args.fedora):
                bench_routes(
                    name, rest.rstrip("/"), duration, min(args.connections, 4), Path(tmp) / name
                )


def bench_jobs(args: argparse.Namespace, duration: float) -> None:
    generator = "wrk" if shutil.which("wrk") else "httpx loop"
    load = load_wrk if generator == "wrk" else load_httpx

    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        root = Path(tmp)
        folder = make_job(root)
        process, base = start_server(root)
        try:
            job_url = f"{base}/jobs/{quote(JOB_ID, safe='')}"
            served = httpx.get(job_url, timeout=30)
            served.raise_for_status()
            direct = read_directly(folder, job_url)
            if json.loads(served.content) != json.loads(direct):
                sys.exit("the server's document differs from the direct reading")
            # Direct reading: the same document by csv + json in this process, best of 5.
            direct_times = []
            for _ in range(5):
                t0 = time.perf_counter()
                read_directly(folder, job_url)
                direct_times.append(time.perf_counter() - t0)
            direct_s = min(direct_times)

            print(
                f"plastrond {__version__} http mode, Python {platform.python_version()}, "
                f"{os.cpu_count()} CPUs, load: {generator}, {args.connections} connections, "
                f"{duration:g} s each"
            )
            print(
                f"job: {ROWS:,} completed rows, {INVALID:,} invalid, "
                f"response {len(served.content) / 1e6:.2f} MB"
            )
            results = {}
            for name, url in (
                ("GET /health", f"{base}/health"),
                ("GET /jobs/<id>", job_url),
                ("GET /jobs/<id>?limit=0", job_url + "?limit=0"),
                (f"GET /jobs/<id>?limit={ROWS}", job_url + f"?limit={ROWS}"),
            ):
                load(url, 1.0, args.connections)  # warm-up
                results[name] = r = load(url, duration, args.connections)
                print(
                    f"  {name:28} {r['rps']:9.1f} req/s   p50 {r['p50'] * 1e3:7.2f} ms   "
                    f"p99 {r['p99'] * 1e3:7.2f} ms"
                )
            job, health = results["GET /jobs/<id>"], results["GET /health"]
            per_response = 1 / job["rps"]
            print(
                f"  /jobs/<id> vs /health: {job['rps'] / health['rps']:.3f} of the requests/s "
                f"(p99 {job['p99'] / health['p99']:.1f}x)"
            )
            print(
                f"  server time per job response {per_response * 1e3:.2f} ms vs direct "
                f"csv+json reading {direct_s * 1e3:.2f} ms: "
                f"{direct_s / per_response:.1f}x"
            )
        finally:
            process.terminate()
            status = process.wait(timeout=30)
        if status != 0:
            sys.exit(f"plastrond exited with {status} on SIGTERM")


if __name__ == "__main__":
    main()

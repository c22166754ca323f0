"""Fedora alone: the requests of one imported item sent by a bare httpx client, one item at a
time, and each kind's mean latency, inside a transaction and without one. No plastrond code
runs: this is the floor the server sets, to tell its own cost from the importer's.

Run: python bench/bench_fedora_requests.py [--items N] [--warmup N] [--user U --password P]
     REST_URL [REST_URL ...]

Per item (the shape bench_import.py imports, written as plastrond writes it on Fedora 4.7):
PUT item (two triples), PUT `m` and `x` (empty), PUT page, PUT its `f`, two PUTs of a 2 KiB
binary with its sha-256 Digest, a PATCH of each description; with a transaction, begin first
and commit last. Printed per server and mode: ms per item, ms per request kind, and the commits
the server refused (Fedora 6.1.0 answers 409 when its H2 database times out on a lock).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx

TITLE = "http://purl.org/dc/terms/title"
MEMBER_OF = "http://pcdm.org/models#memberOf"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
PCDM_OBJECT = "http://pcdm.org/models#Object"


def one_item(
    client: httpx.Client, base: str, root: str, tx: bool, times: dict[str, list[float]]
) -> int | None:
    """Write one item; the status of a refused commit, else None."""

    def timed(kind: str, method: str, url: str, **options: Any) -> httpx.Response:
        started = time.perf_counter()
        response = client.request(method, url, **options)
        times[kind].append(time.perf_counter() - started)
        return response

    headers: dict[str, str] = {}
    location = ""

    def inside(uri: str) -> str:
        return uri

    if tx:
        location = timed("begin", "POST", f"{base}/fcr:tx").headers["Location"]
        if "/fcr:tx/" in location:  # Fedora 6: Atomic-ID on each request
            headers = {"Atomic-ID": location}
        else:  # Fedora 4.7: the work goes under <root>/tx:<id>/

            def inside(uri: str) -> str:
                return uri.replace(base, location, 1)

    turtle = {"Content-Type": "text/turtle", **headers}
    item = f"{root}/{uuid.uuid4()}"
    body = f'<> <{TITLE}> "Benchmark item" ; <{RDF_TYPE}> <{PCDM_OBJECT}> .'.encode()
    timed("PUT item", "PUT", inside(item), content=body, headers=turtle)
    for child in ("m", "x"):
        timed("PUT empty", "PUT", inside(f"{item}/{child}"), headers=turtle)
    page = f"{item}/m/{uuid.uuid4()}"
    body = f"<> <{MEMBER_OF}> <{inside(item)}> .".encode()
    timed("PUT page", "PUT", inside(page), content=body, headers=turtle)
    timed("PUT empty", "PUT", inside(f"{page}/f"), headers=turtle)
    for extension in ("tif", "jpg"):
        data = os.urandom(2048)
        binary = f"{page}/f/{uuid.uuid4()}"
        digest = "sha-256=" + hashlib.sha256(data).hexdigest()
        binary_headers = {"Content-Type": "image/jpeg", "Digest": digest, **headers}
        timed("PUT binary", "PUT", inside(binary), content=data, headers=binary_headers)
        update = f'INSERT DATA {{ <{inside(binary)}> <{TITLE}> "x.{extension}" . }}'.encode()
        sparql = {"Content-Type": "application/sparql-update", **headers}
        description = inside(f"{binary}/fcr:metadata")
        timed("PATCH description", "PATCH", description, content=update, headers=sparql)
    if not tx:
        return None
    if "/fcr:tx/" in location:
        response = timed("commit", "PUT", location)
    else:
        response = timed("commit", "POST", f"{location}/fcr:tx/fcr:commit")
    return response.status_code if response.status_code >= 400 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="+", metavar="REST_URL")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10, help="items written first, unmeasured")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    args = parser.parse_args()
    print(f"{args.items} items each, one at a time; load average {os.getloadavg()[0]:.1f}")
    with httpx.Client(auth=(args.user, args.password), timeout=120) as client:
        for url in args.urls:
            base = url.rstrip("/")
            root = f"{base}/bench-fedora-requests-{uuid.uuid4()}"
            client.put(root, headers={"Content-Type": "text/turtle"}).raise_for_status()
            try:
                for n in range(args.warmup):
                    one_item(client, base, root, tx=n % 2 == 0, times=defaultdict(list))
                for tx in (True, False):
                    times: dict[str, list[float]] = defaultdict(list)
                    refused = []
                    started = time.perf_counter()
                    for _ in range(args.items):
                        status = one_item(client, base, root, tx, times)
                        if status is not None:
                            refused.append(status)
                    per_item = 1000 * (time.perf_counter() - started) / args.items
                    kinds = "  ".join(
                        f"{kind} {1000 * statistics.mean(v):.1f}" for kind, v in times.items()
                    )
                    mode = "transaction" if tx else "no transaction"
                    print(f"{base} {mode}: {per_item:.0f} ms/item")
                    print(f"    ms per request: {kinds}")
                    if refused:
                        print(f"    commits refused: {len(refused)} ({sorted(set(refused))})")
            finally:
                client.delete(root)


if __name__ == "__main__":
    main()

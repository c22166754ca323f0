"""The parser of this tree against the parser of another git revision, in the same process.

Run: python bench/bench_stompframe_ab.py [--against REV] [--rounds N]

`bench_stompframe.py` compares stompframe with other parsers; this compares stompframe with
itself, to check that a change does not slow it down. The other revision's ``src/stompframe``
is taken with ``git archive`` into a temporary folder and imported under another name. The
workloads are those of bench_stompframe.py: 20,000 job MESSAGE frames in 4 KiB chunks, and one
16 MiB body in 4 KiB chunks without and with content-length. Each round runs every variant
once, the first one changing from round to round; the best CPU time (``process_time``) of
each over all rounds is kept, with the garbage collector off, so that a loaded machine (other
processes taking the CPU) changes the figures little. It prints the ratio this/base per
workload (below 1: faster), also for this tree with ``discard_oversized=True``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench_stompframe import chunks_of, job_message

import stompframe

ROOT = Path(__file__).resolve().parents[1]


def load_revision(rev: str, into: Path) -> ModuleType:
    """``src/stompframe`` of *rev*, imported as the package ``stompframe_base``."""
    archive = into / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev, "src/stompframe"], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "stompframe").rename(into / "stompframe_base")
    sys.path.insert(0, str(into))
    return importlib.import_module("stompframe_base")


def feed_all(module: Any, pieces: list[bytes], **kw: Any) -> int:
    parser = module.Parser("1.2", **kw)
    n = 0
    for piece in pieces:
        n += len(parser.feed(piece))
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="main", help="git revision to compare with")
    ap.add_argument("--rounds", type=int, default=31)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_revision(args.against, Path(tmp))
        print(f"this tree: {stompframe.__file__}\nbase: {args.against}")
        wire = b"".join(stompframe.encode(job_message(i)) + b"\n" for i in range(20_000))
        body = b"x" * (16 * 1024 * 1024)
        head = b"MESSAGE\ndestination:/queue/a\nsubscription:s\n"
        workloads = {
            "20000 job frames": chunks_of(wire),
            "16 MiB, NUL-ended": [head + b"\n", *chunks_of(body), b"\0"],
            "16 MiB, content-length": [
                head + b"content-length:%d\n\n" % len(body),
                *chunks_of(body),
                b"\0",
            ],
        }
        gc.disable()
        for name, pieces in workloads.items():
            variants: list[tuple[str, Callable[[], int]]] = [
                ("base", lambda p=pieces: feed_all(base, p)),
                ("this", lambda p=pieces: feed_all(stompframe, p)),
                ("this, discard", lambda p=pieces: feed_all(stompframe, p, discard_oversized=True)),
            ]
            assert len({run() for _, run in variants}) == 1
            best = dict.fromkeys((label for label, _ in variants), float("inf"))
            for _ in range(args.rounds):
                variants = variants[1:] + variants[:1]
                for label, run in variants:
                    start = time.process_time()
                    run()
                    best[label] = min(best[label], time.process_time() - start)
            print(
                f"{name:24s} base {best['base'] * 1e3:8.2f} ms  this {best['this'] * 1e3:8.2f} ms"
                f"  this/base {best['this'] / best['base']:.3f}"
                f"  (discard_oversized on: {best['this, discard'] / best['base']:.3f})"
            )
            gc.collect()


if __name__ == "__main__":
    main()

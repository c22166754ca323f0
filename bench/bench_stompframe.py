"""Parse throughput of stompframe against stomp.py, stompest and a bare memchr.

Run: python bench/bench_stompframe.py [--quick]

Every figure is measured in the same run (best of several repeats) and printed as a ratio, so
the numbers compare on any machine. The small-frame parsers take turns within each repeat, so
that a busy moment of the machine falls on all of them; the large-body runs go back to back,
which leaves memchr's data warm in the caches (the harder baseline). Two workloads:

1. A stream of typical plastrond job MESSAGE frames (8 headers plus content-length, two values
   with escaped colons, a 200-byte body, each frame followed by LF as ActiveMQ sends them) fed
   in 4 KiB chunks. stompframe and stompest parse the chunked stream. stomp.py is timed two
   ways: ``parse_frame`` alone on frames already cut out of the stream (its best case, no
   framing work at all), and with a minimal buffer-and-split loop in front, as its transport
   does. Goal: stompframe >= 3x stomp.py (5x is the ambition).
2. One 16 MiB body in 4 KiB chunks, without content-length (the parser must find the NUL) and
   with it, against a single ``bytes.find(b"\\0")`` over the whole contiguous 16 MiB.
   Goal: stompframe >= 1/5 of memchr speed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable

import stomp
import stomp.utils

import stompframe

try:
    from stompest.protocol import StompParser as StompestParser
except ImportError:  # pragma: no cover - the bench extra is not installed
    StompestParser = None

CHUNK = 4096


def best_of(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """The best time of each function over *repeat* rounds, the functions taking turns in
    every round so that a busy moment of the machine falls on all of them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def job_message(n: int) -> stompframe.Frame:
    return stompframe.Frame(
        "MESSAGE",
        [
            ("destination", "/queue/plastrond.jobs"),
            ("message-id", "ID-activemq-41587-1717000000000-3-1-1-1-" + str(n)),
            ("subscription", "sub-1"),
            ("ack", "ID-activemq-41587-1717000000000-5-" + str(n)),
            ("persistent", "true"),
            ("PlastronJobId", f"http://localhost:3000/import_jobs/{n}"),
            ("PlastronArg-access", "http://vocab.lib.umd.edu/access#Public"),
            ("PlastronCommand", "import"),
        ],
        (b"model: Item\nmetadata: /var/opt/plastron/jobs/%08d/metadata.csv\n" % n).ljust(200, b"#"),
    )


def chunks_of(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def small_frames(count: int, repeat: int) -> None:
    frames = [job_message(i) for i in range(count)]
    wire = [stompframe.encode(f, "1.2") + b"\n" for f in frames]
    stream = b"".join(wire)
    pieces = chunks_of(stream)
    one = len(wire[0])
    print(f"small frames: {count} MESSAGE frames of {one} bytes, {len(pieces)} chunks of {CHUNK}")

    def ours() -> None:
        parser = stompframe.Parser("1.2")
        n = 0
        for piece in pieces:
            n += len(parser.feed(piece))
        assert n == count, n

    # stomp.py's own entry point takes one frame without its NUL.
    cut = [w[: w.rindex(b"\0")] for w in wire]
    parse_frame = stomp.utils.parse_frame

    def stomppy_parse_only() -> None:
        for raw in cut:
            parse_frame(raw)

    def stomppy_with_split() -> None:
        buf = b""
        n = 0
        for piece in pieces:
            buf += piece
            while True:
                nul = buf.find(b"\0")
                if nul < 0:
                    break
                parse_frame(buf[:nul])
                n += 1
                buf = buf[nul + 1 :]
        assert n == count, n

    def stompest() -> None:
        parser = StompestParser("1.2")
        n = 0
        for piece in pieces:
            parser.add(piece)
            while parser.canRead():
                if parser.get():  # the LF after each frame is a (falsy) StompHeartBeat
                    n += 1
        assert n == count, n

    # The parsers must agree before they race.
    check = stompframe.Parser("1.2").feed(stream)
    assert [f for f in check if isinstance(f, stompframe.Frame)] == [
        f.replace(headers=(*f.headers, ("content-length", str(len(f.body))))) for f in frames
    ]
    theirs = parse_frame(cut[0])
    assert theirs.headers["PlastronJobId"] == frames[0].get("PlastronJobId")

    racers: list[Callable[[], object]] = [ours, stomppy_parse_only, stomppy_with_split]
    if StompestParser is not None:
        racers.append(stompest)
    t_ours, t_parse, t_split, *rest = best_of(racers, repeat)
    t_stompest = rest[0] if rest else None

    def per_frame(t: float) -> str:
        return f"{t / count * 1e6:7.2f} us/frame"

    mib = len(stream) / t_ours / 2**20
    rate = f"({count / t_ours:,.0f} frames/s, {mib:.0f} MiB/s)"
    print(f"  {'stompframe':24} {per_frame(t_ours)}  {rate}")
    for label, t in [
        ("stomp.py parse_frame", t_parse),
        ("stomp.py split+parse", t_split),
        ("stompest StompParser", t_stompest),
    ]:
        if t is None:
            print(f"  {label:24} not installed (pip install stompest)")
        else:
            print(f"  {label:24} {per_frame(t)}  -> stompframe is {t / t_ours:.1f}x faster")


def large_body(size: int, repeat: int) -> None:
    body = bytes(range(1, 256)) * (size // 255) + b"x" * (size % 255)
    assert len(body) == size and b"\0" not in body
    head = b"MESSAGE\ndestination:/queue/big\nmessage-id:big-1\nsubscription:sub-1\n"
    without = head + b"\n" + body + b"\0\n"
    with_length = head + b"content-length:%d\n\n" % size + body + b"\0\n"
    pieces_nul = chunks_of(without)
    pieces_len = chunks_of(with_length)
    limit = size + 4096
    print(f"large body: {size / 2**20:.0f} MiB in {len(pieces_nul)} chunks of {CHUNK}")

    def memchr() -> None:
        assert body.find(b"\0") == -1

    def run(pieces: list[bytes]) -> Callable[[], None]:
        def parse() -> None:
            parser = stompframe.Parser("1.2", max_frame_bytes=limit)
            out: list[stompframe.Event] = []
            for piece in pieces:
                out += parser.feed(piece)
            assert len(out) == 1 and len(out[0].body) == size  # type: ignore[union-attr]

        return parse

    # Back to back, not in turns: memchr then runs on data still warm in the caches, which
    # makes it the harder baseline.
    [t_memchr] = best_of([memchr], repeat)
    [t_nul] = best_of([run(pieces_nul)], repeat)
    [t_len] = best_of([run(pieces_len)], repeat)
    gbs = size / t_memchr / 1e9
    label = "bytes.find(b'\\0') once"
    print(f"  {label:24} {t_memchr * 1e3:7.2f} ms  ({gbs:.1f} GB/s)")
    for label, t in [("stompframe, NUL-ended", t_nul), ("stompframe, content-len", t_len)]:
        ratio = f"{t_memchr / t:.2f} of memchr speed (1/{t / t_memchr:.1f})"
        print(f"  {label:24} {t * 1e3:7.2f} ms  -> {ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    args = ap.parse_args()
    count, repeat = (2000, 3) if args.quick else (20000, 7)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"stomp.py {stomp.__version__}, stompframe from {stompframe.__file__}"
    )
    small_frames(count, repeat)
    large_body(16 * 2**20, repeat)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

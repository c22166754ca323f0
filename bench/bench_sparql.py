"""How the time to check one SPARQL Update grows with its size (PATCH /resources and the
STOMP update both check, then apply, the update): N and 4N triples of INSERT DATA, measured
in the same run. Linear growth prints a ratio near 4; rdflib's own translation sorts the
patterns once per block and printed 11 or more (1,000 triples: 14 s, 2,000: 40 s).

    .venv/bin/python bench/bench_sparql.py [N]
"""

from __future__ import annotations

import sys
import time

from plastrond.models import check_update


def update(n: int) -> str:
    return "INSERT DATA { " + " ".join(f'<> <urn:p{i}> "v{i}" .' for i in range(n)) + " }"


def seconds(n: int) -> float:
    text = update(n)
    started = time.process_time()
    check_update(text)
    return time.process_time() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 250
    seconds(10)  # warm up the grammar
    small, large = seconds(n), seconds(4 * n)
    print(f"{n} triples: {small:.2f} s CPU; {4 * n} triples: {large:.2f} s CPU")
    print(f"ratio {large / small:.1f} (4.0 is linear)")


if __name__ == "__main__":
    main()

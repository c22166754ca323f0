"""Upstream Plastron 4.8.1's `plastron` CLI, with two adaptations, for bench_peer_import.py.

Run with the peer virtual environment's Python (plastron-cli and plastron-stomp 4.8.1 from
PyPI), never plastrond's: `<peer-venv>/bin/python bench/peer_plastron.py VOCAB.ttl -- ARGS...`
runs `plastron ARGS...` after

1. literals: every graph rdflib parses in this process (so every graph read from Fedora 4.7,
   which answers plain literals as "x"^^xsd:string) has its xsd:string literals made simple
   literals, because upstream's data properties drop ^^xsd:string values and it then cannot
   import pages into 4.7.5 (the issue says so); a wrapper around rdflib.Graph.parse;
2. vocabularies: the UMD rights statements vocabulary, which upstream fetches from
   vocab.lib.umd.edu (unreachable here), is read from VOCAB.ttl (the same file plastrond's
   bench uses), by adding it to upstream's table of local vocabularies.

Nothing else of upstream is changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#"


def adapt(vocabulary: Path) -> None:
    from rdflib import Graph, Literal, URIRef
    from rdflib.namespace import XSD

    original_parse = Graph.parse

    def parse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original_parse(self, *args, **kwargs)
        typed = [
            (s, p, o)
            for s, p, o in self
            if isinstance(o, Literal) and o.language is None and o.datatype == XSD.string
        ]
        for s, p, o in typed:
            self.remove((s, p, o))
            self.add((s, p, Literal(str(o))))
        return result

    Graph.parse = parse  # type: ignore[method-assign]

    from plastron.validation import vocabularies

    vocabularies.VOCABULARIES[URIRef(RIGHTS)] = str(vocabulary.resolve())


def main() -> None:
    vocabulary, separator, *rest = sys.argv[1:]
    if separator != "--":
        sys.exit("usage: peer_plastron.py VOCAB.ttl -- PLASTRON-ARGS...")
    adapt(Path(vocabulary))
    from plastron.cli import main as plastron_main

    sys.argv = ["plastron", *rest]
    plastron_main()


if __name__ == "__main__":
    main()

"""SPARQL updates are parsed in worker threads (the update command, PATCH /resources), several
at once: rdflib's grammar must not see two of them at the same time."""

from __future__ import annotations

import threading

from rdflib import Graph, Literal, URIRef

from plastrond.models import apply_update, check_update

TITLE = URIRef("http://purl.org/dc/terms/title")


def test_parsing_in_several_threads_at_once():
    errors: list[str] = []
    results: dict[int, set[str]] = {}
    base = "http://repo.example/rest/item"

    def work(n: int) -> None:
        graph = Graph()
        graph.add((URIRef(base), TITLE, Literal("old")))
        for i in range(50):
            text = (
                f"DELETE WHERE {{ <> <{TITLE}> ?t }} ;\n"
                f'INSERT DATA {{ <> <{TITLE}> "T {n} {i}"@en }}'
            )
            try:
                check_update(text)
                graph = apply_update(graph, text, base)
            except Exception as e:  # any error is a failure of this test
                errors.append(f"{type(e).__name__}: {e}")
        results[n] = {str(o) for o in graph.objects(URIRef(base), TITLE)}

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {n: {f"T {n} 49"} for n in range(4)}

"""The repository client every writing path of the daemon uses, primed before its first write.

`repository_client(config)` is the one `RepositoryClient` of the stomp daemon and of the http
server. Before its first write to a Fedora 4.7 (ModeShape), whatever the command (import,
publish, unpublish, update, the HTTP routes), the server is primed with `terms(config)`:
every predicate, rdf:type, literal datatype and language that the content models, the PCDM
structure of an import and publication can write (`plastrond.models.terms`, and publication's
access classes and handle), each namespace and node type registered once, one at a time in
the process, outside any transaction (`plastrond.repository.prime`). A model added while the
daemon runs primes its new terms before the next write. Fedora 6 is not primed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import attrs
from rdflib import Graph, Literal

from .config import Config
from .handles import HANDLE_DATATYPE
from .models import ModelError, ModelSet, current_models
from .models.namespaces import RDF
from .models.terms import SUBJECT, structure_terms, written_terms
from .publication import HANDLE_TYPE, HIDDEN, IDENTIFIER, PUBLISHED
from .repository import RepositoryClient

__all__ = ["publication_terms", "repository_client", "terms", "terms_provider"]

log = logging.getLogger("plastrond.repository")

#: the model files are looked at again (for a model added or changed) at most this often
RECHECK = 5.0


def publication_terms() -> Graph:
    """What publishing writes: the access classes and a handle (`plastrond.publication`)."""
    graph = Graph()
    graph.add((SUBJECT, RDF.type, PUBLISHED))
    graph.add((SUBJECT, RDF.type, HIDDEN))
    graph.add((SUBJECT, IDENTIFIER, Literal("hdl:1903.1/1", datatype=HANDLE_TYPE)))
    assert str(HANDLE_TYPE) == HANDLE_DATATYPE
    return graph


@attrs.define
class _Terms:
    """A provider's last answer: the models it was made of, the graph, when it was checked."""

    models: ModelSet | None = None
    graph: Graph | None = None
    checked: float = 0.0


def terms_provider(config: Config) -> Callable[[], Awaitable[Graph | None]]:
    """What `RepositoryClient(prime=...)` calls before a write: the terms of the models in
    force (the same graph object while they do not change; the files looked at again at most
    every `RECHECK` seconds); without them (a model file that cannot be read) those of the
    structure and of publication."""
    fallback = structure_terms()
    for triple in publication_terms():
        fallback.add(triple)
    state = _Terms()

    async def terms() -> Graph | None:
        now = time.monotonic()
        if state.graph is not None and now - state.checked < RECHECK:
            return state.graph
        state.checked = now
        try:
            models = await current_models(config.content_models.dir)
        except ModelError as e:
            log.warning("the content models cannot be read; priming without them: %s", e)
            return fallback
        if state.graph is None or state.models is not models:
            fresh = written_terms(models)
            for triple in fallback:
                fresh.add(triple)
            state.models, state.graph = models, fresh
        return state.graph

    return terms


async def terms(config: Config) -> Graph | None:
    """The graph the repository is primed with under *config* (see the module)."""
    return await terms_provider(config)()


def repository_client(config: Config, *, user_agent: str | None = None) -> RepositoryClient:
    """The daemon's (or http server's) repository client, primed before its first write;
    *user_agent* instead of `DAEMON_AGENT` (the http server's `HTTP_AGENT`)."""
    return RepositoryClient(config.repository, prime=terms_provider(config), user_agent=user_agent)

"""Vocabularies for `from_vocabulary` rules: fetched from their IRIs (or a configured copy),
parsed, and kept for a while.

A vocabulary's terms are the IRIs its RDF document describes (the subjects of its triples).
Where a vocabulary is read from is, in order: the configuration's `CONTENT_MODELS.VOCABULARIES`,
the copies the model files name (`vocabularies:`), else the IRI itself, without its `#...`.
Sources are http(s) URLs (fetched with httpx, redirects followed) or local files. Parsing runs
in a worker thread. Concurrent requests for one vocabulary share one fetch; a vocabulary that
cannot be read is an error for `failure_ttl` seconds before it is tried again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import attrs
import httpx
import trio
from rdflib import Graph, URIRef
from rdflib.util import guess_format

from plastrond.literals import normalize_graph

from ..errors import PlastronError, describe

__all__ = ["VocabularyCache", "VocabularyError", "shared_cache"]

log = logging.getLogger("plastrond.models")

ACCEPT: Final = (
    "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8, "
    "application/n-triples;q=0.7, text/n3;q=0.5"
)
_FORMATS: Final = {
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/json": "json-ld",
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/n-triples": "nt",
    "text/plain": "nt",
    "text/n3": "n3",
    "application/trig": "trig",
}
#: the largest vocabulary document read (bytes)
MAX_SIZE: Final = 32 * 1024 * 1024


class VocabularyError(PlastronError):
    """A vocabulary could not be read; the message names it and says why."""


@attrs.define
class _Entry:
    expires: float
    terms: frozenset[str] | None = None
    error: str | None = None


class VocabularyCache:
    """Vocabulary terms by IRI, fetched on first use and kept for *ttl* seconds."""

    def __init__(
        self,
        sources: Mapping[str, str] | None = None,
        *,
        ttl: float = 3600.0,
        failure_ttl: float = 30.0,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = dict(sources or {})
        self.clock = clock
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.timeout = timeout
        self.transport = transport
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, trio.Lock] = {}
        #: how many times a vocabulary was read (tests and logs)
        self.loads = 0

    def source_of(self, iri: str) -> str:
        return self.sources.get(iri) or iri.partition("#")[0]

    async def terms(self, iri: str) -> frozenset[str]:
        """The terms of vocabulary *iri*, or VocabularyError."""
        entry = self._fresh(iri)
        if entry is None:
            lock = self._locks.setdefault(iri, trio.Lock())
            async with lock:
                entry = self._fresh(iri)
                if entry is None:
                    entry = await self._load(iri)
                    self._entries[iri] = entry
        if entry.terms is None:
            raise VocabularyError(entry.error or f"cannot read vocabulary {iri}")
        return entry.terms

    def forget(self) -> None:
        self._entries.clear()

    def _fresh(self, iri: str) -> _Entry | None:
        entry = self._entries.get(iri)
        if entry is None or entry.expires <= self.clock():
            return None
        return entry

    async def _load(self, iri: str) -> _Entry:
        source = self.source_of(iri)
        self.loads += 1
        try:
            if source.startswith(("http://", "https://")):
                data, fmt = await self._fetch(source)
            else:
                data, fmt = await self._read(Path(source))
            graph = await trio.to_thread.run_sync(_parse, data, fmt, source)
        except VocabularyError as e:
            where = "" if source == iri else f" from {source}"
            message = f"cannot read vocabulary {iri}{where}: {e}"
            log.warning("%s", message)
            return _Entry(expires=self.clock() + self.failure_ttl, error=message)
        terms = frozenset(str(s) for s in graph.subjects() if isinstance(s, URIRef))
        if not terms:
            message = f"cannot read vocabulary {iri} from {source}: it describes no terms"
            log.warning("%s", message)
            return _Entry(expires=self.clock() + self.failure_ttl, error=message)
        log.info("vocabulary %s: %d terms from %s", iri, len(terms), source)
        expires = self.clock() + self.ttl if math.isfinite(self.ttl) else math.inf
        return _Entry(expires=expires, terms=terms)

    async def _fetch(self, url: str) -> tuple[bytes, str | None]:
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout,
                    follow_redirects=True,
                    transport=self.transport,
                    headers={"Accept": ACCEPT},
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise VocabularyError(
                        f"GET {url}: {response.status_code} {response.reason_phrase}"
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_SIZE:
                        raise VocabularyError(f"GET {url}: larger than {MAX_SIZE} bytes")
                content_type = response.headers.get("Content-Type", "")
        except httpx.HTTPError as e:
            raise VocabularyError(f"GET {url}: {describe(e, named=True)}") from None
        media = content_type.split(";")[0].strip().lower()
        return bytes(body), _FORMATS.get(media) or guess_format(url.rstrip("/"))

    async def _read(self, path: Path) -> tuple[bytes, str | None]:
        try:
            data = await trio.Path(path).read_bytes()
        except OSError as e:
            raise VocabularyError(f"{path}: {describe(e)}") from None
        return data, guess_format(str(path))


def _parse(data: bytes, fmt: str | None, source: str) -> Graph:
    graph = Graph()
    formats = [fmt] if fmt else ["turtle", "xml", "json-ld"]
    problem = "no RDF found"
    for candidate in formats:
        try:
            graph.parse(data=data, format=candidate, publicID=source)
            return normalize_graph(graph)
        except Exception as e:  # rdflib's parsers raise many kinds
            problem = f"not {candidate} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
            graph = Graph()
    raise VocabularyError(problem)


_shared: dict[tuple[object, ...], VocabularyCache] = {}


def shared_cache(
    sources: Mapping[str, str], *, ttl: float = 3600.0, timeout: float = 15.0
) -> VocabularyCache:
    """One process-wide cache per set of settings, so that jobs share fetched vocabularies."""
    key = (tuple(sorted(sources.items())), ttl, timeout)
    cache = _shared.get(key)
    if cache is None:
        cache = _shared[key] = VocabularyCache(sources, ttl=ttl, timeout=timeout)
    return cache

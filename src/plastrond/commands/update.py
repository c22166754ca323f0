"""update: apply one SPARQL Update to repository resources, validating them first if asked.

Body: `{"uris": [...], "sparql_update": "..."}`. Arguments (protocol.md): `dry-run`,
`validate` (needs `model`), `model`, `recursive` (predicates to follow from each resource to
more resources to update, e.g. `pcdm:hasMember,pcdm:hasFile`), `no-transactions` (default
true). Archelon's metadata editor sends every save this way, synchronously.

For each resource: read its graph, apply the update to it in memory, and when validating, map
the result through the content model and check its rules: an invalid resource is skipped and
reported, `('<field>', 'failed', '<rule>', '<argument>')` per failed rule. What is written is
the difference between the graph as read and as updated (server-managed triples left alone),
sent with the state token read, so a resource changed meanwhile by someone else is an error
rather than a silent overwrite. With transactions, an error on any resource rolls back every
write of the job.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from typing import Any, NoReturn, Self

import attrs
import trio
from rdflib import Graph, URIRef

from .. import editing
from ..config import Config
from ..jobs.items import ItemCounts, Items
from ..jobs.protocol import JobContext, Report
from ..jobs.request import JobRequest
from ..jobs.result import JobError, JobResult
from ..models import (
    ContentModel,
    ModelError,
    ModelSet,
    SparqlError,
    VocabularyCache,
    check_update,
    current_models,
    shared_cache,
)
from ..models.namespaces import FABIO, LDP, ORE, PCDM, RDF
from ..repository import RepositoryClient, RepositoryError, TransactionError
from . import args, command
from .options import RequestError, options_of

__all__ = ["COMPLETE", "INCOMPLETE", "UpdateRequest", "update"]

COMPLETE = "update_complete"
INCOMPLETE = "update_incomplete"

#: rdf:types of the parts of an item (pages, files, proxies), which no content model describes
STRUCTURAL_TYPES = frozenset({FABIO.Page, PCDM.File, ORE.Proxy})

_SEPARATORS = re.compile(r"[\s,]+")


def _stats(uris: Iterable[str] = (), reason: str | None = None) -> dict[str, Any]:
    errors = {uri: [reason] for uri in uris} if reason else {}
    return {"stats": {"updated": [], "invalid": {}, "errors": errors}}


def _bad(message: str, uris: Iterable[str] = (), error: type[JobError] = RequestError) -> NoReturn:
    # Archelon reads `stats` even from a failed update: give it the reason per resource too.
    raise error(message, details=_stats(uris, message))


def _body(request: JobRequest) -> tuple[tuple[str, ...], str]:
    """The URIs and the SPARQL Update text of the request's JSON body, or RequestError."""
    try:
        text = request.text()
    except JobError as e:
        _bad(str(e))
    if not text.strip():
        _bad('the message body is empty (expected JSON {"uris": [...], "sparql_update": "..."})')
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        _bad(f"the message body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    if not isinstance(body, dict):
        _bad('the message body must be a JSON object {"uris": [...], "sparql_update": "..."}')
    raw_uris = body.get("uris")
    if raw_uris is None or raw_uris == []:
        _bad('missing uris in the message body (expected "uris": ["<resource URI>", ...])')
    if isinstance(raw_uris, str):
        raw_uris = [raw_uris]
    if not isinstance(raw_uris, list):
        _bad('"uris" in the message body must be a list of resource URIs')
    uris: list[str] = []
    for index, uri in enumerate(raw_uris):
        if not isinstance(uri, str) or not uri.strip().startswith(("http://", "https://")):
            _bad(f'"uris"[{index}] is not an http(s) URI: {uri!r}')
        if uri.strip() not in uris:
            uris.append(uri.strip())
    sparql = body.get("sparql_update")
    if not isinstance(sparql, str) or not sparql.strip():
        _bad("missing sparql_update in the message body (the SPARQL Update to apply)", uris)
    return tuple(uris), sparql


@attrs.frozen
class UpdateRequest:
    """An update job's request, checked, with the content models it was checked against."""

    uris: tuple[str, ...]
    sparql: str
    models: ModelSet
    dry_run: bool = False
    validate: bool = False
    model: ContentModel | None = None
    recursive: tuple[URIRef, ...] = ()
    use_transactions: bool = False

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self:
        uris, sparql = _body(request)
        try:
            dry_run = args.boolean(request, "dry-run", False)
            do_validate = args.boolean(request, "validate", False)
            no_transactions = args.boolean(request, "no-transactions", True)
            model_name = args.text(request, "model")
            recursive_text = args.text(request, "recursive")
        except RequestError as e:
            _bad(str(e), uris)
        if do_validate and model_name is None:
            _bad(
                "argument validate needs argument model (the content model to validate with)",
                uris,
            )
        try:
            models = await current_models(config.content_models.dir)
            model = models.get(model_name) if model_name is not None else None
        except ModelError as e:
            _bad(str(e), uris)
        recursive: list[URIRef] = []
        for term in _SEPARATORS.split(recursive_text or ""):
            if term:
                try:
                    recursive.append(models.expand(term))
                except ModelError as e:
                    _bad(f"argument recursive: {e}", uris)
        try:
            await trio.to_thread.run_sync(check_update, sparql)
        except SparqlError as e:
            _bad(str(e), uris)
        return cls(
            uris=uris,
            sparql=sparql,
            models=models,
            dry_run=dry_run,
            validate=do_validate,
            model=model,
            recursive=tuple(dict.fromkeys(recursive)),
            use_transactions=not no_transactions,
        )


class _RollBack(Exception):
    """Raised inside the transaction to roll it back."""


@attrs.define
class _Stats:
    """What became of each resource: updated, invalid (with the failed rules) or an error
    (with its reason, `Items.errors`); the counts and progress are the `Items`'."""

    items: Items
    #: each resource's place in the order it was reached in
    order: dict[str, int] = attrs.field(factory=dict)
    updated: set[str] = attrs.field(factory=set)
    invalid: dict[str, list[str]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, total: int | None) -> _Stats:
        """`done`: the resources finished, whatever became of them."""
        keys = ("done", "updated", "invalid", "errors")
        return cls(Items(ItemCounts(keys, total=total, done=("done",))))

    @property
    def errors(self) -> dict[str, str]:
        return self.items.errors

    def error(self, uri: str, reason: str) -> None:
        self.items.fail(uri, " ".join(reason.split()))

    def result(self) -> JobResult:
        def ordered(uris: Iterable[str]) -> list[str]:
            return sorted(uris, key=lambda u: self.order.get(u, math.inf))

        state = COMPLETE if not self.invalid and not self.errors else INCOMPLETE
        return JobResult(
            state=state,
            body={
                "stats": {
                    "updated": ordered(self.updated),
                    "invalid": {uri: self.invalid[uri] for uri in ordered(self.invalid)},
                    "errors": {uri: [self.errors[uri]] for uri in ordered(self.errors)},
                }
            },
        )


class _UpdateRun:
    def __init__(
        self,
        request: UpdateRequest,
        repository: RepositoryClient,
        vocabularies: VocabularyCache,
        log: logging.Logger,
        concurrency: int,
    ) -> None:
        self.request = request
        self.models = request.models
        self.repository = repository
        self.vocabularies = vocabularies
        self.log = log
        self.stats = _Stats.of(total=None if request.recursive else len(request.uris))
        self.concurrency = concurrency
        self.cpu_limiter = trio.CapacityLimiter(1)
        #: the client the resources are read and written with (a transaction's, or not)
        self.client = repository

    async def run(self, report: Report) -> None:
        items = self.stats.items
        items.report = report
        items.tell()
        if self.request.use_transactions and not self.request.dry_run:
            await self._in_transaction()
        else:
            await self._all(self.repository)

    async def _in_transaction(self) -> None:
        try:
            async with self.repository.transaction() as tx:
                await self._all(tx)
                if self.stats.errors:
                    raise _RollBack
        except _RollBack:
            failed = len(self.stats.errors)
            self._undo(
                f"not updated: the transaction was rolled back after errors on {failed} "
                f"resource{'s' if failed != 1 else ''}"
            )
        except TransactionError as e:
            if not self.stats.order:  # it never began
                _bad(str(e), self.request.uris, JobError)  # not the request's fault
            self._undo(f"not updated: {e}")

    def _undo(self, reason: str) -> None:
        for uri in sorted(self.stats.updated):
            self.stats.error(uri, reason)
        self.stats.items.counts.add("updated", -len(self.stats.updated))
        self.stats.updated.clear()

    async def _all(self, client: RepositoryClient) -> None:
        self.client = client
        top = [(uri, True) for uri in self.request.uris]
        for uri in self.request.uris:
            self.stats.order.setdefault(uri, len(self.stats.order))
        await self.stats.items.for_each(top, self._one, self.concurrency)

    def _reached(self, uri: str) -> None:
        """A related resource to update too, unless it is one already."""
        if uri not in self.stats.order:
            self.stats.order[uri] = len(self.stats.order)
            self.stats.items.add((uri, False))

    async def _one(self, item: tuple[str, bool]) -> None:
        uri, top = item
        related = await self._process(self.client, uri, top)
        self.stats.items.counts.add("done")
        for target in related:
            self._reached(target)

    async def _process(self, client: RepositoryClient, uri: str, top: bool) -> list[str]:
        """Update one resource; return the related resources to update next."""
        stats = self.stats
        want_containment = LDP.contains in self.request.recursive
        try:
            before = await editing.read(client, uri, containment=want_containment)
        except (editing.NotInRepository, RepositoryError) as e:
            stats.error(uri, str(e))
            return []
        related = self._related(client, uri, before.graph)
        model = self.request.model if self.request.validate else None
        try:
            edited = await editing.edit(
                client,
                before,
                self.request.sparql,
                model=model,
                vocabularies=self.vocabularies,
                validate_if=lambda graph: self._validates(graph, uri, top),
                dry_run=self.request.dry_run,
                cpu_limiter=self.cpu_limiter,
            )
        except editing.InvalidResource as e:
            stats.invalid[uri] = e.result.reasons()
            stats.items.counts.add("invalid")
            self.log.warning("invalid, not updated: %s: %s", uri, "; ".join(stats.invalid[uri]))
            return related
        except (SparqlError, editing.EditError, RepositoryError) as e:
            stats.error(uri, str(e))
            return related
        if self.request.dry_run:
            action = "update" if edited.patch else "leave unchanged"
            self.log.info("dry run: would %s %s", action, uri)
            return related
        if edited.written:
            self.log.info("updated %s", uri)
        else:
            self.log.info("unchanged by the update: %s", uri)
        stats.updated.add(uri)
        stats.items.counts.add("updated")
        return related

    def _validates(self, graph: Graph, uri: str, top: bool) -> bool:
        """The resources named in the request are validated with the model; those reached
        by `recursive` only when they are of that model (not pages, files or proxies)."""
        if top:
            return True
        types = set(graph.objects(URIRef(uri), RDF.type))
        if types & STRUCTURAL_TYPES:
            return False
        model = self.request.model
        return model is not None and self.models.detect(types).name == model.name

    def _related(self, client: RepositoryClient, uri: str, graph: Graph) -> list[str]:
        found: list[str] = []
        subject = URIRef(uri)
        for predicate in self.request.recursive:
            for target in graph.objects(subject, predicate):
                if not isinstance(target, URIRef):
                    continue
                resource = str(target).partition("#")[0]
                if resource != uri and client.contains(resource) and resource not in found:
                    found.append(resource)
        return found


@command("update")
async def update(ctx: JobContext, report: Report) -> JobResult:
    request = await options_of(UpdateRequest, ctx)
    config = ctx.config
    settings = config.content_models
    sources = {**request.models.vocabularies, **settings.vocabularies}
    vocabularies = shared_cache(
        sources, ttl=settings.vocabulary_cache_seconds, timeout=settings.vocabulary_timeout
    )
    run = _UpdateRun(
        request,
        ctx.repository,
        vocabularies,
        ctx.log,
        config.commands.update.max_concurrent_items,
    )
    ctx.log.info(
        "update of %d resource(s)%s%s%s%s",
        len(request.uris),
        f", validated as {request.model.name}" if request.validate and request.model else "",
        f", following {', '.join(map(str, request.recursive))}" if request.recursive else "",
        ", in a transaction" if request.use_transactions and not request.dry_run else "",
        ", dry run" if request.dry_run else "",
    )
    await run.run(report)
    return run.stats.result()

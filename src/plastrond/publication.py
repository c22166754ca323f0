"""Publishing and unpublishing one resource: the one place that knows how.

The STOMP `publish` and `unpublish` commands and the http mode's `POST /inbox` all call
`apply(client, uri, change)`. The marks are the access classes of the content models
(`umdaccess:Published`, `umdaccess:Hidden`) as `rdf:type` values (protocol.md, "publish /
unpublish"):

- publish adds Published; `hidden` adds Hidden, `visible` removes it, neither leaves it;
- unpublish removes Published; `hidden` adds Hidden, `visible` removes it, neither leaves it.

The resource is read first: a resource that already has the marks asked for is left alone
(publishing is idempotent), and one that does not exist fails with the repository's 404. What
changes is written with one SPARQL Update, sent again when Fedora 4.7 fails it with one of its
concurrency races (`repository.retry_races`; nothing of it was applied).

With a handle service (`Handles`: `PUBLICATION_WORKFLOW` configured), publishing follows
handles.md: a handle the resource already has (a `dcterms:identifier` typed
`umdtype:handle`, `hdl:P/S`) is looked up and its `url`, `repo` and `repo_id` corrected when
they differ from the public URL (`PUBLIC_URL_PATTERN`), `HANDLE_REPO` and the resource's URI;
a resource without one gets the handle the service has for it (`exists` by `repo_id`), else a
new one (described by the item's title), written in the same update as the access classes.
Any failure of the service leaves the resource unpublished and is a PublicationError with the
service's reason. Publishing again mints nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio
from rdflib import Graph, Literal, URIRef

from .errors import PlastronError
from .handles import (
    HANDLE_DATATYPE,
    Handle,
    HandleClient,
    HandleServiceError,
    integer_suffix,
    parse_handle,
)
from .models.namespaces import RDF
from .public_urls import PublicUrlError, public_url
from .repository import RepositoryClient, RepositoryError, retry_races

if TYPE_CHECKING:
    from .config import PublicationConfig

__all__ = [
    "HIDDEN",
    "PUBLISHED",
    "UMDACCESS",
    "Change",
    "Handles",
    "Outcome",
    "PublicationError",
    "apply",
    "publish",
    "unpublish",
]

UMDACCESS = "http://vocab.lib.umd.edu/access#"
PUBLISHED = URIRef(UMDACCESS + "Published")
HIDDEN = URIRef(UMDACCESS + "Hidden")
IDENTIFIER = URIRef("http://purl.org/dc/terms/identifier")
TITLE = URIRef("http://purl.org/dc/terms/title")
HANDLE_TYPE = URIRef(HANDLE_DATATYPE)


@attrs.frozen
class Handles:
    """The handle service and what publishing with it needs from PUBLICATION_WORKFLOW."""

    client: HandleClient
    public_url_pattern: str
    #: one publication of a resource at a time in this process, so that no two mint for it
    _locks: dict[str, trio.Lock] = attrs.field(factory=dict, init=False, repr=False)

    def lock(self, uri: str) -> trio.Lock:
        return self._locks.setdefault(uri, trio.Lock())

    @classmethod
    def from_config(cls, config: PublicationConfig) -> Handles | None:
        """The handle service of PUBLICATION_WORKFLOW, or None when none is configured.
        The caller closes it (`await handles.aclose()`)."""
        if not config.handles or not config.public_url_pattern:
            return None
        return cls(client=HandleClient(config), public_url_pattern=config.public_url_pattern)

    @property
    def repo(self) -> str:
        return self.client.repo

    async def aclose(self) -> None:
        """Close the handle service's client, in a cancelled scope too."""
        with trio.CancelScope(shield=True):
            await self.client.aclose()


class PublicationError(PlastronError):
    """A resource could not be published or unpublished; one line that says why."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(" ".join(reason.split()))
        self.uri = uri
        self.reason = str(self)


@attrs.frozen
class Change:
    """What to do to a resource's access classes."""

    #: True: add Published; False: remove it
    published: bool
    #: True: add Hidden; False: remove it; None: leave it as it is
    hidden: bool | None = None

    @property
    def name(self) -> str:
        return "publish" if self.published else "unpublish"

    def marks(self) -> tuple[list[URIRef], list[URIRef]]:
        """(classes to add, classes to remove)."""
        add, remove = ([PUBLISHED], []) if self.published else ([], [PUBLISHED])
        if self.hidden is True:
            add.append(HIDDEN)
        elif self.hidden is False:
            remove.append(HIDDEN)
        return add, remove


def _hidden(hidden: bool, visible: bool) -> bool | None:
    if hidden and visible:
        raise ValueError("hidden and visible contradict each other")
    return True if hidden else False if visible else None


def publish(*, hidden: bool = False, visible: bool = False) -> Change:
    """Publish; `hidden` adds Hidden, `visible` removes it (both: ValueError)."""
    return Change(published=True, hidden=_hidden(hidden, visible))


def unpublish(*, hidden: bool = False, visible: bool = False) -> Change:
    """Unpublish; `hidden` adds Hidden, `visible` removes it (both: ValueError)."""
    return Change(published=False, hidden=_hidden(hidden, visible))


@attrs.frozen
class Outcome:
    """What happened to one resource."""

    uri: str
    #: "published", "unpublished", or "unchanged" when it already had the marks asked for
    status: str
    #: the resource's rdf:types from the access vocabulary, after the change
    access: tuple[str, ...] = ()
    handle: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"uri": self.uri, "handle": self.handle, "status": self.status}


def _sparql(uri: str, add: list[URIRef], remove: list[URIRef], handle: str | None) -> str:
    parts = []
    subject = URIRef(uri).n3()
    if remove:
        triples = " . ".join(f"{subject} {RDF.type.n3()} {cls.n3()}" for cls in remove)
        parts.append(f"DELETE DATA {{ {triples} }}")
    inserts = [f"{subject} {RDF.type.n3()} {cls.n3()}" for cls in add]
    if handle is not None:
        inserts.append(f"{subject} {IDENTIFIER.n3()} {Literal(handle, datatype=HANDLE_TYPE).n3()}")
    if inserts:
        parts.append(f"INSERT DATA {{ {' . '.join(inserts)} }}")
    return " ;\n".join(parts)


def recorded_handle(graph: Graph, uri: str) -> str | None:
    """The handle written on the resource (`hdl:P/S`), if any."""
    for value in graph.objects(URIRef(uri), IDENTIFIER):
        if isinstance(value, Literal) and value.datatype == HANDLE_TYPE:
            return str(value)
    return None


def _title(graph: Graph, uri: str) -> str | None:
    titles = sorted(str(t) for t in graph.objects(URIRef(uri), TITLE) if isinstance(t, Literal))
    return titles[0] if titles else None


async def _ensure_handle(
    handles: Handles, client: RepositoryClient, uri: str, graph: Graph
) -> tuple[Handle, bool]:
    """The resource's handle, checked and corrected, found or minted (handles.md,
    "Publishing one resource"); True when it still has to be written on the resource."""
    try:
        url = public_url(handles.public_url_pattern, uri, client.root)
    except PublicUrlError as e:
        raise PublicationError(uri, str(e)) from e
    service = handles.client
    try:
        recorded = recorded_handle(graph, uri)
        if recorded is not None:
            parsed = parse_handle(recorded)
            if parsed is None:
                raise PublicationError(uri, f"its handle {recorded!r} is not of the form hdl:P/S")
            found = await service.info(*parsed)
            if found is None:
                why = "" if integer_suffix(parsed[1]) else " (the service's suffixes are integers)"
                raise PublicationError(uri, f"handle {recorded} is not registered{why}")
            expected = {"url": url, "repo": handles.repo, "repo_id": uri}
            stale = {k: v for k, v in expected.items() if getattr(found, k) != v}
            if stale:
                found = await service.update(found, **stale)
            return found, False
        found = await service.exists(handles.repo, uri)
        if found is not None:
            if found.url != url:
                found = await service.update(found, url=url)
            return found, True
        minted = await service.mint(url=url, repo_id=uri, description=_title(graph, uri))
        return minted, True
    except HandleServiceError as e:
        raise PublicationError(uri, str(e)) from e


async def apply(
    client: RepositoryClient, uri: str, change: Change, *, handles: Handles | None = None
) -> Outcome:
    """Publish or unpublish *uri* as *change* says; PublicationError when it cannot be done.

    *client* is used as given (its delegation, its transaction); *uri* must be a resource of
    the client's repository. With *handles*, publishing makes sure of the handle first.
    """
    if not client.contains(uri):
        raise PublicationError(
            uri, f"not a resource of this repository (expected a URI under {client.root})"
        )
    if handles is not None and change.published:
        async with handles.lock(uri):
            try:
                return await _apply(client, uri, change, handles)
            finally:
                if not handles.lock(uri).statistics().tasks_waiting:
                    handles._locks.pop(uri, None)
    return await _apply(client, uri, change, None)


async def _apply(
    client: RepositoryClient, uri: str, change: Change, handles: Handles | None
) -> Outcome:
    try:
        info = await client.head(uri)
        read = await client.get_graph(info.description_uri, containment=False)
    except RepositoryError as e:
        raise PublicationError(uri, str(e)) from e
    subject = URIRef(uri)  # a binary's description is about the binary
    types = set(read.graph.objects(subject, RDF.type))
    add, remove = change.marks()
    add = [cls for cls in add if cls not in types]
    remove = [cls for cls in remove if cls in types]
    after = (types | set(add)) - set(remove)
    access = tuple(sorted(str(t) for t in after if str(t).startswith(UMDACCESS)))
    handle = recorded_handle(read.graph, uri)
    write_handle = None
    if change.published and handles is not None:
        found, unwritten = await _ensure_handle(handles, client, uri, read.graph)
        handle = found.hdl
        write_handle = handle if unwritten else None
    if not add and not remove and write_handle is None:
        return Outcome(uri=uri, status="unchanged", access=access, handle=handle)
    sparql = _sparql(uri, add, remove, write_handle)
    try:
        if client.transaction_info is None:
            # Fedora 4.7's first-registration races that the prime did not prevent (a
            # replica priming at the same time): nothing applied, sent again
            await retry_races(lambda: client.update(info.description_uri, sparql))
        else:
            await client.update(info.description_uri, sparql)
    except RepositoryError as e:
        raise PublicationError(uri, str(e)) from e
    status = "published" if change.published else "unpublished"
    return Outcome(uri=uri, status=status, access=access, handle=handle)

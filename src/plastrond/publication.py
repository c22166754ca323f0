"""Publishing and unpublishing one resource: the one place that knows how.

The STOMP `publish` and `unpublish` commands and the http mode's `POST /inbox` all call
`apply(client, uri, change)`. The marks are the access classes of the content models
(`umdaccess:Published`, `umdaccess:Hidden`) as `rdf:type` values (protocol.md, "publish /
unpublish"):

- publish adds Published; `hidden` adds Hidden, `visible` removes it, neither leaves it;
- unpublish removes Published; `hidden` adds Hidden, `visible` removes it, neither leaves it.

The resource is read first: a resource that already has the marks asked for is left alone
(publishing is idempotent), and one that does not exist fails with the repository's 404. What
changes is written with one SPARQL Update.
"""

from __future__ import annotations

import attrs
from rdflib import URIRef

from .models.namespaces import RDF
from .repository import RepositoryClient, RepositoryError

__all__ = [
    "HIDDEN",
    "PUBLISHED",
    "UMDACCESS",
    "Change",
    "Outcome",
    "PublicationError",
    "apply",
    "publish",
    "unpublish",
]

UMDACCESS = "http://vocab.lib.umd.edu/access#"
PUBLISHED = URIRef(UMDACCESS + "Published")
HIDDEN = URIRef(UMDACCESS + "Hidden")


class PublicationError(Exception):
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


def _sparql(uri: str, add: list[URIRef], remove: list[URIRef]) -> str:
    parts = []
    subject = URIRef(uri).n3()
    if remove:
        triples = " . ".join(f"{subject} {RDF.type.n3()} {cls.n3()}" for cls in remove)
        parts.append(f"DELETE DATA {{ {triples} }}")
    if add:
        triples = " . ".join(f"{subject} {RDF.type.n3()} {cls.n3()}" for cls in add)
        parts.append(f"INSERT DATA {{ {triples} }}")
    return " ;\n".join(parts)


async def apply(client: RepositoryClient, uri: str, change: Change) -> Outcome:
    """Publish or unpublish *uri* as *change* says; PublicationError when it cannot be done.

    *client* is used as given (its delegation, its transaction); *uri* must be a resource of
    the client's repository.
    """
    if not client.contains(uri):
        raise PublicationError(
            uri, f"not a resource of this repository (expected a URI under {client.root})"
        )
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
    if not add and not remove:
        return Outcome(uri=uri, status="unchanged", access=access)
    try:
        await client.update(info.description_uri, _sparql(str(subject), add, remove))
    except RepositoryError as e:
        raise PublicationError(uri, str(e)) from e
    status = "published" if change.published else "unpublished"
    return Outcome(uri=uri, status=status, access=access)

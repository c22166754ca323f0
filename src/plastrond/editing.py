"""Editing one resource's metadata with a SPARQL Update: the one place that knows how.

Used by the STOMP `update` command and the http mode's `PATCH /resources/<path>`:

```
read = await editing.read(client, uri)                 # head + graph + state token/ETag
edited = await editing.edit(client, read, sparql, model=model, vocabularies=cache)
```

`edit` applies the update to the graph in memory (`<>` is the resource), validates the result
against the content model when one is given, and writes only the difference (never the
server-managed triples, never a blank literal the update adds: `plastrond.literals`) with the
state token (Fedora 6) or the ETag (Fedora 4) read as a precondition, so that a change made
meanwhile by someone else is `ChangedMeanwhile` rather than silently overwritten; so is Fedora
6's `409 ... being updated by another transaction` (another transaction has written the
resource and not yet committed). Anything rejected writes nothing. Outside a transaction, a
write Fedora 4.7 fails with one of its concurrency races (nothing applied) is sent again
(`repository.retry_races`).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio
from rdflib import Graph

from .errors import PlastronError
from .literals import drop_added_blanks
from .models import (
    ContentModel,
    Item,
    SparqlError,
    ValidationResult,
    VocabularyCache,
    VocabularyError,
    apply_update,
    sparql_update,
    validate,
)
from .repository import (
    ConcurrentUpdate,
    GraphResource,
    PreconditionFailed,
    RepositoryClient,
    ResourceInfo,
    retry_races,
)

__all__ = [
    "CannotValidate",
    "ChangedMeanwhile",
    "EditError",
    "Edited",
    "InvalidResource",
    "NotInRepository",
    "Read",
    "SparqlError",
    "UnwritableChange",
    "edit",
    "read",
]


class EditError(PlastronError):
    """The edit was not made; one line that says why. (SparqlError, for an update that does
    not parse or cannot be applied, and RepositoryError, for the repository failing, are not
    subclasses: they come through as they are.)"""


class NotInRepository(EditError):
    """The URI names nothing in this repository."""


class InvalidResource(EditError):
    """The updated resource breaks rules of its content model."""

    def __init__(self, uri: str, model: ContentModel, result: ValidationResult) -> None:
        failed = result.failed()
        super().__init__(
            f"{uri} is not a valid {model.name}: {len(failed)} rule"
            f"{'s' if len(failed) != 1 else ''} failed"
        )
        self.uri = uri
        self.model = model
        self.result = result


class CannotValidate(EditError):
    """A vocabulary the validation needs cannot be read."""


class ChangedMeanwhile(EditError):
    """The resource changed between the read and the write (the precondition failed)."""


class UnwritableChange(EditError):
    """The difference cannot be written as a SPARQL Update (a changed blank node)."""


@attrs.frozen
class Read:
    """A resource as read before the edit."""

    info: ResourceInfo
    resource: GraphResource

    @property
    def uri(self) -> str:
        return self.info.uri

    @property
    def graph(self) -> Graph:
        return self.resource.graph


@attrs.frozen
class Edited:
    """An edit done (or, in a dry run, worked out): the update written, "" for no change."""

    uri: str
    patch: str
    graph: Graph
    written: bool


async def read(client: RepositoryClient, uri: str, *, containment: bool = False) -> Read:
    """Read *uri*'s description graph and its state token/ETag (RepositoryError when it
    cannot be read, ResourceNotFound when it does not exist)."""
    if not client.contains(uri):
        raise NotInRepository(
            f"not a resource of this repository (expected a URI under {client.root})"
        )
    info = await client.head(uri)
    resource = await client.get_graph(info.description_uri, containment=containment)
    return Read(info=info, resource=resource)


async def edit(
    client: RepositoryClient,
    before: Read,
    sparql: str,
    *,
    model: ContentModel | None = None,
    vocabularies: VocabularyCache | None = None,
    validate_if: Callable[[Graph], bool] | None = None,
    dry_run: bool = False,
    cpu_limiter: trio.CapacityLimiter | None = None,
) -> Edited:
    """Apply *sparql* to the resource read as *before*, validate it with *model* (when given,
    and *validate_if* of the updated graph is true), and write the difference.

    Raises SparqlError, InvalidResource, CannotValidate, UnwritableChange, ChangedMeanwhile,
    or the RepositoryError of the write; in every case nothing was written.
    """
    uri = before.uri
    updated: Graph = await trio.to_thread.run_sync(
        apply_update, before.graph, sparql, uri, limiter=cpu_limiter
    )
    if model is not None and (validate_if is None or validate_if(updated)):
        if vocabularies is None:
            raise ValueError("validating needs a vocabulary cache")
        try:
            result = await validate(Item.from_graph(updated, uri, model), vocabularies)
        except VocabularyError as e:
            raise CannotValidate(f"cannot validate: {e}") from e
        if not result.is_valid:
            raise InvalidResource(uri, model, result)
    drop_added_blanks(before.graph, updated)  # valid or not checked: a blank is not a value
    try:
        patch = sparql_update(before.graph, updated)
    except ValueError as e:
        raise UnwritableChange(str(e)) from e
    if dry_run or not patch:
        return Edited(uri=uri, patch=patch, graph=updated, written=False)
    token = before.resource.state_token or None
    etag = None if token else (before.resource.etag or before.info.etag)
    try:
        if client.transaction_info is None:
            # Fedora 4.7's first-registration races (nothing applied): sent again
            await retry_races(
                lambda: client.update(
                    before.info.description_uri, patch, if_state_token=token, if_match=etag
                )
            )
        else:
            await client.update(
                before.info.description_uri, patch, if_state_token=token, if_match=etag
            )
    except (PreconditionFailed, ConcurrentUpdate) as e:
        # 412: changed since the read; 409 (Fedora 6): another transaction holds a write of
        # it, so it is changing now. Both mean the edit was made on what is no longer there.
        raise ChangedMeanwhile(
            "not updated: the resource changed while it was being updated; try again"
        ) from e
    return Edited(uri=uri, patch=patch, graph=updated, written=True)

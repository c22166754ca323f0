"""publish and unpublish: mark resources published (and hidden) or remove the marks.

What is done to each resource is `plastrond.publication` (shared with the http mode's inbox);
this module reads the request and reports. A resource that cannot be changed is an error
counted in an `*_incomplete` completion; the others are still done. Each progress message
names the resource just done (`result`: uri, handle, status); the completion lists every
resource's handle (`handles`: uri -> `hdl:P/S`) when there are any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import attrs

from .. import publication
from ..config import Config
from ..jobs.items import ItemCounts, Items
from ..jobs.protocol import JobContext, Report
from ..jobs.request import JobRequest
from ..jobs.result import JobResult
from ..publication import Change, PublicationError
from . import args, command
from .options import RequestError, options_of

__all__ = ["PublishRequest", "publish", "unpublish"]

#: resources changed at once within one job
CONCURRENCY = 4


@attrs.frozen
class PublishRequest:
    """A publish or unpublish job's request, checked: the resources (the body, one URI per
    line, blank lines ignored) and the `hidden` / `visible` arguments."""

    uris: tuple[str, ...]
    hidden: bool = False
    visible: bool = False

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self:
        hidden = args.boolean(request, "hidden", False)
        visible = args.boolean(request, "visible", False)
        if hidden and visible:
            raise RequestError("arguments hidden and visible contradict each other")
        uris = []
        for number, line in enumerate(request.text().splitlines(), 1):
            uri = line.strip()
            if not uri:
                continue
            if not uri.startswith(("http://", "https://")) or any(c in uri for c in '<> "{}'):
                raise RequestError(f"line {number} of the message body is not a URI: {uri[:200]!r}")
            uris.append(uri)
        if not uris:
            raise RequestError("the message body names no resources (one URI per line)")
        return cls(uris=tuple(uris), hidden=hidden, visible=visible)


async def _mark_all(ctx: JobContext, report: Report, make: Callable[..., Change]) -> JobResult:
    request = await options_of(PublishRequest, ctx)
    change = make(hidden=request.hidden, visible=request.visible)
    name = change.name
    repository = ctx.repository
    # `done`: the resources marked (or found marked already); `errors`: those that failed
    counts = ItemCounts(("done", "errors"), total=len(request.uris), done=("done", "errors"))
    items = Items(counts, report)
    done: list[str] = []
    handles_of: dict[str, str] = {}
    # Only publishing talks to the handle service.
    handles = publication.Handles.from_config(ctx.config.publication) if change.published else None

    async def one(uri: str) -> dict[str, Any]:
        try:
            outcome = await publication.apply(repository, uri, change, handles=handles)
        except PublicationError as e:
            ctx.log.warning("%s failed for %s: %s", name, uri, e.reason)
            reason = items.fail(uri, e.reason)
            return {"result": {"uri": uri, "handle": None, "status": "failed", "reason": reason}}
        handle = f" ({outcome.handle})" if outcome.handle else ""
        ctx.log.info("%s: %s %s%s", name, uri, outcome.status, handle)
        done.append(uri)
        items.counts.add("done")
        if outcome.handle:
            handles_of[uri] = outcome.handle
        return {"result": outcome.as_json()}

    try:
        items.tell()
        await items.for_each(request.uris, one, CONCURRENCY)
    finally:
        if handles is not None:
            await handles.aclose()
    state = f"{name}_complete" if not items.errors else f"{name}_incomplete"
    body: dict[str, Any] = {
        "count": items.counts.as_dict(),
        "uris": sorted(done),
        "errors": items.errors,
    }
    if handles_of:
        # every resource with its handle (progress, coalesced, names only some)
        body["handles"] = dict(sorted(handles_of.items()))
    return JobResult(state=state, body=body)


@command("publish")
async def publish(ctx: JobContext, report: Report) -> JobResult:
    return await _mark_all(ctx, report, publication.publish)


@command("unpublish")
async def unpublish(ctx: JobContext, report: Report) -> JobResult:
    return await _mark_all(ctx, report, publication.unpublish)

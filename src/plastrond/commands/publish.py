"""publish and unpublish: mark resources published (and hidden) or remove the marks.

The marks are the access classes of the content models (`umdaccess:Published`,
`umdaccess:Hidden`) as `rdf:type` values, written with one SPARQL Update per resource. A
resource that cannot be changed is an error counted in an `*_incomplete` completion; the
others are still done. No handle service is configured in plastrond yet, so publishing does
not mint handles.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from ..jobs.protocol import JobContext, Progress, Report
from ..jobs.result import JobError, JobResult
from ..repository import RepositoryError
from . import args, command

UMDACCESS = "http://vocab.lib.umd.edu/access#"
PUBLISHED = f"<{UMDACCESS}Published>"
HIDDEN = f"<{UMDACCESS}Hidden>"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"

#: resources changed at once within one job
CONCURRENCY = 4


def request_uris(ctx: JobContext) -> list[str]:
    """The URIs of the request body, one per line, blank lines ignored."""
    uris = []
    for number, line in enumerate(ctx.request.text().splitlines(), 1):
        uri = line.strip()
        if not uri:
            continue
        if not uri.startswith(("http://", "https://")) or any(c in uri for c in '<> "{}'):
            raise JobError(f"line {number} of the message body is not a URI: {uri[:200]!r}")
        uris.append(uri)
    if not uris:
        raise JobError("the message body names no resources (one URI per line)")
    return uris


def _sparql(uri: str, insert: list[str], delete: list[str]) -> str:
    parts = []
    if delete:
        triples = " . ".join(f"<{uri}> {RDF_TYPE} {cls}" for cls in delete)
        parts.append(f"DELETE DATA {{ {triples} }}")
    if insert:
        triples = " . ".join(f"<{uri}> {RDF_TYPE} {cls}" for cls in insert)
        parts.append(f"INSERT DATA {{ {triples} }}")
    return " ;\n".join(parts)


async def _mark_all(
    ctx: JobContext, report: Report, name: str, insert: list[str], delete: list[str]
) -> JobResult:
    uris = request_uris(ctx)
    repository = ctx.repository
    started = time.time()
    done: list[str] = []
    errors: dict[str, str] = {}
    limiter = trio.CapacityLimiter(CONCURRENCY)

    def progress() -> Progress:
        now = time.time()
        return {
            "time": {"started": started, "now": now, "elapsed": round(now - started, 3)},
            "count": {"total": len(uris), "done": len(done), "errors": len(errors)},
            "progress": round(100 * (len(done) + len(errors)) / len(uris)),
        }

    async def one(uri: str) -> None:
        async with limiter:
            try:
                await repository.update(uri, _sparql(uri, insert, delete))
            except RepositoryError as e:
                ctx.log.warning("%s failed for %s: %s", name, uri, e)
                errors[uri] = str(e)
            else:
                done.append(uri)
        report(progress())

    report(progress())
    async with trio.open_nursery() as nursery:
        for uri in uris:
            nursery.start_soon(one, uri)
    state = f"{name}_complete" if not errors else f"{name}_incomplete"
    body: dict[str, Any] = {
        "count": {"total": len(uris), "done": len(done), "errors": len(errors)},
        "uris": sorted(done),
        "errors": errors,
    }
    return JobResult(state=state, body=body)


@command("publish")
async def publish(ctx: JobContext, report: Report) -> JobResult:
    hidden = args.boolean(ctx.request, "hidden", False)
    visible = args.boolean(ctx.request, "visible", False)
    if hidden and visible:
        raise JobError("arguments hidden and visible contradict each other")
    insert = [PUBLISHED, HIDDEN] if hidden else [PUBLISHED]
    delete = [HIDDEN] if visible else []
    return await _mark_all(ctx, report, "publish", insert, delete)


@command("unpublish")
async def unpublish(ctx: JobContext, report: Report) -> JobResult:
    hidden = args.boolean(ctx.request, "hidden", False)
    visible = args.boolean(ctx.request, "visible", False)
    if hidden and visible:
        raise JobError("arguments hidden and visible contradict each other")
    # Unpublishing removes the published mark, and the hidden one too unless asked to keep
    # the resource hidden.
    delete = [PUBLISHED] if hidden else [PUBLISHED, HIDDEN]
    insert = [HIDDEN] if hidden else []
    return await _mark_all(ctx, report, "unpublish", insert, delete)

"""import: a metadata CSV (and its files) into the repository, validated, resumable.

Body: the metadata CSV (a UTF-8 BOM is fine); empty when resuming from the job folder's copy.
Arguments (protocol.md): `model` (required unless resuming), `name`, `member-of`, `access`,
`relpath` / `container`, `structure` (`flat` or `hierarchical`), `binaries-location`,
`validate-only`, `resume`, `limit`, `percent`, `extract-text` (not supported: ignored, with a
warning), `timestamp` (informational).

The work is `plastrond.imports.run.ImportRun`; this module checks the arguments, drives the
run and turns its outcome into progress messages and one completion:
`validate_success` / `validate_failed` (validate-only), `import_complete` (every row of the CSV
is in completed.log.csv) or `import_incomplete`, with the counts and the per-row validation
reports. A job that cannot run at all (unknown column, bad argument, unusable binaries
location, ...) fails with a one-line `PlastronJobError`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import trio

from ..imports.items import STRUCTURES
from ..imports.run import ImportJobError, ImportOptions, ImportRun
from . import args, command
from .base import JobContext, JobError, JobRequest, JobResult, Progress

__all__ = ["import_items", "parse_request"]


def parse_request(request: JobRequest) -> ImportOptions:
    """The request's arguments, checked; JobError naming the first bad one."""
    relpath = args.text(request, "relpath")
    container = args.text(request, "container")
    if relpath is not None and container is not None and relpath != container:
        raise JobError(
            f"arguments relpath ({relpath}) and container ({container}) disagree; give one"
        )
    structure = args.text(request, "structure")
    if structure is not None:
        structure = args.choice(request, "structure", {s: s for s in STRUCTURES}, "flat")
    limit = args.text(request, "limit")
    percent = args.text(request, "percent")
    return ImportOptions(
        job_id=request.job_id,
        body=request.body,
        model=args.text(request, "model"),
        name=args.text(request, "name"),
        access=args.text(request, "access"),
        member_of=args.text(request, "member-of"),
        container=container or relpath,
        structure=structure,
        binaries_location=args.text(request, "binaries-location"),
        validate_only=args.boolean(request, "validate-only", False),
        resume=args.boolean(request, "resume", False),
        limit=None
        if limit is None
        else int(args.number(request, "limit", 0, minimum=0, integer=True)),
        percent=None
        if percent is None
        else int(args.number(request, "percent", 100, minimum=1, maximum=100, integer=True)),
        extract_text=args.text(request, "extract-text"),
    )


def _single(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _first(group: BaseExceptionGroup[BaseException]) -> ImportJobError | None:
    """The first ImportJobError in *group* (rows running at once may fail together)."""
    matched, _rest = group.split(ImportJobError)
    exc: BaseException | None = matched
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc if isinstance(exc, ImportJobError) else None


async def _drive(run: ImportRun, send: trio.MemorySendChannel[dict[str, Any]]) -> None:
    async with send:
        await run.run(send.send_nowait)


@command("import")
async def import_items(ctx: JobContext) -> AsyncIterator[Progress | JobResult]:
    options = parse_request(ctx.request)
    if options.extract_text:
        ctx.log.warning("extract-text is not supported; ignored (%s)", options.extract_text)
    try:
        run = await ImportRun.prepare(options, ctx.config, ctx.repository, ctx.log)
    except ImportJobError as e:
        raise JobError(str(e), details=e.details) from None
    failure: BaseException | None = None
    try:
        yield run.progress()
        send, receive = trio.open_memory_channel[dict[str, Any]](math.inf)
        try:
            # The runner drives this generator from one task and does nothing between steps
            # but record the progress, so yielding inside this nursery keeps scopes nested.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drive, run, send)
                async with receive:
                    async for progress in receive:
                        yield progress
        except BaseExceptionGroup as group:
            failure = _first(group)
            if failure is None:
                raise _single(group) from None
        except ImportJobError as e:
            failure = e
    finally:
        await run.close()
    if isinstance(failure, ImportJobError):
        raise JobError(str(failure), details=failure.details or run.details())
    yield run.progress()
    state, body = run.result()
    ctx.log.info("import %s: %s", state, run.counts.as_dict())
    yield JobResult(state=state, body=body)

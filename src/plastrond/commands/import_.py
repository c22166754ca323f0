"""import: a metadata CSV (and its files) into the repository, validated, resumable.

Body: the metadata CSV (a UTF-8 BOM is fine); empty when resuming from the job folder's copy.
Arguments (protocol.md): `model` (required unless resuming), `name`, `member-of`, `access`,
`relpath` / `container`, `structure` (`flat` or `hierarchical`), `binaries-location`,
`validate-only`, `resume`, `limit`, `percent`, `extract-text` (not supported: ignored, with a
warning), `publish` (publish each new item as it is created, as the publish command does;
kept in config.yml for resumes), `timestamp` (informational).

The work is `plastrond.imports.run.ImportRun`; this module checks the arguments, runs it
(reporting its progress as rows finish) and turns its outcome into one completion:
`validate_success` / `validate_failed` (validate-only), `import_complete` (every row of the CSV
is in completed.log.csv) or `import_incomplete`, with the counts and the per-row validation
reports. A job that cannot run at all (unknown column, bad argument, unusable binaries
location, ...) fails with a one-line `PlastronJobError`.
"""

from __future__ import annotations

from typing import Any, Self

import attrs
import trio

from ..config import Config
from ..imports.items import FLAT, STRUCTURES
from ..imports.plan import RANGE
from ..imports.run import ImportOptions, ImportRun
from ..jobs.protocol import JobContext, Report
from ..jobs.request import JobRequest
from ..jobs.result import JobResult
from . import args, command
from .options import RequestError, options_of

__all__ = ["ImportRequest", "import_items"]


@attrs.frozen
class ImportRequest(ImportOptions):
    """An import job's request, checked: the options of its `ImportRun` (what a resume takes
    from the job folder's config.yml instead is settled there)."""

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self:
        relpath = args.text(request, "relpath")
        container = args.text(request, "container")
        if relpath is not None and container is not None and relpath != container:
            raise RequestError(
                f"arguments relpath ({relpath}) and container ({container}) disagree; give one"
            )
        given = {
            field.name: _argument(request, field)
            for field in attrs.fields(attrs.resolve_types(ImportOptions))
            if field.name not in ("job_id", "body")
        }
        given["container"] = container or relpath
        return cls(job_id=request.job_id, body=request.body, **given)


def _argument(request: JobRequest, field: attrs.Attribute[Any]) -> Any:
    """The argument an `ImportOptions` field is (its name with `-` for `_`), read as its type
    says; the field's default when the request does not give it."""
    name = field.name.replace("_", "-")
    if args.text(request, name) is None:
        return field.default
    if field.type in (bool, bool | None):
        return args.boolean(request, name)
    if field.type == int | None:
        low, high = field.metadata[RANGE]
        return int(args.number(request, name, 0, minimum=low, maximum=high, integer=True))
    if field.name == "structure":
        return args.choice(request, name, {s: s for s in STRUCTURES}, FLAT)
    return args.text(request, name)


@command("import")
async def import_items(ctx: JobContext, report: Report) -> JobResult:
    options = await options_of(ImportRequest, ctx)
    if options.extract_text:
        ctx.log.warning("extract-text is not supported; ignored (%s)", options.extract_text)
    # The first job of a daemon makes its repository client: in a worker thread, since that
    # loads the HTTP and TLS libraries (a second or more the trio thread would not answer).
    repository = await trio.to_thread.run_sync(lambda: ctx.repository)
    # Every request of the import says "(import)", its transactions' too (the events of an
    # item come at their commit, with the User-Agent of its begin on Fedora 6 and of its last
    # write on 4.7): UMD's pipeline then indexes each item once, whole (repository._agents).
    repository = repository.labelled("import")
    # ImportJobError is a JobError: it goes to the runner as it is, from any row.
    run = await ImportRun.prepare(options, ctx.config, repository, ctx.log)
    try:
        report(run.progress())
        await run.run(report)
    finally:
        await run.close()
    report(run.progress())
    result = run.result()
    ctx.log.info("import %s: %s", result.state, run.counts.as_dict())
    return result

"""export: items of the repository as a BagIt bag in one ZIP, written locally or over SFTP.

Body: repository URIs, one per line (blank lines ignored). Args: `format` (`text/turtle`,
`turtle`, `ttl` (the default), `text/csv`, `csv`), `output-dest` (a local path inside
`COMMANDS.EXPORT.ALLOWED_OUTPUT_DIRS`, or `sftp://user@host[:port]/path`; `.zip` appended when
missing), `export-binaries`, `binary-types` (comma-separated MIME types, `type/*` allowed),
`uri-template` (public URI template with `{uuid}`; default
`PUBLICATION_WORKFLOW.PUBLIC_URL_PATTERN`, then `MESSAGE_BROKER.PUBLIC_URI_TEMPLATE`),
`timestamp` (informational: recorded in `bag-info.txt`).

Progress after each item: `{"time": {"started", "now", "elapsed"}, "count": {"total",
"exported", "errors"}, "progress"}`. The result: `export_complete`, or `partial_export` when
some items could not be read (they are skipped, and the file is written all the same).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Self

import attrs

from ..config import Config
from ..export import (
    CsvMetadata,
    Destination,
    ExportOptions,
    ExportRun,
    MetadataWriter,
    TurtleMetadata,
    parse_destination,
)
from ..jobs.protocol import JobContext, Report
from ..jobs.request import JobRequest
from ..jobs.result import JobError, JobResult
from ..models import ModelError, ModelSet, current_models
from . import args, command
from .options import RequestError, options_of

__all__ = ["FORMATS", "ExportRequest"]

#: accepted spellings of `format` -> the format
FORMATS = {
    "text/turtle": "turtle",
    "turtle": "turtle",
    "ttl": "turtle",
    "text/csv": "csv",
    "csv": "csv",
}
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/(\*|[A-Za-z0-9][\w.+-]*)")


@attrs.frozen
class ExportRequest:
    """An export job's request, checked."""

    format: str
    destination: Destination
    uris: tuple[str, ...]
    export_binaries: bool = False
    binary_types: tuple[str, ...] = ()
    uri_template: str | None = None
    timestamp: str | None = None

    @property
    def content_type(self) -> str:
        return "text/csv" if self.format == "csv" else "text/turtle"

    @property
    def file_extension(self) -> str:
        return ".csv" if self.format == "csv" else ".ttl"

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self:
        fmt = args.choice(request, "format", FORMATS, "turtle")
        output = args.required_text(request, "output-dest")
        destination = parse_destination(output, config.commands.export)  # DestinationError
        binaries = args.boolean(request, "export-binaries", False)
        types: list[str] = []
        for part in (args.text(request, "binary-types") or "").split(","):
            part = part.strip()
            if not part:
                continue
            if not _MIME_TYPE.fullmatch(part):
                raise RequestError(f"argument binary-types: {part!r} is not a MIME type")
            types.append(part.lower())
        template = args.text(request, "uri-template")
        if (
            template is None
            and config.message_broker is not None
            and not config.publication.public_url_pattern
        ):
            template = config.message_broker.public_uri_template
        if template is not None and "{uuid}" not in template:
            raise RequestError(f"argument uri-template must contain {{uuid}}, not {template!r}")
        # URIs under REST_ENDPOINT are taken in their public form (REPO_EXTERNAL_URL), the one
        # the repository client names resources by.
        internal = config.repository.rest_endpoint.rstrip("/")
        external = (config.repository.repo_external_url or internal).rstrip("/")
        uris: list[str] = []
        seen: set[str] = set()
        for line in request.text().splitlines():
            uri = line.strip()
            if external != internal and (uri == internal or uri.startswith(internal + "/")):
                uri = external + uri[len(internal) :]
            if uri and uri not in seen:
                seen.add(uri)
                uris.append(uri)
        if not uris:
            raise RequestError("the message body lists no URIs to export")
        return cls(
            format=fmt,
            destination=destination,
            uris=tuple(uris),
            export_binaries=binaries,
            binary_types=tuple(types),
            uri_template=template,
            timestamp=args.text(request, "timestamp"),
        )


def _writer(fmt: str, models: ModelSet) -> Callable[[Path], MetadataWriter]:
    if fmt == "csv":
        return lambda scratch: CsvMetadata(scratch, models)
    return lambda scratch: TurtleMetadata(scratch, models.prefixes)


@command("export")
async def export(ctx: JobContext, report: Report) -> JobResult:
    request = await options_of(ExportRequest, ctx)
    config = ctx.config
    try:
        models = await current_models(config.content_models.dir)
    except ModelError as e:
        raise JobError(str(e)) from None
    info = {"External-Identifier": ctx.request.job_id}
    if request.timestamp:
        info["Export-Timestamp"] = request.timestamp
    options = ExportOptions(
        export_binaries=request.export_binaries,
        binary_types=request.binary_types,
        uri_template=request.uri_template,
        public_url_pattern=config.publication.public_url_pattern,
        max_concurrent_items=config.commands.export.max_concurrent_items,
        bag_info=info,
    )
    run = ExportRun(ctx.repository, _writer(request.format, models), options, ctx.log, report)
    ctx.log.info(
        "export of %d item(s) as %s%s to %s",
        len(request.uris),
        request.format,
        " with binaries" if request.export_binaries else "",
        request.destination.describe(),
    )
    # DestinationError and ExportError are JobErrors: they go to the runner as they are.
    await run.execute(request.uris, request.destination)
    counts = run.counts
    state = "export_complete" if counts["errors"] == 0 else "partial_export"
    ctx.log.info(
        "export: %d of %d item(s) exported, %d error(s), %d bytes of binaries, to %s",
        counts["exported"],
        counts.total,
        counts["errors"],
        run.download_bytes,
        request.destination.describe(),
    )
    report(run.progress())
    return JobResult(
        state=state,
        body={
            "content_type": request.content_type,
            "file_extension": request.file_extension,
            "download_uri": request.destination.written,
            "count": counts.as_dict(),
        },
    )

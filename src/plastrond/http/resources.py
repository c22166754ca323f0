"""`PATCH /resources/<repository path>[?model=<content model>]`: Archelon's metadata editor.

The body is a SPARQL Update where `<>` is the resource. It is checked, then the resource is
read, the update applied in memory, the result validated against `model` when given, and
only the difference written, with the state token (ETag on Fedora 4) read as the
precondition: `plastrond.editing`, the code the STOMP `update` command runs. A rejected
update writes nothing. Answers and problem titles: http-api.md.
"""

from __future__ import annotations

import logging
from typing import Final

import trio
from quart import Response, request
from quart_trio import QuartTrio

from .. import editing
from ..models import (
    ContentModel,
    ModelError,
    ModelSet,
    SparqlError,
    UnknownModel,
    VocabularyCache,
    check_update,
)
from ..parsing import dot_segment, unquote_all
from ..repository import RepositoryError, ResourceGone, ResourceNotFound
from .backend import Backend
from .problems import Problem

__all__ = ["SPARQL_UPDATE", "register", "resource_path"]

log = logging.getLogger("plastrond.http")

SPARQL_UPDATE: Final = "application/sparql-update"
PREFIX: Final = "/resources"
SPARQL_PROBLEM: Final = "SPARQL Update problem"
UNKNOWN_MODEL: Final = "Unrecognized content-model"
INVALID: Final = "Content-model validation failed"
#: characters a repository path never holds (decoded), so that the URL built stays one path
_FORBIDDEN: Final = frozenset("?#\\") | {chr(c) for c in range(32)} | {"\x7f"}


def resource_path(raw: str) -> str:
    """The repository path of a request path's raw (still percent-encoded) tail, checked to
    stay below the repository root: no `.` or `..` segment, however many times encoded, nor
    one a server would take for it (`..;x`, `%2e%2e%2f`: `parsing.dot_segment`)."""
    path = raw.strip("/")
    if not path:
        raise Problem(400, "no repository path: PATCH /resources/<path below the root>")
    for segment in path.split("/"):
        decoded = unquote_all(segment)
        if (
            decoded in ("", ".", "..")
            or dot_segment(segment)
            or any(c in _FORBIDDEN for c in decoded)
        ):
            raise Problem(
                400, f"not a path below the repository root: /{path[:200]} (segment {segment!r})"
            )
    return "/" + path


def register(app: QuartTrio, backend: Backend | None) -> None:
    """Add `PATCH /resources/<path>` to *app*."""
    cpu = trio.CapacityLimiter(2)

    @app.route(f"{PREFIX}/<path:path>", methods=["PATCH"])
    async def patch_resource(path: str) -> Response:
        if backend is None:
            raise Problem(503, "this server has no repository to edit")
        backend.authorize()
        if request.mimetype != SPARQL_UPDATE:
            raise Problem(
                415,
                f"the body must be {SPARQL_UPDATE}, not {request.mimetype or 'untyped'}",
            )
        raw = request.scope.get("raw_path", b"").decode("latin-1").partition("?")[0]
        tail = raw[len(PREFIX) :] if raw.startswith(PREFIX + "/") else path
        uri = backend.repository.uri(resource_path(tail))
        models, model = await _models(backend, request.args.get("model") or None)
        sparql = await _sparql(backend, cpu)
        before = await _read(backend, uri)
        vocabularies = backend.vocabularies(models) if model is not None else None
        edited = await _edit(backend, uri, before, sparql, model, vocabularies, cpu)
        who = backend.client_name()
        if edited.written:
            validated = f" (valid {model.name})" if model is not None else ""
            log.info("updated %s%s for %s", uri, validated, who)
        else:
            log.info("unchanged by the update: %s (for %s)", uri, who)
        return Response("", 204)


async def _models(backend: Backend, name: str | None) -> tuple[ModelSet, ContentModel | None]:
    """The content models, and the one named *name* (None: no validation)."""
    try:
        models = await backend.models()
        return models, None if name is None else models.get(name)
    except UnknownModel as e:
        raise Problem(400, str(e), title=UNKNOWN_MODEL) from None
    except ModelError as e:
        log.error("content models cannot be read: %s", e)
        raise Problem(500, str(e)) from None


async def _sparql(backend: Backend, cpu: trio.CapacityLimiter) -> str:
    """The request's SPARQL Update, within the size limit, decoded and checked."""
    body = await request.get_data(cache=False)
    assert isinstance(body, bytes)
    limit = backend.config.http_server.max_sparql_bytes
    if len(body) > limit:
        raise Problem(413, f"the SPARQL Update is larger than {limit} bytes")
    try:
        sparql = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Problem(
            400, f"the body is not UTF-8 text (byte {e.start})", title=SPARQL_PROBLEM
        ) from None
    try:
        await trio.to_thread.run_sync(check_update, sparql, limiter=cpu)
    except SparqlError as e:
        raise Problem(400, str(e), title=SPARQL_PROBLEM) from None
    return sparql


async def _read(backend: Backend, uri: str) -> editing.Read:
    try:
        return await editing.read(backend.repository, uri)
    except (ResourceNotFound, ResourceGone):
        raise Problem(404, f"no resource {uri} in the repository") from None
    except RepositoryError as e:
        log.error("cannot read %s: %s", uri, e)
        raise Problem(500, f"the repository failed: {e}") from None


async def _edit(
    backend: Backend,
    uri: str,
    before: editing.Read,
    sparql: str,
    model: ContentModel | None,
    vocabularies: VocabularyCache | None,
    cpu: trio.CapacityLimiter,
) -> editing.Edited:
    """The update applied and written (`editing.edit`); what it refuses, as a Problem."""
    try:
        return await editing.edit(
            backend.repository,
            before,
            sparql,
            model=model,
            vocabularies=vocabularies,
            cpu_limiter=cpu,
        )
    except (SparqlError, editing.UnwritableChange) as e:
        raise Problem(400, str(e), title=SPARQL_PROBLEM) from None
    except editing.InvalidResource as e:
        raise _invalid(uri, e) from None
    except editing.ChangedMeanwhile as e:
        raise Problem(409, f"{uri}: {e}") from None
    except editing.CannotValidate as e:
        log.error("%s: %s", uri, e)
        raise Problem(500, f"{uri}: {e}") from None
    except RepositoryError as e:
        log.error("cannot update %s: %s", uri, e)
        raise Problem(500, f"the repository failed: {e}") from None


def _invalid(uri: str, e: editing.InvalidResource) -> Problem:
    errors = e.result.messages()
    shown = "; ".join(f"{name} {message}" for name, message in errors.items())
    log.info("not updated, invalid as %s: %s: %s", e.model.name, uri, shown)
    return Problem(
        400,
        f"{uri} is not a valid {e.model.name}: {shown}",
        title=INVALID,
        extra={
            "validation_errors": errors,
            "error_count": len(errors),
            "model_name": e.model.name,
            "resource": uri,
        },
    )

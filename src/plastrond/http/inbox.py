"""`POST /inbox`: publication activities from Archelon's item page (http-api.md).

The body is an ActivityStreams 2.0 activity, read as JSON-LD: expanded with its `@context`
by PyLD, so that every way of writing the same activity means the same (a full type IRI or a
term that a context maps to it; one `object` or a list). The ActivityStreams context is read
from the copy shipped with plastrond (`data/activitystreams.jsonld`) and nothing is ever
fetched: the document loader refuses every other URL. A document without `@context` is read
with the ActivityStreams context, as the ActivityStreams specification says.

Each object is published, published hidden or unpublished by `plastrond.publication.apply`,
the code the STOMP `publish` command runs, in order; the first failure stops the rest, and
the problem document says which objects were already done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import trio
from quart import Response, request
from quart_trio import QuartTrio

from .. import publication
from ..errors import PlastronError
from ..public_urls import PublicUrlError
from ..publication import Change, PublicationError
from ..repository import ResourceGone, ResourceNotFound
from .backend import Backend
from .detail import dumps
from .problems import Problem

__all__ = ["ACTIVITY", "ActivityError", "InboxActivity", "parse_activity", "register"]

log = logging.getLogger("plastrond.http")

ACTIVITY: Final = "http://vocab.lib.umd.edu/activity#"
AS: Final = "https://www.w3.org/ns/activitystreams#"
#: the URLs the ActivityStreams context is known by
AS_CONTEXT_URLS: Final = frozenset(
    {
        "https://www.w3.org/ns/activitystreams",
        "http://www.w3.org/ns/activitystreams",
        "https://www.w3.org/ns/activitystreams.jsonld",
        "http://www.w3.org/ns/activitystreams.jsonld",
    }
)
AS_CONTEXT_FILE: Final = Path(__file__).resolve().parent / "data" / "activitystreams.jsonld"
#: activity type -> what it does to each object
CHANGES: Final[Mapping[str, Change]] = {
    ACTIVITY + "Publish": publication.publish(),
    ACTIVITY + "PublishHidden": publication.publish(hidden=True),
    ACTIVITY + "Unpublish": publication.unpublish(),
}
#: deepest nesting of arrays and objects accepted in a body
MAX_JSON_DEPTH: Final = 32
#: most objects one activity may name
MAX_OBJECTS: Final = 1000
#: most JSON values (array elements and object members) a body may hold: an activity of
#: MAX_OBJECTS objects, each written as an object of a few keys, with room for a context
MAX_JSON_VALUES: Final = 20 * MAX_OBJECTS
JSON_TYPES: Final = frozenset(
    {"application/json", "application/ld+json", "application/activity+json"}
)


class ActivityError(PlastronError, ValueError):
    """The body is not an activity plastrond can act on; one line that says why."""


@attrs.frozen
class InboxActivity:
    type: str
    objects: tuple[str, ...]
    actor: str | None = None

    @property
    def change(self) -> Change:
        return CHANGES[self.type]


def _as_context() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(AS_CONTEXT_FILE.read_text(encoding="utf-8"))
    return document


_AS_DOCUMENT: Final = _as_context()


def load_document(url: str, options: Any = None) -> dict[str, Any]:
    """PyLD's document loader: the ActivityStreams context from the local copy; anything
    else is refused (never fetched)."""
    from pyld.jsonld import JsonLdError

    if url.split("#")[0].rstrip("/") in AS_CONTEXT_URLS:
        return {"contextUrl": None, "documentUrl": url, "document": _AS_DOCUMENT}
    raise JsonLdError(
        f"plastrond does not fetch remote JSON-LD documents: {url}",
        "jsonld.LoadDocumentError",
        code="loading remote context failed",
    )


def _check_depth(text: str) -> None:
    """ActivityError when *text* nests deeper than MAX_JSON_DEPTH or holds more than
    MAX_JSON_VALUES values: checked before parsing, since expanding a large document takes
    PyLD a long time (and every other activity waits for the one expander)."""
    depth = values = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ActivityError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1
        elif char == ",":
            values += 1
            if values >= MAX_JSON_VALUES:
                raise ActivityError(
                    f"the JSON body holds more than {MAX_JSON_VALUES} values "
                    f"(an activity names at most {MAX_OBJECTS} objects)"
                )


def _jsonld_reason(e: Exception) -> str:
    """PyLD's message, or the innermost cause's (ours, for a document it may not load)."""
    seen: set[int] = set()
    while id(e) not in seen:
        seen.add(id(e))
        details = getattr(e, "details", None)
        cause = details.get("cause") if isinstance(details, dict) else None
        if not isinstance(cause, Exception):
            break
        e = cause
    details = getattr(e, "details", None)
    url = details.get("url") if isinstance(details, dict) else None
    if getattr(e, "code", None) == "loading remote context failed" and url:
        return (
            f"the context {url} is not known here (plastrond fetches no JSON-LD documents; "
            "it knows the ActivityStreams context)"
        )
    message = str(e.args[0]) if e.args else type(e).__name__
    return " ".join(message.split())


def parse_activity(body: bytes) -> InboxActivity:
    """The activity in a JSON-LD *body*, or ActivityError. CPU-bound: run it in a thread."""
    from pyld import jsonld

    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ActivityError(f"the body is not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise ActivityError("the body is empty (expected an ActivityStreams activity)")
    _check_depth(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ActivityError(
            f"the body is not JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ActivityError("the body must be a JSON object (an ActivityStreams activity)")
    options: dict[str, Any] = {"documentLoader": load_document}
    if "@context" not in data:
        options["expandContext"] = "https://www.w3.org/ns/activitystreams"
    try:
        expanded = jsonld.expand(data, options)
    except jsonld.JsonLdError as e:
        raise ActivityError(f"the body is not valid JSON-LD: {_jsonld_reason(e)}") from None
    except RecursionError:
        # PyLD resolves a compact IRI's prefix recursively: a context of prefixes defined
        # by other prefixes, a thousand deep, runs out of stack
        raise ActivityError(
            "the body is not valid JSON-LD: its context defines terms through too many levels"
        ) from None
    nodes = [n for n in expanded if isinstance(n, dict)]
    typed = [n for n in nodes if n.get("@type")]
    if not typed:
        raise ActivityError("the activity has no type")
    if len(typed) > 1:
        raise ActivityError("the body holds more than one activity")
    node = typed[0]
    types = [t for t in node["@type"] if isinstance(t, str)]
    known = [t for t in types if t in CHANGES]
    if not known:
        shown = ", ".join(t.removeprefix("_:") for t in types)
        raise ActivityError(
            f"unknown activity type {shown} (expected {', '.join(sorted(CHANGES))})"
        )
    if len(set(known)) > 1:
        raise ActivityError(f"the activity has contradicting types: {', '.join(known)}")
    objects: dict[str, None] = {}  # in order, each once
    for value in node.get(AS + "object", []):
        uri = value.get("@id") if isinstance(value, dict) else None
        if uri is None and isinstance(value, dict) and isinstance(value.get("@value"), str):
            uri = value["@value"]
        if not isinstance(uri, str) or uri.startswith("_:"):
            raise ActivityError("every object of the activity must be a resource URI")
        objects[uri] = None
    if not objects:
        raise ActivityError("the activity has no object")
    if len(objects) > MAX_OBJECTS:
        raise ActivityError(f"the activity names more than {MAX_OBJECTS} objects")
    actor = None
    for value in node.get(AS + "actor", []):
        if isinstance(value, dict):
            actor = value.get("@id") or value.get("@value")
            if isinstance(actor, str):
                break
    return InboxActivity(type=known[0], objects=tuple(objects), actor=actor)


def register(app: QuartTrio, backend: Backend | None) -> None:
    """Add `POST /inbox` to *app*."""
    limiter = trio.CapacityLimiter(1)  # PyLD keeps caches of its own: one expansion at a time

    @app.post("/inbox")
    async def inbox() -> Response:
        if backend is None:
            raise Problem(503, "this server has no repository to publish in")
        backend.authorize()
        if request.mimetype not in JSON_TYPES:
            raise Problem(
                415,
                f"the body must be application/ld+json or application/json, "
                f"not {request.mimetype or 'untyped'}",
            )
        body = await request.get_data(cache=False)
        assert isinstance(body, bytes)
        try:
            activity = await trio.to_thread.run_sync(parse_activity, body, limiter=limiter)
        except ActivityError as e:
            raise Problem(400, str(e)) from None
        uris = [backend.local_uri(uri) for uri in activity.objects]
        outside = [uri for uri in uris if not backend.repository.contains(uri)]
        if outside:
            raise Problem(
                400,
                f"not a resource of this repository (expected URIs under {backend.root}): "
                f"{', '.join(outside[:5])}",
            )
        change = activity.change
        actor = activity.actor or backend.client_name()
        done: list[dict[str, Any]] = []
        for uri in uris:
            try:
                outcome = await publication.apply(
                    backend.repository, uri, change, handles=backend.handles
                )
            except PublicationError as e:
                cause = e.__cause__
                if isinstance(cause, ResourceNotFound | ResourceGone):
                    status = 404
                elif cause is not None and not isinstance(cause, PublicUrlError):
                    status = 502  # the repository or the handle service failed
                else:
                    status = 500
                log.warning("%s of %s for %s failed: %s", change.name, uri, actor, e.reason)
                done_note = f" (done before it: {len(done)})" if done else ""
                raise Problem(
                    status,
                    f"{change.name} {uri}: {e.reason}{done_note}",
                    extra={"done": done, "failed": {"uri": uri, "reason": e.reason}},
                ) from None
            log.info(
                "%s %s for %s: %s%s",
                change.name,
                uri,
                actor,
                outcome.status,
                f" ({outcome.handle})" if outcome.handle else "",
            )
            done.append(outcome.as_json())
        answer = {"type": activity.type, "actor": activity.actor, "done": done}
        return Response(dumps(answer), 201, content_type="application/json")

"""A job as the client asked for it: `JobRequest`, made from a STOMP message's headers
(`shared/reference/protocol.md`) by `request_from_message`, kept in the inbox as JSON."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import PlastronError
from .result import JobError

__all__ = [
    "ARG_PREFIX",
    "JobRequest",
    "MissingJobId",
    "decode_body",
    "encode_body",
    "request_from_message",
]

ARG_PREFIX = "PlastronArg-"
#: longest job id accepted (a URL fits easily)
MAX_JOB_ID = 2000


class MissingJobId(PlastronError):
    """The message has no usable job id: it cannot be correlated, so it is dropped."""


@attrs.frozen
class JobRequest:
    """One job as the client asked for it. Immutable; commands read it, never change it.

    Everything the daemon needs to run the job and answer it travels here, through the inbox
    (`to_json`/`from_json`): a new field needs a default and a line in each of the two.
    """

    job_id: str
    command: str
    #: `PlastronArg-<name>` headers by lower-cased name (values are strings)
    args: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    synchronous: bool = False
    #: where a synchronous job's completion goes (`reply-to` header)
    reply_to: str | None = None
    #: seconds since the epoch when plastrond received it
    received: float = 0.0
    #: current Archelon's `PlastronStatusURL`: every message about the job goes to
    #: JOB_STATUS carrying it (none: older Archelon, progress to JOB_PROGRESS)
    status_url: str | None = None
    #: set when the request cannot be run as it arrived (its body was over the size limit and
    #: was not kept): the one-line reason its error completion gives
    refused: str | None = None

    @property
    def on_behalf_of(self) -> str | None:
        return self.args.get("on-behalf-of") or None

    def text(self) -> str:
        """The body as text (UTF-8, a leading BOM dropped), or JobError."""
        try:
            return self.body.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise JobError(f"the message body is not UTF-8 text (byte {e.start})") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "command": self.command,
            "args": dict(self.args),
            "body": encode_body(self.body),
            "synchronous": self.synchronous,
            "reply_to": self.reply_to,
            "received": self.received,
            "status_url": self.status_url,
            "refused": self.refused,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRequest:
        return cls(
            job_id=str(data["job_id"]),
            command=str(data["command"]),
            args={str(k): str(v) for k, v in data.get("args", {}).items()},
            body=decode_body(data.get("body", "")),
            synchronous=bool(data.get("synchronous", False)),
            reply_to=data.get("reply_to"),
            received=float(data.get("received", 0.0)),
            status_url=data.get("status_url") or None,
            refused=str(data["refused"]) if data.get("refused") else None,
        )


def request_from_message(
    headers: Mapping[str, str],
    body: bytes,
    *,
    synchronous: bool,
    received: float,
    max_body: int | None = None,
    body_size: int | None = None,
) -> JobRequest:
    """The JobRequest a message asks for.

    A body longer than *max_body* bytes is not kept: the request gets `refused` (saying how
    long the body was), so it is answered with an error completion and never run.
    *body_size*, when given, is the body's real length and *body* only its first bytes (the
    STOMP parser dropped the rest of an oversized frame): such a request is always refused.

    Raises MissingJobId when there is no usable `PlastronJobId`. Anything else wrong with the
    request (no or unknown command, bad arguments, a body that does not parse) is found when
    the job runs, and answered with a completion carrying `PlastronJobError`.
    """
    job_id = (headers.get("PlastronJobId") or "").strip()
    if not job_id:
        raise MissingJobId("no PlastronJobId header")
    if len(job_id) > MAX_JOB_ID:
        raise MissingJobId(f"PlastronJobId is longer than {MAX_JOB_ID} characters")
    if any(ord(c) < 32 for c in job_id):
        raise MissingJobId("PlastronJobId contains control characters")
    args: dict[str, str] = {}
    for name, value in headers.items():
        if name[: len(ARG_PREFIX)].lower() == ARG_PREFIX.lower() and len(name) > len(ARG_PREFIX):
            args[name[len(ARG_PREFIX) :].lower()] = value
    # Older clients send the echo delay as a bare header.
    if "echo-delay" in headers and "echo-delay" not in args:
        args["echo-delay"] = headers["echo-delay"]
    reply_to = headers.get("reply-to") or None
    # Current Archelon says where its status route posts this job's messages.
    status_url = (headers.get("PlastronStatusURL") or "").strip() or None
    refused = None
    size = len(body) if body_size is None else body_size
    if max_body is not None and size > max_body:
        refused = (
            f"the message body is {size} bytes, over the limit of {max_body} bytes "
            "(MESSAGE_BROKER.MAX_REQUEST_BYTES)"
        )
        body = b""
    elif body_size is not None:
        refused = (
            f"the message (its headers and a body of {size} bytes) is over the STOMP frame "
            "limit (MESSAGE_BROKER.MAX_REQUEST_BYTES plus room for headers)"
        )
        body = b""
    return JobRequest(
        job_id=job_id,
        command=(headers.get("PlastronCommand") or "").strip(),
        args=args,
        body=body,
        synchronous=synchronous,
        reply_to=reply_to,
        received=received,
        status_url=status_url,
        refused=refused,
    )


def encode_body(body: bytes) -> dict[str, str]:
    """A message body as JSON: `{"text": ...}` when it is UTF-8, else `{"base64": ...}`."""
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def decode_body(data: Any) -> bytes:
    """The body `encode_body` made (or a bare string, as older journals have it)."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if "text" in data:
        return str(data["text"]).encode("utf-8")
    return base64.b64decode(data["base64"])

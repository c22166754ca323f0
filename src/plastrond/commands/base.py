"""What every command receives and gives back.

A command is an async generator function taking a `JobContext`. It yields progress dicts
(`{"count": {...}, ...}`) as it goes, and yields one `JobResult` last: Python's async generators
cannot `return` a value, so the result is the final item, after which the runner closes the
generator. A command that cannot run its job raises `JobError` with a one-line reason; that
reason becomes the completion's `PlastronJobError` header.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ..config import Config
    from ..repository import RepositoryClient

__all__ = [
    "DEFAULT_STATE",
    "CommandFunc",
    "JobContext",
    "JobError",
    "JobRequest",
    "JobResult",
    "Progress",
]

#: The completion state of a result that carries no `type` (echo's).
DEFAULT_STATE = "Done"

Progress = dict[str, Any]


class JobError(Exception):
    """The job cannot be done as asked; the message is one line a person can act on.

    *details* are extra keys for the completion's JSON body, for clients that read the body of
    a failed job too (Archelon reads `stats` from a failed update's completion).
    """

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        self.details: Mapping[str, Any] = details or {}


@attrs.frozen
class JobRequest:
    """One job as the client asked for it. Immutable; commands read it, never change it."""

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
            "body": _encode_body(self.body),
            "synchronous": self.synchronous,
            "reply_to": self.reply_to,
            "received": self.received,
            "status_url": self.status_url,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRequest:
        return cls(
            job_id=str(data["job_id"]),
            command=str(data["command"]),
            args={str(k): str(v) for k, v in data.get("args", {}).items()},
            body=_decode_body(data.get("body", "")),
            synchronous=bool(data.get("synchronous", False)),
            reply_to=data.get("reply_to"),
            received=float(data.get("received", 0.0)),
            status_url=data.get("status_url") or None,
        )


@attrs.frozen
class JobResult:
    """How a job ended. `body` is sent as is when it is bytes, as JSON otherwise."""

    state: str = DEFAULT_STATE
    body: bytes | Mapping[str, Any] = b""
    #: set when the job failed as a whole: the completion's `PlastronJobError`
    error: str | None = None
    content_type: str | None = None

    def encoded_body(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@attrs.frozen
class JobContext:
    """What a command may use while it runs."""

    request: JobRequest
    config: Config
    log: logging.Logger
    #: the daemon's repository client (one connection pool for all jobs), if it has one
    repository_client: RepositoryClient | None = None
    #: or what makes it when a job first needs it (the daemon's, shared by all jobs)
    repository_factory: Callable[[], RepositoryClient] | None = None

    @property
    def repository(self) -> RepositoryClient:
        """The repository client, acting on behalf of the request's user when it names one."""
        client = self.repository_client
        if client is None and self.repository_factory is not None:
            client = self.repository_factory()
        if client is None:
            raise JobError("no repository client is configured for this job")
        return client.on_behalf_of(self.request.on_behalf_of)


CommandFunc = Callable[[JobContext], AsyncIterator[Progress | JobResult]]


def _encode_body(body: bytes) -> dict[str, str]:
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"base64": base64.b64encode(body).decode("ascii")}


def _decode_body(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if "text" in data:
        return str(data["text"]).encode("utf-8")
    import base64

    return base64.b64decode(data["base64"])

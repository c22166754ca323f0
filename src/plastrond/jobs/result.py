"""How a job ends: a `JobResult`, or a `JobError` (the job cannot be done as asked)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import PlastronError, one_line

__all__ = ["DEFAULT_STATE", "ERROR_STATE", "JobError", "JobResult", "error_result"]

#: The completion state of a result that carries no `type` (echo's).
DEFAULT_STATE = "Done"
#: the state of a job that failed as a whole (clients look at PlastronJobError first)
ERROR_STATE = "Error"


class JobError(PlastronError):
    """The job cannot be done as asked; the message is one line a person can act on.

    A command raises it (or a subclass: the import's, the export's) from wherever it finds
    the problem, in a task of its own nursery too; the runner turns it into the completion's
    `PlastronJobError` header. *details* are extra keys for the completion's JSON body, for
    clients that read the body of a failed job too (Archelon reads `stats` from a failed
    update's completion).
    """

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(one_line(str(message)))
        self.details: Mapping[str, Any] = details or {}


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


def error_result(
    reason: str,
    details: Mapping[str, Any] | None = None,
    *,
    state: str = ERROR_STATE,
    progress: int = 0,
) -> JobResult:
    """The result of a job that failed as a whole, in *state* (the runner gives the failed
    state protocol.md names for the request's command, `jobs.states.failed_state`) with the
    percent it reached."""
    body = {**(details or {}), "type": state, "state": state, "progress": progress, "error": reason}
    return JobResult(state=state, body=body, error=reason)

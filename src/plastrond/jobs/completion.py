"""The messages plastrond sends about a job: completions and progress."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from .request import JobRequest, decode_body, encode_body
from .result import JobResult, error_result
from .states import failed_state, percent_reached

__all__ = ["Completion", "completion_for", "failure_of_request", "progress_body"]


@attrs.frozen
class Completion:
    """A completion message, ready to send and to keep in the outbox until it is receipted."""

    job_id: str
    destination: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    synchronous: bool = False

    @property
    def error(self) -> str | None:
        return dict(self.headers).get("PlastronJobError")

    @property
    def state(self) -> str:
        return dict(self.headers).get("PlastronJobState", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "destination": self.destination,
            "headers": [list(h) for h in self.headers],
            "body": encode_body(self.body),
            "synchronous": self.synchronous,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Completion:
        return cls(
            job_id=str(data["job_id"]),
            destination=str(data["destination"]),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            body=decode_body(data["body"]),
            synchronous=bool(data.get("synchronous", False)),
        )


def completion_for(request: JobRequest, result: JobResult, destination: str) -> Completion:
    """The completion of *request* with *result*, addressed to *destination*."""
    headers = [
        ("PlastronJobId", request.job_id),
        ("PlastronJobState", result.state),
        ("persistent", "true"),
    ]
    if request.status_url is not None:
        headers.append(("PlastronStatusURL", request.status_url))
    if result.error is not None:
        headers.append(("PlastronJobError", " ".join(result.error.split()) or "failed"))
    if result.content_type:
        headers.append(("content-type", result.content_type))
    body = result.body
    if isinstance(body, Mapping):
        # JSON completions carry their state and "progress": 100, or for a job that failed as
        # a whole the percent it reached (protocol.md).
        progress = 100 if result.error is None else percent_reached(0, body.get("progress"))
        body = {"type": result.state, **body, "state": result.state, "progress": progress}
    return Completion(
        job_id=request.job_id,
        destination=destination,
        headers=tuple(headers),
        body=JobResult(result.state, body).encoded_body(),
        synchronous=request.synchronous,
    )


def failure_of_request(
    request: JobRequest, reason: str, details: Mapping[str, Any] | None = None, progress: int = 0
) -> JobResult:
    """`error_result` in the failed state protocol.md gives *request*'s command."""
    return error_result(
        reason, details, state=failed_state(request.command, request.args), progress=progress
    )


def progress_body(
    progress: Mapping[str, Any], state: str = "in_progress", percent: int = 0
) -> bytes:
    """A progress message's body: the command's *progress* with `state` and `progress`."""
    body = {**progress, "state": state, "progress": percent}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")

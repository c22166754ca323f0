"""The messages plastrond sends about a job: completions and progress."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from ..durable import atomic_write
from ..errors import describe, one_line
from ..logs import job_context
from .ids import job_id_segment
from .request import JobRequest, decode_body, encode_body
from .result import JobResult, error_result
from .states import failed_state, percent_reached

__all__ = [
    "FULL_BODY_NAME",
    "Completion",
    "FullBodyPlace",
    "completion_for",
    "cut_to_limit",
    "failure_of_request",
    "full_body_path",
    "limit_completion",
    "progress_body",
]

log = logging.getLogger(__name__)

#: where the full body of a job's cut completion is kept, given the job's id (it may look at
#: the disk: called in a worker thread)
FullBodyPlace = Callable[[str], Path]

#: the file name a cut completion's full body gets in a job's folder
FULL_BODY_NAME = "completion.full"
#: the keys of a JSON completion that a cut one keeps (protocol.md, "States")
_KEPT_KEYS = ("type", "state", "progress", "count", "error", "content_type", "download_uri")


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
        headers.append(("PlastronJobError", one_line(result.error) or "failed"))
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


def full_body_path(job_id: str, job_folder: Path | None, log_dir: Path) -> Path:
    """Where the full body of *job_id*'s cut completion is kept: the job's folder when it has
    one, else `LOG_DIR/completions/<job id segment>.full`."""
    if job_folder is not None:
        return job_folder / FULL_BODY_NAME
    return log_dir / "completions" / f"{job_id_segment(job_id)}.full"


def _write_whole(path: Path, data: bytes) -> str | None:
    """Write *data* to *path* atomically (`durable.atomic_write`); the error, or None."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError as e:
        return describe(e)
    return None


def limit_completion(completion: Completion, limit: int, full_path: Path) -> Completion:
    """*completion* when its body is at most *limit* bytes; else the same completion with its
    body cut to fit and a note saying so, the full body written to *full_path*.

    A JSON object body keeps the keys clients read (`type`, `state`, `progress`, `count`...)
    and gets `truncated` (sizes and where the full body is); any other body keeps as many
    leading bytes as fit, followed by a one-line note.
    """
    size = len(completion.body)
    if size <= limit:
        return completion
    failure = _write_whole(full_path, completion.body)
    where = str(full_path) if failure is None else f"not kept ({full_path}: {failure})"
    note = f"completion body cut: {size} bytes, over the limit of {limit} bytes; full body: {where}"
    body: bytes | None = None
    try:
        data = json.loads(completion.body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        kept = {k: data[k] for k in _KEPT_KEYS if k in data}
        kept["truncated"] = {
            "bytes": size,
            "limit": limit,
            "full_body": str(full_path) if failure is None else None,
            "note": note,
        }
        body = json.dumps(kept, ensure_ascii=False).encode("utf-8")
        if len(body) > limit:
            kept = {k: kept[k] for k in ("type", "state", "progress", "truncated") if k in kept}
            body = json.dumps(kept, ensure_ascii=False).encode("utf-8")
    if body is None or len(body) > limit:
        tail = f"\n[plastrond: {note}]\n".encode()
        body = completion.body[: max(0, limit - len(tail))] + tail
        body = body[:limit]
    return attrs.evolve(completion, body=body)


async def cut_to_limit(completion: Completion, limit: int, place: FullBodyPlace) -> Completion:
    """*completion* with its body cut to *limit* bytes (`limit_completion`, in a worker
    thread), the full body kept at `place(job_id)`; a cut is logged."""
    if len(completion.body) <= limit:
        return completion

    def cut() -> tuple[Completion, Path]:
        path = place(completion.job_id)
        return limit_completion(completion, limit, path), path

    limited, path = await trio.to_thread.run_sync(cut)
    with job_context(completion.job_id):
        log.warning(
            "completion body of %d bytes cut to %d (limit %d); full body in %s",
            len(completion.body),
            len(limited.body),
            limit,
            path,
        )
    return limited

"""Job requests from STOMP messages (the headers of `shared/reference/protocol.md`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..commands.base import JobRequest

__all__ = ["ARG_PREFIX", "MissingJobId", "parse_request"]

ARG_PREFIX = "PlastronArg-"
#: longest job id accepted (a URL fits easily)
MAX_JOB_ID = 2000


class MissingJobId(Exception):
    """The message has no usable job id: it cannot be correlated, so it is dropped."""


def parse_request(
    headers: Mapping[str, str], body: bytes, *, synchronous: bool, received: float
) -> JobRequest:
    """The JobRequest a message asks for.

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
    return JobRequest(
        job_id=job_id,
        command=(headers.get("PlastronCommand") or "").strip(),
        args=args,
        body=body,
        synchronous=synchronous,
        reply_to=reply_to,
        received=received,
        status_url=status_url,
    )

"""Job ids as file and folder names.

Job ids are chosen by clients (Archelon uses URLs such as
`http://archelon.example/import_jobs/42`), so they never become paths as they are: each is
percent-encoded into exactly one safe path segment, the same way everywhere (message store,
import job folders).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, unquote

__all__ = ["MAX_SEGMENT", "job_id_segment", "segment_job_id"]

#: longest segment we produce, in bytes (file systems allow 255)
MAX_SEGMENT = 200
#: the end of a shortened segment: `~~` and 40 hex digits of the whole id's SHA-256
_SHORTENED = re.compile(r"~~[0-9a-f]{40}\Z")


def job_id_segment(job_id: str) -> str:
    """One path segment for *job_id*: percent-encoded, never empty, `.`/`..` or hidden.

    Different ids give different segments. An id too long for a file name keeps a readable
    prefix and gets a hash of the whole id.
    """
    segment = quote(job_id, safe="-_~")
    segment = segment.replace(".", "%2E") if segment.startswith(".") else segment
    segment = segment.replace(".", "%2E") if set(segment) <= {"."} else segment
    if not segment:
        segment = "%00empty"
    # A segment that is exactly what shortening makes (an id chosen to spell another id's
    # shortened segment) is shortened too, so that the two never share a folder.
    if len(segment) > MAX_SEGMENT or (len(segment) == MAX_SEGMENT and _SHORTENED.search(segment)):
        digest = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:40]
        segment = f"{segment[: MAX_SEGMENT - 42]}~~{digest}"
    return segment


def segment_job_id(segment: str) -> str:
    """The job id a (not shortened) segment stands for."""
    return unquote(segment)

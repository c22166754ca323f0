"""The root of plastrond's exceptions, the one place that looks inside exception groups, and
the one way an exception becomes a line of text.

Every exception the daemon defines derives from `PlastronError`; beside it stand the repository
client's tree (`plastrond.repository.RepositoryError`) and the codec's (`stompframe.StompError`),
which can be used without the daemon. A job-level failure is a `plastrond.jobs.JobError`.

A trio nursery raises what its tasks raised as an `ExceptionGroup` (nested for nested
nurseries). `failure_of` says which single exception such a group stands for; nothing else in
plastrond walks a group.

`describe(e)` is what an error message says after its own words ("cannot read x: ..."), and
`one_line(text)` puts any text on one line. Two modules spell `describe`'s rule for an
`OSError` out instead: `health` (which imports nothing of plastrond) and the repository's
`describe` of a request that got no answer (`repository._retry`), which names httpx's kinds.
"""

from __future__ import annotations

import re

__all__ = ["PlastronError", "describe", "failure_of", "one_line"]

#: whitespace around a line break (and the break itself)
_BREAK = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


def one_line(text: str) -> str:
    """*text* on one line: each line break, with the whitespace around it, becomes one space;
    other spaces stay as they are (a label written `Object  Type` is shown so)."""
    return _BREAK.sub(" ", text).strip()


def describe(e: BaseException, *, filename: bool = False, named: bool = False) -> str:
    """What went wrong in *e*, on one line, for a message that says already what was being done:
    an `OSError`'s `strerror` (followed by its file name in parentheses with *filename*), else
    its text, else the name of its class. *named* (where the kind matters: an internal error, a
    library's failure) puts the name of its class first, `ReadTimeout: ...`. A group stands
    for the one exception it holds (`failure_of`)."""
    e = failure_of(e) or e
    if named:
        text = one_line(str(e))
        return f"{type(e).__name__}: {text}" if text else type(e).__name__
    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if filename and e.filename else ""
        return one_line(f"{e.strerror}{where}")
    return one_line(str(e)) or type(e).__name__


class PlastronError(Exception):
    """Something plastrond itself reports; the message is one line a person can act on."""


def failure_of(error: BaseException, *kinds: type[BaseException]) -> BaseException | None:
    """The one exception *error* stands for, or None when it stands for more than one.

    *error* is returned as it is when it is not a group. In a group (however nested): with
    *kinds*, its first exception when every one of them is of *kinds*; without, its exception
    when it holds exactly one.
    """
    if not isinstance(error, BaseExceptionGroup):
        if kinds and not isinstance(error, kinds):
            return None
        return error
    leaves: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        e = pending.pop(0)
        if isinstance(e, BaseExceptionGroup):
            pending[:0] = e.exceptions
        else:
            leaves.append(e)
    if kinds:
        return leaves[0] if leaves and all(isinstance(e, kinds) for e in leaves) else None
    return leaves[0] if len(leaves) == 1 else None

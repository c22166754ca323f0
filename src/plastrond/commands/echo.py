"""echo: the diagnostic command. Its completion body is the request body, unchanged."""

from __future__ import annotations

from typing import Self

import attrs
import trio

from ..config import Config
from ..jobs.protocol import JobContext, Report
from ..jobs.request import JobRequest
from ..jobs.result import JobResult
from . import args, command
from .options import options_of

#: the longest delay a client may ask for, in seconds (a day)
MAX_DELAY = 86_400.0


@attrs.frozen
class EchoRequest:
    """An echo job's request: how long to wait before answering (`echo-delay`)."""

    delay: float = 0.0

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self:
        # `echo-delay` (older clients) arrives in args too; see jobs.request.
        return cls(args.number(request, "echo-delay", 0.0, minimum=0.0, maximum=MAX_DELAY))


@command("echo")
async def echo(ctx: JobContext, report: Report) -> JobResult:
    delay = (await options_of(EchoRequest, ctx)).delay
    if delay:
        ctx.log.info("echo: waiting %g s", delay)
        deadline = trio.current_time() + delay
        # Waiting in slices keeps the progress messages coming on long delays.
        while (left := deadline - trio.current_time()) > 0:
            report(
                {
                    "time": {"delay": delay, "left": round(left, 3)},
                    "progress": round(100 * (delay - left) / delay),
                }
            )
            await trio.sleep(min(left, 5.0))
    return JobResult(body=ctx.request.body)

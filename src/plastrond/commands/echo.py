"""echo: the diagnostic command. Its completion body is the request body, unchanged."""

from __future__ import annotations

import trio

from ..jobs.protocol import JobContext, Report
from ..jobs.result import JobResult
from . import args, command

#: the longest delay a client may ask for, in seconds (a day)
MAX_DELAY = 86_400.0


@command("echo")
async def echo(ctx: JobContext, report: Report) -> JobResult:
    # `echo-delay` (older clients) arrives in args too; see jobs.request.
    delay = args.number(ctx.request, "echo-delay", 0.0, minimum=0.0, maximum=MAX_DELAY)
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

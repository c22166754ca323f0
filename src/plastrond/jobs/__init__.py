"""Jobs: requests from messages, the command protocol and the item engine the commands share
(`items`), the durable inbox and outbox, the runner. Nothing here imports a command: the
runner finds them in the `CommandRegistry` it is given (`plastrond.commands.registry` in the
daemon)."""

from .protocol import Command, CommandRegistry, JobContext, Progress, Report, command
from .request import JobRequest
from .result import JobError, JobResult

__all__ = [
    "Command",
    "CommandRegistry",
    "JobContext",
    "JobError",
    "JobRequest",
    "JobResult",
    "Progress",
    "Report",
    "command",
]

"""How a command reads its request: one options class per command, built by `options_of`.

A command declares a frozen attrs class of what it needs from its request, checked, with::

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self

which reads the `PlastronArg-*` arguments (with the helpers of `commands.args`) and the body,
and raises `RequestError` with one line naming the argument, header or part of the body at
the first problem. The command's first line is::

    options = await options_of(ExportRequest, ctx)

`options_of` is the one place that builds them; a JobError raised while reading by code below
the commands (a destination the configuration does not allow, a body that is not UTF-8) is
given the same class there, keeping its message and details. So every bad request fails the
same way: a `RequestError`, before the job has touched the repository.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Self, TypeVar

from ..jobs.protocol import JobContext
from ..jobs.request import JobRequest
from ..jobs.result import JobError

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["Options", "RequestError", "options_of"]


class RequestError(JobError):
    """The request cannot be run as given: a bad or missing argument, a body that does not
    say what the command needs. One line, naming what is wrong."""


class Options(Protocol):
    """What a command reads from its request (see the module)."""

    @classmethod
    async def from_request(cls, request: JobRequest, config: Config) -> Self: ...


OptionsT = TypeVar("OptionsT", bound=Options)


async def options_of(cls: type[OptionsT], ctx: JobContext) -> OptionsT:
    """*ctx*'s request read as *cls*, checked; `RequestError` when it cannot be run."""
    try:
        return await cls.from_request(ctx.request, ctx.config)
    except RequestError:
        raise
    except JobError as e:
        raise RequestError(str(e), details=e.details) from e

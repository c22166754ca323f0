"""What a command is, what it receives, and how the runner finds it.

A command is an async function::

    async def run(ctx: JobContext, report: Report) -> JobResult

It reads its request from `ctx`, calls `report(progress)` whenever it has news (a dict such
as `{"count": {...}, "progress": 42}`; cheap, never blocks: the runner keeps only the newest
and decides when to send it), and returns its `JobResult`. A job that cannot be done as asked
raises `JobError` with a one-line reason, from the command or from any task of a nursery it
opens: the runner finds it in the exception group that reaches it (`errors.failure_of`), so a
command need not unwrap its nurseries' groups.

Commands are found by name in a `CommandRegistry`, which the daemon gives the runner; the
runner never imports a command.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .request import JobRequest
from .result import JobError, JobResult

if TYPE_CHECKING:
    from ..config import Config
    from ..repository import RepositoryClient

__all__ = ["Command", "CommandRegistry", "JobContext", "Progress", "Report", "command"]

Progress = dict[str, Any]
#: publishes a job's progress (the runner coalesces it)
Report = Callable[[Progress], None]
Command = Callable[["JobContext", Report], Awaitable[JobResult]]


@attrs.frozen
class JobContext:
    """What a command may use while it runs."""

    request: JobRequest
    config: Config
    log: logging.Logger
    #: the daemon's repository client (one connection pool for all jobs), if it has one
    repository_client: RepositoryClient | None = None
    #: or what makes it when a job first needs it (the daemon's, shared by all jobs)
    repository_factory: Callable[[], RepositoryClient] | None = None

    @property
    def repository(self) -> RepositoryClient:
        """The repository client, acting on behalf of the request's user when it names one."""
        client = self.repository_client
        if client is None and self.repository_factory is not None:
            client = self.repository_factory()
        if client is None:
            raise JobError("no repository client is configured for this job")
        return client.on_behalf_of(self.request.on_behalf_of)


#: the attribute `command` marks a command function with: the names it answers to
_NAMES = "__plastron_command_names__"


def command(name: str) -> Callable[[Command], Command]:
    """Mark the decorated function as the command *name*, for a `CommandRegistry` that
    imports its module to find it."""

    def mark(func: Command) -> Command:
        setattr(func, _NAMES, (*getattr(func, _NAMES, ()), name.lower()))
        return func

    return mark


class CommandRegistry:
    """Commands by name (case-insensitive).

    *modules* maps names to the modules (absolute names) whose functions marked with
    `@command(name)` are those commands; a module is imported when one of its names is first
    asked for, so a daemon that only ever echoes never loads the export or import machinery.
    `register` adds a command directly (tests do).
    """

    def __init__(self, modules: Mapping[str, str] | None = None) -> None:
        self.modules = {k.lower(): v for k, v in (modules or {}).items()}
        self._commands: dict[str, Command] = {}

    def register(self, name: str) -> Callable[[Command], Command]:
        """Register the decorated function as the command *name* of this registry."""

        def register(func: Command) -> Command:
            self._commands[name.lower()] = func
            return func

        return register

    def get(self, name: str) -> Command:
        """The command called *name*, or JobError."""
        key = name.strip().lower()
        if key not in self._commands and key in self.modules:
            module = importlib.import_module(self.modules[key])
            for value in vars(module).values():
                for marked in getattr(value, _NAMES, ()):
                    if self.modules.get(marked) == module.__name__:
                        self._commands.setdefault(marked, value)
        try:
            return self._commands[key]
        except KeyError:
            known = ", ".join(self.names())
            raise JobError(f"unknown command {name!r} (known: {known})") from None

    def loaded(self, name: str) -> bool:
        """Whether `get(name)` has nothing to import (a command asked for before, or an
        unknown one)."""
        key = name.strip().lower()
        return key in self._commands or key not in self.modules

    def names(self) -> list[str]:
        """Every command name known, shipped or registered."""
        return sorted(set(self.modules) | set(self._commands))

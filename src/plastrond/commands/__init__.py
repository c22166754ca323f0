"""Commands by name. A command module registers itself with `@command("name")`; the modules
listed in `BUILTIN` are imported on first lookup."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from .base import CommandFunc, JobContext, JobError, JobRequest, JobResult, Progress

__all__ = [
    "BUILTIN",
    "CommandFunc",
    "JobContext",
    "JobError",
    "JobRequest",
    "JobResult",
    "Progress",
    "command",
    "get_command",
    "names",
]

#: the commands plastrond ships, by name, and the module of this package that defines each;
#: a module is imported when its command is first asked for, so a daemon that only ever
#: echoes never loads the export or import machinery
BUILTIN: dict[str, str] = {
    "echo": "echo",
    "export": "export",
    "import": "import",
    "update": "update",
    "publish": "publish",
    "unpublish": "publish",
}

_registry: dict[str, CommandFunc] = {}


def command(name: str) -> Callable[[CommandFunc], CommandFunc]:
    """Register the decorated async generator function as the command *name*."""

    def register(func: CommandFunc) -> CommandFunc:
        _registry[name.lower()] = func
        return func

    return register


def get_command(name: str) -> CommandFunc:
    """The command called *name* (case-insensitive), or JobError."""
    key = name.strip().lower()
    if key not in _registry and key in BUILTIN:
        importlib.import_module(f"{__name__}.{BUILTIN[key]}")
    try:
        return _registry[key]
    except KeyError:
        raise JobError(f"unknown command {name!r} (known: {', '.join(names())})") from None


def names() -> list[str]:
    """Every command name known, shipped or registered."""
    return sorted(set(BUILTIN) | set(_registry))

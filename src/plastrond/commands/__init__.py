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

#: modules in this package that define the commands plastrond ships
BUILTIN = ("echo", "export", "import", "update", "publish")

_registry: dict[str, CommandFunc] = {}
_loaded = False


def command(name: str) -> Callable[[CommandFunc], CommandFunc]:
    """Register the decorated async generator function as the command *name*."""

    def register(func: CommandFunc) -> CommandFunc:
        _registry[name.lower()] = func
        return func

    return register


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN:
            importlib.import_module(f"{__name__}.{module}")
        _loaded = True


def get_command(name: str) -> CommandFunc:
    """The command called *name* (case-insensitive), or JobError."""
    _load_builtin()
    try:
        return _registry[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(_registry))
        raise JobError(f"unknown command {name!r} (known: {known})") from None


def names() -> list[str]:
    _load_builtin()
    return sorted(_registry)

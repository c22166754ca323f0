"""The commands plastrond ships, one module each, in `registry`.

A command is `async def run(ctx, report) -> JobResult` (see `plastrond.jobs.protocol`); a
module registers its commands with `@command("name")`. The modules are imported when their
command is first asked for, so a daemon that only ever echoes never loads the export or
import machinery.
"""

from __future__ import annotations

from ..jobs.protocol import CommandRegistry, command

__all__ = ["BUILTIN", "command", "get_command", "names", "registry"]

#: the commands plastrond ships, by name, and the module of this package that defines each
BUILTIN: dict[str, str] = {
    "echo": "echo",
    "export": "export",
    "import": "import_",
    "update": "update",
    "publish": "publish",
    "unpublish": "publish",
}

registry = CommandRegistry({name: f"{__name__}.{module}" for name, module in BUILTIN.items()})
get_command = registry.get
names = registry.names

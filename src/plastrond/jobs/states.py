"""The `state` every message about a job carries (protocol.md, "States").

Archelon stores the state of each message it gets (current Archelon: `job.state =
body["state"]`; older Archelon's export listener: the `PlastronJobState` header) and refuses
values its job models do not define, so the state of a running or failed job depends on the
command, and for import on whether the run only validates. The state a job ends in when it
did run is the command's own (`JobResult.state`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..parsing import parse_bool

__all__ = [
    "UNKNOWN_COMMAND_ERROR",
    "failed_state",
    "is_validate_only",
    "percent_reached",
    "running_state",
]

#: the failed state of a request whose command is missing or unknown
UNKNOWN_COMMAND_ERROR = "error"

#: while running, by command; echo has none of its own in Archelon
_RUNNING = {
    "import": "import_in_progress",
    "export": "in_progress",
    "publish": "publish_in_progress",
    "unpublish": "publish_in_progress",
    "update": "update_in_progress",
    "echo": "in_progress",
}
_KNOWN = frozenset(_RUNNING)


def _command(command: str) -> str:
    return command.strip().lower()


def is_validate_only(args: Mapping[str, str]) -> bool:
    """Whether an import's `validate-only` argument is true (`parsing.parse_bool`)."""
    return parse_bool(args.get("validate-only") or "") is True


def running_state(command: str, args: Mapping[str, str]) -> str:
    """The state of a progress message of *command* run with *args*."""
    name = _command(command)
    if name == "import" and is_validate_only(args):
        return "validate_in_progress"
    return _RUNNING.get(name, "in_progress")


def failed_state(command: str, args: Mapping[str, str]) -> str:
    """The state of a job that failed as a whole: `<command>_error` (`validate_error` for a
    validate-only import, `error` when the command is missing or unknown)."""
    name = _command(command)
    if name == "import" and is_validate_only(args):
        return "validate_error"
    if name in _KNOWN:
        return f"{name}_error"
    return UNKNOWN_COMMAND_ERROR


def percent_reached(reached: int, progress: object) -> int:
    """The percent done to report: *progress* (a command's `progress` value) when it is a
    number, never less than *reached*, always an integer 0-100."""
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        return reached
    return max(reached, min(100, max(0, int(progress))))

"""Turning `PlastronArg-*` strings into typed values, with errors that name the argument.

What an options class's `from_request` reads its arguments with (see `commands.options`);
each raises `RequestError`."""

from __future__ import annotations

import math

from ..jobs.request import JobRequest
from ..parsing import parse_bool
from .options import RequestError

__all__ = ["boolean", "choice", "number", "required_text", "text"]


def text(request: JobRequest, name: str, default: str | None = None) -> str | None:
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def required_text(request: JobRequest, name: str) -> str:
    value = text(request, name)
    if value is None:
        raise RequestError(f"missing required argument {name} (header PlastronArg-{name})")
    return value


def boolean(request: JobRequest, name: str, default: bool = False) -> bool:
    value = text(request, name)
    if value is None:
        return default
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise RequestError(f"argument {name} must be true or false, not {value!r}")


def number(
    request: JobRequest,
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    value = text(request, name)
    if value is None:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        result = float(value)
    except ValueError:
        raise RequestError(f"argument {name} must be {kind}, not {value!r}") from None
    if not math.isfinite(result) or (integer and result != int(result)):
        raise RequestError(f"argument {name} must be {kind}, not {value!r}")
    if minimum is not None and result < minimum:
        raise RequestError(f"argument {name} must be at least {minimum:g}, not {value!r}")
    if maximum is not None and result > maximum:
        raise RequestError(f"argument {name} must be at most {maximum:g}, not {value!r}")
    return int(result) if integer else result


def choice(request: JobRequest, name: str, options: dict[str, str], default: str) -> str:
    """One of *options* (accepted spelling -> canonical value), case-insensitive."""
    value = text(request, name)
    if value is None:
        return default
    try:
        return options[value.lower()]
    except KeyError:
        allowed = ", ".join(sorted(options))
        raise RequestError(f"argument {name} must be one of {allowed}, not {value!r}") from None

"""Logging: one line per event, to the console and to a file per run, with the job id on every
line about a job and no secret anywhere.

- `configure_logging()` sets up both handlers for a mode (`stomp` or `http`); the file is
  `<LOG_DIR>/plastrond.<mode>.<start time>.log`.
- `job_context(job_id)` marks the current task (trio tasks each have their own context) as
  working on a job; every line logged inside it carries `[job <id>]`.
- `register_secret(value)` adds a value (password, token, JWT secret, a minted JWT) that is
  replaced by `***` in every line, whatever logged it.
- `configure_logging(..., log_format="json")` writes one JSON object per line instead: `time`
  (UTC, ISO 8601), `level`, `logger`, `job_id` (on lines about a job), `message`, `exc` (a
  traceback, when there is one) and any structured fields the call passed with `extra=`;
  every string in it is redacted as the text lines are.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "configure_logging",
    "current_job_id",
    "job_context",
    "register_secret",
]

current_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "plastrond_job_id", default=None
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_REDACTED = "***"

FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(job)s: %(message)s"


def register_secret(value: str | None) -> None:
    """Never let *value* appear in a log line."""
    if value:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    # Longest first, so that a secret containing another is replaced whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)


class _JobFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        job = getattr(record, "job_id", None) or current_job_id.get()
        record.job = f" [job {job}]" if job else ""
        return True


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        # One event, one line: a message or traceback with newlines is kept on one line.
        text = text.replace("\r", "\\r").replace("\n", " | ")
        return redact(text)


#: what every LogRecord has (and `job`, set by _JobFilter); anything else came from `extra=`
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "job",
    "message",
    "asctime",
    "taskName",
}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {redact(str(k)): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


class _JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, with every string redacted."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        job = getattr(record, "job_id", None) or current_job_id.get()
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
        }
        if job:
            entry["job_id"] = str(job)
        entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry and not key.startswith("_"):
                entry[key] = value
        # Redacted value by value (not the encoded line): the line always stays valid JSON.
        return json.dumps(_redact_value(entry), ensure_ascii=False, default=str)


def _handler(handler: logging.Handler, level: int, log_format: str = "text") -> logging.Handler:
    handler.setLevel(level)
    handler.addFilter(_JobFilter())
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_RedactingFormatter(FORMAT))
    return handler


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def level_from_environment(environ: Mapping[str, str]) -> int:
    """The level `LOG_LEVEL` names (INFO when unset), or ValueError with a one-line reason."""
    name = (environ.get("LOG_LEVEL") or "").strip().upper() or "INFO"
    if name == "WARN":
        name = "WARNING"
    if name not in LOG_LEVELS:
        raise ValueError(
            f"environment variable LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, "
            f"got {environ.get('LOG_LEVEL')!r}"
        )
    level: int = getattr(logging, name)
    return level


def configure_logging(
    mode: str,
    log_dir: Path | None,
    *,
    verbose: bool = False,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    stream: object = None,
    log_format: str = "text",
) -> Path | None:
    """Send log lines to *stream* (stderr) and to a new file in *log_dir*; return its path.
    *log_format* is "text" or "json" (one JSON object per line).

    Raises OSError when the folder cannot be created or the file cannot be opened.
    """
    for secret in secrets:
        register_secret(secret)
    if verbose:
        level = logging.DEBUG
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.setLevel(level)
    console = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    root.addHandler(_handler(console, level, log_format))
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        log_path = log_dir / f"plastrond.{mode}.{stamp}.log"
        n = 1
        while log_path.exists():
            n += 1
            log_path = log_dir / f"plastrond.{mode}.{stamp}.{n}.log"
        file_handler = logging.FileHandler(log_path, encoding="utf-8")
        root.addHandler(_handler(file_handler, level, log_format))
    # Libraries that chatter at debug level stay at info unless they have something to say.
    for noisy in ("httpx", "httpcore", "hpack", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))
    return log_path

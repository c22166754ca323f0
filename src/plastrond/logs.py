"""Logging: one line per event, to the console and to a file per run, with the job id on every
line about a job and no secret anywhere.

- `configure_logging()` sets up both handlers for a mode (`stomp` or `http`); the file is
  `<LOG_DIR>/plastrond.<mode>.<start time>.log`.
- `job_context(job_id)` marks the current task (trio tasks each have their own context) as
  working on a job; every line logged inside it carries `[job <id>]`.
- `register_secret(value)` adds a value (password, token, JWT secret, a minted JWT) that is
  replaced by `***` in every line, whatever logged it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

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


def _handler(handler: logging.Handler, level: int) -> logging.Handler:
    handler.setLevel(level)
    handler.addFilter(_JobFilter())
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
) -> Path | None:
    """Send log lines to *stream* (stderr) and to a new file in *log_dir*; return its path.

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
    root.addHandler(_handler(console, level))
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        log_path = log_dir / f"plastrond.{mode}.{stamp}.log"
        n = 1
        while log_path.exists():
            n += 1
            log_path = log_dir / f"plastrond.{mode}.{stamp}.{n}.log"
        root.addHandler(_handler(logging.FileHandler(log_path, encoding="utf-8"), level))
    # Libraries that chatter at debug level stay at info unless they have something to say.
    for noisy in ("httpx", "httpcore", "hpack", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))
    return log_path

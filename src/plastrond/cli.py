"""The `plastrond` command: `plastrond -c CONFIG [-v] {stomp,http}`,
`plastrond -c CONFIG reconcile [--json] JOB_ID` (an import job checked against the repository:
exit 0 when all is as logged, 1 when not, 2 when the check cannot be made), and
`plastrond -c CONFIG submit COMMAND [BODY] ...` (one job sent through the broker and followed:
exit 0 when it ended well, 1 when badly, 2 for a usage or configuration error, 3 when no answer
came; see `plastrond.submit`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import __version__
from .config import LOG_FORMATS, Config, ConfigError, load_config
from .errors import describe
from .logs import configure_logging, level_from_environment
from .metrics import set_build_info
from .shutdown import catch_early_signals

log = logging.getLogger("plastrond")

MODES = ("stomp", "http")
#: the exit status of `reconcile` when the check cannot be made (1: not as logged)
CANNOT_CHECK = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        choice = re.search(r"invalid choice: '([^']*)'", message)
        if choice and "stomp" in message:
            message = (
                f"unknown mode {choice.group(1)!r} (choose stomp or http, reconcile JOB_ID, "
                "or submit COMMAND)"
            )
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="plastrond",
        description=(
            "Run Fedora repository batch jobs received over STOMP (stomp mode), or serve the "
            "HTTP API about import jobs (http mode)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-c", "--config", required=True, metavar="CONFIG", help="the YAML configuration file"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    modes = parser.add_subparsers(
        dest="mode", metavar="{stomp,http,reconcile,submit}", parser_class=_Parser
    )
    modes.required = True
    modes.add_parser("stomp", help="receive jobs from the message broker and run them")
    modes.add_parser("http", help="serve the HTTP API about import jobs")
    check = modes.add_parser(
        "reconcile",
        help="check that every item an import job logged created is in the repository as "
        "logged (exit 0: all as logged; 1: not; 2: cannot check)",
    )
    check.add_argument("job_id", metavar="JOB_ID", help="the import job's id")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    submit = modes.add_parser(
        "submit",
        help="send one job to the daemon through the broker and follow it to its end "
        "(exit 0: ended well; 1: ended badly; 2: usage or configuration; 3: no answer)",
    )
    submit.add_argument(
        "command", metavar="COMMAND", help="echo, import, export, update, publish or unpublish"
    )
    submit.add_argument(
        "body",
        metavar="BODY",
        nargs="?",
        help="a file with the request body, or - for standard input (default: no body)",
    )
    submit.add_argument(
        "--arg",
        dest="args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an argument of the command (sent as PlastronArg-NAME); repeat for more",
    )
    submit.add_argument("--job-id", metavar="ID", help="the job id (default: a new unique one)")
    submit.add_argument(
        "--no-wait",
        action="store_true",
        help="print the job id and exit once the broker has the request",
    )
    submit.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up (exit 3) when the job has not ended within SECONDS (default: no limit)",
    )
    submit.add_argument(
        "--json", action="store_true", help="print the completion body as one JSON document"
    )
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _run_stomp(config: Config) -> int:
    from .daemon import run_stomp

    return run_stomp(config)


def _run_http(config: Config) -> int:
    # Imported here: the web stack is not needed to start the stomp mode or to print --help.
    import trio

    from .http import serve

    config.require_jobs_dir()
    trio.run(serve, config)
    return 0


RUNNERS: dict[str, Callable[[Config], int]] = {"stomp": _run_stomp, "http": _run_http}


def _reconcile(config: Config, job_id: str, as_json: bool) -> int:
    import json

    import trio

    from .imports.reconcile import ReconcileError, reconcile_job
    from .repository import RepositoryClient

    async def check() -> int:
        async with RepositoryClient(config.repository) as repository:
            result = await reconcile_job(config, repository, job_id)
        if as_json:
            print(json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
        else:
            print(result.text())
        return 0 if result.clean else 1

    try:
        return trio.run(check)
    except ReconcileError as e:
        print(f"plastrond: reconcile: {e}", file=sys.stderr)
        return CANNOT_CHECK


def _submit(args: argparse.Namespace) -> int:
    import signal

    from .shutdown import early_signal
    from .submit import USAGE, Submission, new_job_id, parse_args, run_submit

    # The client is no daemon: Ctrl-C and SIGTERM stop it at once (a job already sent runs on).
    if early_signal() is not None:
        return 130
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def usage(message: str) -> int:
        print(f"plastrond: submit: {message}", file=sys.stderr)
        return USAGE

    try:
        pairs = parse_args(args.args)
    except ValueError as e:
        return usage(str(e))
    job_id = args.job_id if args.job_id is not None else new_job_id()
    if not job_id.strip() or any(ord(c) < 32 for c in job_id):
        return usage(f"--job-id {job_id!r}: expected a non-empty id without control characters")
    try:
        if args.body is None:
            body = b""
        elif args.body == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(args.body, "rb") as f:
                body = f.read()
    except OSError as e:
        return usage(f"cannot read BODY {args.body}: {describe(e)}")
    try:
        config = load_config(args.config)
        broker = config.require_broker()
    except ConfigError as e:
        return usage(str(e))
    submission = Submission(
        command=args.command,
        job_id=job_id,
        body=body,
        args=pairs,
        wait=not args.no_wait,
        timeout=args.timeout,
    )
    try:
        return run_submit(broker, submission, as_json=args.json)
    except KeyboardInterrupt:
        print(f"plastrond: submit: interrupted (job {job_id} may still run)", file=sys.stderr)
        return 130


def log_format(config: Config) -> str:
    """LOG_FORMAT from the environment when set, else REPOSITORY.LOG_FORMAT (text)."""
    value = os.environ.get("LOG_FORMAT", "").strip().lower()
    if not value:
        return config.repository.log_format
    if value not in LOG_FORMATS:
        raise ConfigError(f"environment variable LOG_FORMAT: expected text or json, got {value!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    catch_early_signals()
    args = build_parser().parse_args(argv)
    if args.mode == "submit":
        return _submit(args)
    try:
        config = load_config(args.config)
        # Mode-specific requirements are checked before anything starts.
        if args.mode == "reconcile":
            config.require_jobs_dir()
            configure_logging(
                "reconcile",
                None,
                verbose=args.verbose,
                level=logging.WARNING,
                secrets=config.secrets(),
                log_format=log_format(config),
            )
            return _reconcile(config, args.job_id, args.json)
        if args.mode == "stomp":
            config.require_broker()
        else:
            config.require_jobs_dir()
        format_ = log_format(config)
    except ConfigError as e:
        print(f"plastrond: {e}", file=sys.stderr)
        return CANNOT_CHECK if args.mode == "reconcile" else 1
    try:
        level = level_from_environment(os.environ)
    except ValueError as e:
        print(f"plastrond: {e}", file=sys.stderr)
        return 1
    try:
        log_file = configure_logging(
            args.mode,
            config.repository.log_dir,
            verbose=args.verbose,
            level=level,
            secrets=config.secrets(),
            log_format=format_,
        )
    except OSError as e:
        print(
            f"plastrond: {config.path}: REPOSITORY.LOG_DIR: cannot write logs to "
            f"{config.repository.log_dir}: {describe(e)}",
            file=sys.stderr,
        )
        return 1
    log.info(
        "plastrond %s starting in %s mode (config %s, log %s)",
        __version__,
        args.mode,
        config.path,
        log_file,
    )
    set_build_info(__version__, args.mode)
    log.debug("configuration: %r", config)
    for warning in config.warnings:
        log.warning("%s", warning)
    try:
        return RUNNERS[args.mode](config)
    except ConfigError as e:
        log.error("%s", e)
        return 1
    except KeyboardInterrupt:
        log.info("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

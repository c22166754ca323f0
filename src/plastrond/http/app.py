"""The quart-trio application of the http mode: the import job API that Archelon reads.

Routes (the JSON shapes of `/jobs` and `/jobs/<id>` are fixed by
`shared/reference/import-export.md`):

- `GET /`: `{"name", "version", "jobs"}`, or the HTML page for clients preferring `text/html`.
- `GET /health`: `{"status": "ok"}`, for container probes.
- `GET /metrics`: the Prometheus exposition, with every request counted and timed by route
  (`instrument`).
- `GET /jobs`: `{"jobs": [{"@id", "job_id"}, ...]}` sorted by id (the HTML page for browsers).
- `GET /jobs/<job id>`: the job's description; the id is URL-decoded once and looked up only
  as a direct child of JOBS_DIR. Optional `offset` and `limit` narrow every item list.
- `GET /jobs/<job id>/reconcile` (`reconcile.py`): the job's items checked against the
  repository.
- `POST /inbox` (`inbox.py`) and `PATCH /resources/<path>` (`resources.py`): publishing and
  metadata editing in the repository (shared/reference/http-api.md).

Every error is an RFC 9457 problem document (`application/problem+json`). HEAD is answered
wherever GET is. Job folders are read in worker threads, never on the trio thread.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .. import __version__
from ..jobfolders import (
    BrokenJob,
    JobNotFound,
    JobReadError,
    JobSnapshot,
    JobSummary,
    list_job_ids,
    open_job,
    summarize_job,
)
from ..logs import job_context
from . import inbox, resources
from .backend import Backend
from .detail import Page, dumps, job_body
from .instrument import instrument
from .page import jobs_page
from .problems import PROBLEM_JSON, Problem
from .reconcile import SUFFIX as RECONCILE
from .reconcile import Reconciler

__all__ = ["JSON", "PROBLEM_JSON", "Problem", "create_app"]

log = logging.getLogger("plastrond.http")

JSON = "application/json"
HTML = "text/html; charset=utf-8"
#: a job whose logs hold fewer bytes than this is sent whole, with a Content-Length;
#: larger ones are streamed in chunks
WHOLE_BODY_BYTES = 256 * 1024
#: job folder reads running at once in worker threads
READ_THREADS = 8
#: query parameters that are whole numbers are at most this long
_MAX_DIGITS = 12

T = TypeVar("T")


def _json(value: Any, *, vary: bool = False) -> Response:
    return Response(dumps(value), 200, {"Vary": "Accept"} if vary else {}, content_type=JSON)


def _wants_html() -> bool:
    """Whether the client prefers HTML to JSON (a browser does; `*/*` or nothing gets JSON)."""
    best = request.accept_mimetypes.best_match([JSON, "text/html"], default=JSON)
    return best == "text/html"


def _base_url() -> str:
    return request.host_url.rstrip("/")


def job_url(base_url: str, job_id: str) -> str:
    """The absolute URL of a job: its id percent-encoded as one path segment (dots too, when
    the id is only dots, so that no client resolves it as `.` or `..`)."""
    segment = quote(job_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return f"{base_url}/jobs/{segment}"


def _whole_number(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS):
        raise Problem(400, f"query parameter {name} must be a whole number, got {raw!r}")
    return int(raw)


def _page() -> Page:
    offset = _whole_number("offset") or 0
    return Page(offset=offset, limit=_whole_number("limit"))


class _Reader:
    """Runs the blocking job folder reads in worker threads, READ_THREADS at a time."""

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self._limiter: trio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(READ_THREADS)
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def summaries(self) -> tuple[list[JobSummary], bool]:
        ids = list_job_ids(self.jobs_dir)
        found = [summarize_job(self.jobs_dir, job_id) for job_id in ids]
        return [s for s in found if s is not None], self.jobs_dir.is_dir()

    async def stream(self, job: JobSnapshot, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        """Send *chunks* as they are produced; closes *job* at the end, or when abandoned."""
        try:
            while True:
                chunk = await self.run(next, chunks, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            job.close()


def create_app(
    jobs_dir: Path, *, backend: Backend | None = None, version: str = __version__
) -> QuartTrio:
    """The http mode's application, reading the job folders in *jobs_dir*; with *backend*,
    also publishing (`/inbox`) and editing (`/resources`) in its repository."""
    app = QuartTrio("plastrond.http")
    if backend is not None:
        app.config["MAX_CONTENT_LENGTH"] = backend.config.http_server.max_body_bytes
    inbox.register(app, backend)
    resources.register(app, backend)
    # Archelon has sent job ids unencoded (`/jobs/http://host/import_jobs/7`): keep the `//`.
    app.url_map.merge_slashes = False
    _register_jobs(app, _Reader(jobs_dir), Reconciler(backend, jobs_dir), version)
    _register_errors(app)
    instrument(app)
    return app


def _register_jobs(app: QuartTrio, reader: _Reader, reconciler: Reconciler, version: str) -> None:
    """`/`, `/health`, `/jobs` and `/jobs/<id>` (with its `/reconcile`)."""

    async def page() -> Response:
        jobs, exists = await reader.run(reader.summaries)
        note = "" if exists else "The jobs folder does not exist yet."
        html = jobs_page(jobs, version=version, note=note)
        return Response(html, 200, {"Vary": "Accept"}, content_type=HTML)

    @app.get("/")
    async def index() -> Response:
        if _wants_html():
            return await page()
        return _json(
            {"name": "plastrond", "version": version, "jobs": f"{_base_url()}/jobs"}, vary=True
        )

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/jobs")
    async def jobs() -> Response:
        if _wants_html():
            return await page()
        ids = await reader.run(list_job_ids, reader.jobs_dir)
        base = _base_url()
        listed = [{"@id": job_url(base, job_id), "job_id": job_id} for job_id in ids]
        return _json({"jobs": listed}, vary=True)

    @app.get("/jobs/<path:job_id>")
    async def job(job_id: str) -> Response:
        raw = request.scope.get("raw_path", b"").decode("latin-1").partition("?")[0]
        if job_id.endswith(RECONCILE) and raw.endswith(RECONCILE) and len(job_id) > len(RECONCILE):
            # `/jobs/<id>/reconcile`, the slash unencoded (a job id ending in `/reconcile` is
            # `.../<id>%2Freconcile`)
            return await reconciler.answer(job_id[: -len(RECONCILE)])
        return await _describe_job(reader, job_id, _page())


async def _open_job(reader: _Reader, job_id: str) -> JobSnapshot:
    """The job's folder, opened in a worker thread; a Problem when it cannot be."""
    with job_context(job_id):
        try:
            return await reader.run(open_job, reader.jobs_dir, job_id)
        except JobNotFound:
            raise Problem(404, f"no import job {job_id!r}") from None
        except BrokenJob as e:
            log.info("cannot describe the job: %s", e)
            raise Problem(404, f"import job {job_id!r} cannot be read: {e}") from None
        except JobReadError as e:
            log.error("cannot read the job folder: %s", e)
            raise Problem(500, f"import job {job_id!r}: {e}") from None


async def _describe_job(reader: _Reader, job_id: str, narrowed: Page) -> Response:
    """`GET /jobs/<id>`: whole when the job's logs are small, else streamed."""
    folder = await _open_job(reader, job_id)
    handed_over = False
    try:
        chunks = job_body(folder, job_url(_base_url(), job_id), narrowed)
        size = sum(log.shape.stop - log.shape.start for log in folder.logs)
        if size < WHOLE_BODY_BYTES:
            try:
                data = await reader.run(b"".join, chunks)
            except JobReadError as e:
                with job_context(job_id):
                    log.error("cannot read the job folder: %s", e)
                raise Problem(500, f"import job {job_id!r}: {e}") from None
            return Response(data, 200, content_type=JSON)
        handed_over = True
        return Response(reader.stream(folder, chunks), 200, content_type=JSON)
    finally:
        if not handed_over:
            folder.close()


def _register_errors(app: QuartTrio) -> None:
    """Every error answered as a problem document."""

    @app.errorhandler(Problem)
    async def on_problem(e: Problem) -> Response:
        return e.response()

    @app.errorhandler(JobReadError)
    async def on_read_error(e: JobReadError) -> Response:
        # The jobs folder itself cannot be listed (job files are handled in the route).
        log.error("%s", e)
        return Problem(500, str(e)).response()

    @app.errorhandler(HTTPException)
    async def on_http_error(e: HTTPException) -> Response:
        return _http_problem(e, app.config.get("MAX_CONTENT_LENGTH")).response()

    @app.errorhandler(Exception)
    async def on_error(e: Exception) -> Response:
        log.exception("internal error answering %s %s", request.method, request.path)
        return Problem(500, "internal error; the server log has the details").response()


def _http_problem(e: HTTPException, body_limit: int | None) -> Problem:
    status = e.code or 500
    if status == 413:
        return Problem(413, f"the request body is larger than {body_limit} bytes")
    if status == 404:
        return Problem(404, f"nothing at {request.path}")
    if isinstance(e, MethodNotAllowed):
        allowed = ", ".join(e.valid_methods or ("GET", "HEAD"))
        detail = f"{request.method} is not allowed on {request.path} (allowed: {allowed})"
        return Problem(405, detail, {"Allow": allowed})
    return Problem(status, e.description or HTTPStatus(status).phrase)

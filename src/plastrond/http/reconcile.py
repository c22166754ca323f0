"""`GET /jobs/<job id>/reconcile`: the import job checked against the repository.

`plastrond.imports.reconcile` does the check (the one the command line's `reconcile` and a
resumed import use); this route answers 200 with its JSON (`clean` says whether all is as
logged), 404 for an unknown job, 503 without a repository. Each check reads every item the job
created, so at most `RUNNING` run at once; the others wait their turn. With
`HTTP_SERVER.AUTH_TOKEN` the route wants the bearer token, as the other routes that use the
repository do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

import trio
from quart import Response

from ..imports.reconcile import ReconcileError, UnknownJob, reconcile_job
from ..logs import job_context
from .backend import Backend
from .detail import dumps
from .problems import Problem

__all__ = ["SUFFIX", "Reconciler"]

log = logging.getLogger("plastrond.http")

#: what ends the path of the route after the job id (a literal slash, not `%2F`)
SUFFIX: Final = "/reconcile"
#: checks running at once
RUNNING: Final = 2


class Reconciler:
    """Answers the route for one app: at most RUNNING checks at once."""

    def __init__(self, backend: Backend | None, jobs_dir: Path) -> None:
        self.backend = backend
        self.jobs_dir = jobs_dir
        self._limiter: trio.CapacityLimiter | None = None

    async def answer(self, job_id: str) -> Response:
        backend = self.backend
        if backend is None:
            raise Problem(503, "this server has no repository to check the job against")
        backend.authorize()
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(RUNNING)
        with job_context(job_id):
            async with self._limiter:
                try:
                    result = await reconcile_job(
                        backend.config, backend.repository, job_id, jobs_dir=self.jobs_dir
                    )
                except UnknownJob as e:
                    raise Problem(404, str(e)) from None
                except ReconcileError as e:
                    log.error("cannot reconcile the job: %s", e)
                    raise Problem(500, f"import job {job_id!r}: {e}") from None
            log.info("reconciled: %s", "all as logged" if result.clean else "NOT as logged")
        return Response(dumps(result.as_dict()), 200, content_type="application/json")

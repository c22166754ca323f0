"""A command run in-process as the job runner runs it, for the import and export tests'
helpers (import_support.run_import, export_support.run_export)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from plastrond.commands import get_command
from plastrond.config import Config
from plastrond.jobs import JobContext, JobRequest, JobResult, Progress
from plastrond.jobs.runner import run_command
from plastrond.repository import RepositoryClient


async def run_in_process(
    command: str,
    config: Config,
    repository: RepositoryClient | None,
    body: bytes,
    *,
    job_id: str,
    args: Mapping[str, str],
) -> tuple[list[Progress], JobResult]:
    """Run *command* with *args* (keyword spellings: `_` for `-`); its progress reports and
    result. JobError goes up as it is."""
    request = JobRequest(
        job_id=job_id,
        command=command,
        args={k.replace("_", "-"): v for k, v in args.items()},
        body=body,
    )
    ctx = JobContext(
        request=request,
        config=config,
        log=logging.getLogger(f"plastrond.test.{command}"),
        repository_client=repository,
    )
    progress: list[Progress] = []
    result = await run_command(get_command(command), ctx, report=progress.append)
    return progress, result

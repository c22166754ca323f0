"""A command run in-process as the job runner runs it, with a configuration of its own, for
the import and export tests' helpers (tests.support.imports.import_config and run_import,
tests.support.export.export_config and run_export)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plastrond.commands import get_command
from plastrond.config import CommandsConfig, Config, HttpServerConfig, RepositoryConfig, SolrConfig
from plastrond.jobs import JobContext, JobRequest, JobResult, Progress
from plastrond.jobs.runner import run_command
from plastrond.repository import RepositoryClient


def in_process_config(
    rest_url: str,
    commands: CommandsConfig,
    *,
    log_dir: Path,
    user: str | None = "fedoraAdmin",
    password: str | None = "fedoraAdmin",
    **sections: Any,
) -> Config:
    """A configuration for a command run in-process on the Fedora at *rest_url* (as *user*),
    with *commands* and any other *sections* (e.g. `content_models`)."""
    return Config(
        path=Path("/dev/null"),
        repository=RepositoryConfig(
            rest_endpoint=rest_url.rstrip("/"),
            relpath="/",
            log_dir=log_dir,
            fedora_user=user,
            fedora_password=password,
            timeout=30.0,
        ),
        message_broker=None,
        commands=commands,
        http_server=HttpServerConfig(),
        solr=SolrConfig(),
        **sections,
    )


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

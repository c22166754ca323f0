"""Fixtures for the http mode (helpers in `tests/support/http.py`).

- `jobs`: a `JobFolders` writing job folders under a fresh JOBS_DIR.
- `config_file`: a plastrond configuration naming that JOBS_DIR, listening on 127.0.0.1:0.
- `server`: `plastrond.http.serve` running in the test's own trio run (hypercorn on a real
  loopback port), with `server.client`, an httpx.AsyncClient pointed at it.
- `live`: plastrond http against the real Fedora (`tests.support.live`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from plastrond.config import load_config
from plastrond.http import serve
from tests.support.http import JobFolders, Server, write_config
from tests.support.live import RIGHTS, RIGHTS_TTL, Live, live_server


@pytest.fixture
def jobs(tmp_path: Path) -> JobFolders:
    root = tmp_path / "jobs"
    root.mkdir()
    return JobFolders(root)


@pytest.fixture
def config_file(tmp_path: Path, jobs: JobFolders) -> Path:
    return write_config(tmp_path, jobs.root)


@pytest.fixture
async def live(tmp_path: Path, fedora, vocabulary_server) -> AsyncIterator[Live]:
    """plastrond http on the `fedora` fixture's repository, with the rights vocabulary
    (`tests.support.live.live_server`); a module may define its own."""
    vocabularies = {RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL)}
    async with live_server(tmp_path, fedora, vocabularies) as server:
        yield server


@pytest.fixture
async def server(nursery: trio.Nursery, config_file: Path) -> AsyncIterator[Server]:
    """The http mode serving `jobs` on a loopback port chosen by the kernel."""
    stop = trio.Event()
    urls = await nursery.start(partial(serve, load_config(config_file), shutdown_trigger=stop.wait))
    url = urls[0]
    port = int(url.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield Server(url=url, port=port, client=client, stop=stop)
    stop.set()

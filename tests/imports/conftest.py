"""Fixtures for the import tests that talk to the real Fedora (a module may define its own).

- `target`: a container of the test's own in Fedora (`TestContainer`), removed afterwards.
- `repo`: a `RepositoryClient` on the same Fedora.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from import_support import TestContainer, import_config

from plastrond.repository import RepositoryClient


@pytest.fixture
def target(fedora) -> Iterator[TestContainer]:
    container = TestContainer(fedora.rest_url, fedora.admin_auth)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
async def repo(fedora) -> AsyncIterator[RepositoryClient]:
    config = import_config(Path("/tmp"), rest_url=fedora.rest_url)
    async with RepositoryClient(config.repository) as client:
        yield client

"""Fixtures for the repository client tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from plastrond.config import RepositoryConfig
from plastrond.repository import RepositoryClient, RepositoryError, _prime
from tests.support.repository_doubles import repo_config


@pytest.fixture
def forget_servers() -> Iterator[None]:
    """The prime tests' fixture (`pytest.mark.usefixtures`): no server counts as primed before
    or after the test."""
    _prime._servers.clear()
    yield
    _prime._servers.clear()


@pytest.fixture
def admin_config(fedora) -> RepositoryConfig:
    return repo_config(
        fedora.rest_url, fedora_user=fedora.admin_user, fedora_password=fedora.admin_password
    )


@pytest.fixture
async def repo(admin_config) -> AsyncIterator[RepositoryClient]:
    async with RepositoryClient(admin_config) as client:
        yield client


@pytest.fixture
async def parent(repo: RepositoryClient) -> AsyncIterator[str]:
    """A fresh container for one test, removed (with its tombstone) afterwards."""
    created = await repo.create_container(repo.root, slug=f"plastrond-test-{uuid.uuid4()}")
    yield created.uri
    with contextlib.suppress(RepositoryError):
        await repo.delete(created.uri, purge=True)

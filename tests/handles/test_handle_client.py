"""plastrond's handle service client: against UMD's handle service (umd-handle-django) for
what it answers, its edges included, and with httpx's MockTransport for the faults it cannot
show (a 503, a lost connection)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from plastrond.config import PublicationConfig
from plastrond.handles import Handle, HandleClient, HandleServiceError, parse_handle


def config(url: str, token: str) -> PublicationConfig:
    return PublicationConfig(
        public_url_pattern="https://d.example/{uuid}",
        handle_endpoint=url,
        handle_jwt_token=token,
        handle_prefix="1903.1",
        handle_repo="fcrepo",
        handle_timeout=10,
    )


def sent(operation: str) -> float:
    """How many requests of *operation* plastrond's handle client has sent (its metric,
    plastrond_handle_requests_total, every outcome)."""
    from prometheus_client import REGISTRY

    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "plastrond_handle_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("operation") == operation
    )


@contextlib.contextmanager
def metrics_of(operation: str) -> Iterator[Callable[[], float]]:
    """The requests of *operation* sent within the block (call the yielded function after)."""
    before = sent(operation)
    yield lambda: sent(operation) - before


def test_parse_handle():
    assert parse_handle("hdl:1903.1/123") == ("1903.1", "123")
    assert parse_handle("1903.1/a/b") == ("1903.1", "a/b")
    for bad in ("hdl:1903.1", "hdl:/x", "hdl:1903.1/a b", ""):
        assert parse_handle(bad) is None


@pytest.mark.integration
async def test_against_the_handle_service(handle_service):
    repo_id = f"http://repo.example/rest/{uuid.uuid4()}"
    async with HandleClient(config(handle_service.url, handle_service.token)) as client:
        assert await client.exists("fcrepo", repo_id) is None
        minted = await client.mint(url="https://d.example/1", repo_id=repo_id, description="T")
        assert minted.hdl.startswith("hdl:1903.1/")
        found = await client.exists("fcrepo", repo_id)
        assert found is not None and found.hdl == minted.hdl and found.url == "https://d.example/1"
        info = await client.info(minted.prefix, minted.suffix)
        assert info is not None and info.repo_id == repo_id and info.repo == "fcrepo"
        assert await client.info("1903.1", "999999999") is None
        await client.update(minted, url="https://d.example/2")
        info = await client.info(minted.prefix, minted.suffix)
        assert info is not None and info.url == "https://d.example/2"
        # A 400 names the call and shows the service's errors.
        with pytest.raises(HandleServiceError) as caught:
            await client.update(minted, url="not-a-url")
        message = str(caught.value)
        assert f"PATCH /handles/1903.1/{minted.suffix}" in message
        assert "400" in message and "'not-a-url' must use 'http' or 'https' scheme" in message
        assert "\n" not in message
    async with HandleClient(config(handle_service.url, "wrong-token")) as client:
        with pytest.raises(HandleServiceError, match="401") as caught:
            await client.exists("fcrepo", repo_id)
        assert "GET /handles/exists" in str(caught.value)
        assert "wrong-token" not in str(caught.value)


async def test_reads_are_retried_writes_are_not(autojump_clock):
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        assert request.headers["Authorization"] == "Bearer t0k"
        if request.method == "GET" and calls.count("GET") == 1:
            return httpx.Response(503, text="busy")
        if request.method == "GET" and calls.count("GET") == 2:
            raise httpx.ConnectError("refused")
        if request.method == "GET":
            return httpx.Response(200, json={"request": {}, "exists": False})
        return httpx.Response(503, json={"errors": ["maintenance"]})

    transport = httpx.MockTransport(answer)
    async with HandleClient(config("http://h.example/api/v1", "t0k"), transport=transport) as c:
        assert await c.exists("fcrepo", "x") is None
        assert calls == ["GET", "GET", "GET"]
        with pytest.raises(HandleServiceError, match=r"POST /handles: 503 .*maintenance"):
            await c.mint(url="https://d.example/1", repo_id="x")
        assert calls == ["GET", "GET", "GET", "POST"]


@pytest.mark.integration
async def test_the_services_edges_are_one_line_each_and_not_asked_again(handle_service):
    # umd-handle-django's suffixes are integers: info about another is an HTML 500, a PATCH an
    # HTML 404 (handles.md). The client does not ask: no such handle can exist.
    async with HandleClient(config(handle_service.url, handle_service.token)) as client:
        with metrics_of("info") as info_calls:
            assert await client.info("1903.1", "no-such") is None
        assert info_calls() == 0
        with pytest.raises(HandleServiceError, match="suffixes are integers"):
            await client.update(Handle("1903.1", "abc"), url="https://d.example/x")

        # Two handles for one resource: its exists answers an HTML 500, once (asking again
        # only repeats it), said in one line that names the call and the likely cause.
        repo_id = f"http://repo.example/rest/{uuid.uuid4()}"
        await client.mint(url="https://d.example/1", repo_id=repo_id)
        await client.mint(url="https://d.example/1", repo_id=repo_id)
        with metrics_of("exists") as exists_calls, pytest.raises(HandleServiceError) as caught:
            await client.exists("fcrepo", repo_id)
        assert exists_calls() == 1
        message = str(caught.value)
        assert message.startswith(
            f"handle service: GET /handles/exists?repo=fcrepo&repo_id={repo_id}"
        )
        assert "500 Internal Server Error: Server Error (500)" in message
        assert "two or more handles for this repo_id" in message
        assert "<" not in message and "\n" not in message

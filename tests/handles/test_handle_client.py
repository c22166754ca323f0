"""plastrond's handle service client: against the test handle service for what it answers,
and with httpx's MockTransport for the faults it cannot show (a 503, a lost connection)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from plastrond.config import PublicationConfig
from plastrond.handles import HandleClient, HandleServiceError, parse_handle


def config(url: str, token: str) -> PublicationConfig:
    return PublicationConfig(
        public_url_pattern="https://d.example/{uuid}",
        handle_endpoint=url,
        handle_jwt_token=token,
        handle_prefix="1903.1",
        handle_repo="fcrepo",
        handle_timeout=10,
    )


def test_parse_handle():
    assert parse_handle("hdl:1903.1/123") == ("1903.1", "123")
    assert parse_handle("1903.1/a/b") == ("1903.1", "a/b")
    for bad in ("hdl:1903.1", "hdl:/x", "hdl:1903.1/a b", ""):
        assert parse_handle(bad) is None


@pytest.mark.integration
async def test_against_the_test_service(handle_service):
    repo_id = f"http://repo.example/rest/{uuid.uuid4()}"
    async with HandleClient(config(handle_service.url, handle_service.token)) as client:
        assert await client.exists("fcrepo", repo_id) is None
        minted = await client.mint(url="https://d.example/1", repo_id=repo_id, description="T")
        assert minted.hdl.startswith("hdl:1903.1/")
        found = await client.exists("fcrepo", repo_id)
        assert found is not None and found.hdl == minted.hdl and found.url == "https://d.example/1"
        info = await client.info(minted.prefix, minted.suffix)
        assert info is not None and info.repo_id == repo_id and info.repo == "fcrepo"
        assert await client.info("1903.1", "no-such") is None
        await client.update(minted, url="https://d.example/2")
        info = await client.info(minted.prefix, minted.suffix)
        assert info is not None and info.url == "https://d.example/2"
        # A 400 names the call and shows the service's errors.
        with pytest.raises(HandleServiceError) as caught:
            await client.update(minted, colour="red")
        message = str(caught.value)
        assert f"PATCH /handles/1903.1/{minted.suffix}" in message
        assert "400" in message and "unknown field colour" in message
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

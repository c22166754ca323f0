"""UMD's handle service, umd-handle-django as services/handles.sh runs it, checked against
handles.md, the description of its API v1, and not against what plastrond's client does:
every expectation here is a sentence of handles.md, its edges included."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def api(handle_service):
    with httpx.Client(base_url=handle_service.url, headers=handle_service.headers, timeout=30) as c:
        yield c


def new_repo_id() -> str:
    return f"http://repo.example/fcrepo/rest/pcdm/{uuid.uuid4()}"


def test_every_request_needs_the_bearer_token(handle_service):
    # "All requests carry Authorization: Bearer <HANDLE_JWT_TOKEN>; without a valid one the
    # service answers 401."
    with httpx.Client(base_url=handle_service.url, timeout=30) as anonymous:
        requests = [
            ("GET", "/handles/info?prefix=1903.1&suffix=1", None),
            ("GET", "/handles/exists?repo=fcrepo&repo_id=x", None),
            (
                "POST",
                "/handles",
                {"prefix": "1903.1", "url": "http://x/", "repo": "fcrepo", "repo_id": "x"},
            ),
            ("PATCH", "/handles/1903.1/1", {"url": "http://y/"}),
            ("GET", "/handles/1903.1/1", None),
        ]
        for method, path, body in requests:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                answer = anonymous.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (method, path, headers)


def test_mint_then_info_exists_get_and_update_keep_state(api):
    repo_id = new_repo_id()
    # "POST /handles with {prefix, url, repo, repo_id, description?, notes?}
    #  -> {request: {...}, suffix, handle_url}: a new handle"
    minted = api.post(
        "/handles",
        json={
            "prefix": "1903.1",
            "url": "https://digital.example/a",
            "repo": "fcrepo",
            "repo_id": repo_id,
            "description": "A title",
        },
    )
    assert minted.status_code == 200, minted.text
    body = minted.json()
    assert set(body) >= {"request", "suffix", "handle_url"}
    assert body["request"]["repo_id"] == repo_id
    suffix = body["suffix"]
    assert suffix
    second = api.post(
        "/handles",
        json={
            "prefix": "1903.1",
            "url": "https://digital.example/b",
            "repo": "fcrepo",
            "repo_id": new_repo_id(),
        },
    ).json()
    assert second["suffix"] != suffix  # each POST is a new handle

    # "GET /handles/info?prefix=P&suffix=S -> {request, exists, handle_url, url, repo,
    #  repo_id} (the last four only when it exists; the prefix and suffix are only in
    #  request)"
    info = api.get("/handles/info", params={"prefix": "1903.1", "suffix": suffix}).json()
    assert info["exists"] is True
    assert info["request"] == {"prefix": "1903.1", "suffix": suffix}
    assert info["url"] == "https://digital.example/a"
    assert info["repo"] == "fcrepo" and info["repo_id"] == repo_id
    assert info["handle_url"].endswith(f"/1903.1/{suffix}")
    unknown = api.get("/handles/info", params={"prefix": "1903.1", "suffix": "999999999"}).json()
    assert unknown["exists"] is False
    assert not {"url", "repo", "repo_id", "handle_url"} & set(unknown)
    assert "request" in unknown

    # "GET /handles/exists?repo=R&repo_id=I -> {request, exists, handle_url, prefix, suffix,
    #  url}"
    found = api.get("/handles/exists", params={"repo": "fcrepo", "repo_id": repo_id}).json()
    assert found["exists"] is True
    assert (found["prefix"], found["suffix"]) == ("1903.1", suffix)
    assert found["url"] == "https://digital.example/a"
    none = api.get("/handles/exists", params={"repo": "fcrepo", "repo_id": new_repo_id()}).json()
    assert none["exists"] is False
    other_repo = api.get("/handles/exists", params={"repo": "other", "repo_id": repo_id}).json()
    assert other_repo["exists"] is False

    # "PATCH /handles/P/S with any of {url, repo, repo_id, description, notes}
    #  -> {request, handle_url}"
    patched = api.patch(f"/handles/1903.1/{suffix}", json={"url": "https://digital.example/c"})
    assert patched.status_code == 200, patched.text
    assert set(patched.json()) >= {"request", "handle_url"}
    # "GET /handles/P/S -> {url}, or 404"
    assert api.get(f"/handles/1903.1/{suffix}").json() == {"url": "https://digital.example/c"}
    info = api.get("/handles/info", params={"prefix": "1903.1", "suffix": suffix}).json()
    assert info["url"] == "https://digital.example/c" and info["repo_id"] == repo_id
    assert api.get("/handles/1903.1/999999999").status_code == 404


def test_its_edges(api):
    # "the suffix is an integer (minted as the highest plus one), so info with a non-integer
    # suffix answers an HTML 500 and PATCH /handles/P/abc an HTML 404"
    first = int(mint(api, new_repo_id())["suffix"])
    assert int(mint(api, new_repo_id())["suffix"]) == first + 1
    answer = api.get("/handles/info", params={"prefix": "1903.1", "suffix": "abc"})
    assert answer.status_code == 500
    assert answer.headers["Content-Type"].startswith("text/html")
    answer = api.patch("/handles/1903.1/abc", json={"url": "https://x.example/"})
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("text/html")
    # "two handles with the same repo/repo_id make exists answer 500"
    repo_id = new_repo_id()
    mint(api, repo_id)
    mint(api, repo_id)
    answer = api.get("/handles/exists", params={"repo": "fcrepo", "repo_id": repo_id})
    assert answer.status_code == 500
    # "a 401 carries {"error": "..."}"
    answer = api.get(
        "/handles/info",
        params={"prefix": "1903.1", "suffix": "1"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert answer.status_code == 401 and answer.json()["error"]
    # "The prefix must be 1903.1 and repo one of aspace, avalon, fcrepo, fedora2."
    for field, value in (("prefix", "1903.2"), ("repo", "dspace")):
        body = {"prefix": "1903.1", "url": "https://x.example/", "repo": "fcrepo"}
        answer = api.post("/handles", json={**body, "repo_id": new_repo_id(), field: value})
        assert answer.status_code == 400 and answer.json()["errors"], (field, answer.text)


def mint(api, repo_id: str) -> dict:
    answer = api.post(
        "/handles",
        json={
            "prefix": "1903.1",
            "url": "https://x.example/",
            "repo": "fcrepo",
            "repo_id": repo_id,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_bad_requests_are_400_with_errors(api):
    # "A 400 answer carries {"errors": ["..."]}."
    for answer in (
        api.post("/handles", json={"prefix": "1903.1"}),
        api.post("/handles", content=b"{not json", headers={"Content-Type": "application/json"}),
        api.get("/handles/info", params={"prefix": "1903.1"}),
        api.get("/handles/exists", params={"repo": "fcrepo"}),
    ):
        assert answer.status_code == 400, answer.text
        errors = answer.json()["errors"]
        assert isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors)
    missing = api.post("/handles", json={"prefix": "1903.1"}).json()["errors"]
    assert any("url" in e for e in missing) and any("repo_id" in e for e in missing)
    suffix = api.post(
        "/handles",
        json={
            "prefix": "1903.1",
            "url": "https://x.example/",
            "repo": "fcrepo",
            "repo_id": new_repo_id(),
        },
    ).json()["suffix"]
    answer = api.patch(f"/handles/1903.1/{suffix}", json={"url": "not-a-url"})
    assert answer.status_code == 400 and answer.json()["errors"]


def test_state_survives_a_restart(tmp_path, handle_service):
    # A service of this test's own (another port and folder, installed there from nothing):
    # the shared one is never restarted under other test runs.
    import os
    import subprocess

    env = {**os.environ, "HANDLE_SERVICE_PORT": "3019", "PLASTROND_SERVICES_STATE": str(tmp_path)}

    def script(command: str) -> list[str]:
        done = subprocess.run(
            ["bash", str(handle_service.script), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        return done.stdout.splitlines()

    lines = script("start")
    try:
        url = lines[0]
        token = (tmp_path / "handles" / "token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as own:
            repo_id = new_repo_id()
            suffix = own.post(
                "/handles",
                json={
                    "prefix": "1903.1",
                    "url": "https://x.example/kept",
                    "repo": "fcrepo",
                    "repo_id": repo_id,
                },
            ).json()["suffix"]
            script("restart")
            found = own.get("/handles/exists", params={"repo": "fcrepo", "repo_id": repo_id})
            assert found.json()["exists"] is True and found.json()["suffix"] == suffix
            assert script("status")[0] == "up"
    finally:
        script("stop")
    assert (
        subprocess.run(
            ["bash", str(handle_service.script), "status"], env=env, capture_output=True
        ).returncode
        == 1
    )

"""The JSON API against the server listening on loopback, with httpx as the client.

The shapes of `/jobs` and `/jobs/<id>` are Archelon's contract
(shared/reference/import-export.md, "HTTP job API"); the tests compare whole documents.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
import trio

from plastrond import __version__
from plastrond.jobfolders import JobFolder
from tests.support.http import (
    ARCHELON_ID,
    COMPLETED_COLUMNS,
    DROPPED_COLUMNS,
    JobFolders,
    Server,
    as_items,
    completed_row,
    default_config,
    dropped_row,
)

PROBLEM_KEYS = {"type", "title", "status", "detail", "details"}


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["details"] == body["detail"]
    assert isinstance(body["title"], str) and body["title"]
    for fragment in fragments:
        assert fragment in str(body["detail"])
    return body


# --- / and /health --------------------------------------------------------------------------


async def test_root_reports_name_and_version(server: Server) -> None:
    response = await server.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "name": "plastrond",
        "version": __version__,
        "jobs": f"{server.url}/jobs",
    }
    assert response.headers["vary"] == "Accept"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*"])
async def test_json_unless_html_is_preferred(server: Server, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    for path in ("/", "/jobs"):
        response = await server.client.get(path, headers=headers)
        assert response.headers["content-type"] == "application/json", (path, accept)


async def test_health(server: Server) -> None:
    response = await server.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- GET /jobs --------------------------------------------------------------------------------


async def test_empty_jobs_folder_lists_nothing(server: Server) -> None:
    response = await server.client.get("/jobs")
    assert response.status_code == 200
    assert response.json() == {"jobs": []}


async def test_missing_jobs_folder_lists_nothing(server: Server, jobs: JobFolders) -> None:
    jobs.root.rmdir()
    response = await server.client.get("/jobs")
    assert response.status_code == 200
    assert response.json() == {"jobs": []}
    assert_problem(await server.client.get(server.job_path("x")), 404)


async def test_jobs_folder_that_is_a_file_is_500(server: Server, jobs: JobFolders) -> None:
    jobs.root.rmdir()
    jobs.root.write_text("not a folder")
    assert_problem(await server.client.get("/jobs"), 500, "jobs folder", "Not a directory")
    page = await server.client.get("/", headers={"Accept": "text/html"})
    assert_problem(page, 500, "jobs folder")


async def test_jobs_listed_sorted_by_id_with_absolute_urls(
    server: Server, jobs: JobFolders
) -> None:
    ids = [ARCHELON_ID, "http://archelon.example/import_jobs/100", "import-2021", "日本語 job"]
    for job_id in ids:
        jobs.make(job_id)
    response = await server.client.get("/jobs")
    assert response.status_code == 200
    listed = response.json()["jobs"]
    assert [j["job_id"] for j in listed] == sorted(ids)
    for entry in listed:
        assert set(entry) == {"@id", "job_id"}
        assert entry["@id"] == server.url + server.job_path(entry["job_id"])
        # The @id is where the job is.
        detail = await server.client.get(entry["@id"])
        assert detail.status_code == 200
        assert detail.json()["job_id"] == entry["job_id"]


async def test_listing_leaves_out_what_is_no_job_folder(
    server: Server, jobs: JobFolders, tmp_path: Path
) -> None:
    jobs.make("real")
    (jobs.root / "stray-file.csv").write_text("x\n")
    (jobs.root / ".tmp-import").mkdir()  # hidden: never the encoding of an id
    (jobs.root / "not canonical").mkdir()  # a space is always percent-encoded
    outside = tmp_path / "outside"
    outside.mkdir()
    (jobs.root / "linked").symlink_to(outside)
    response = await server.client.get("/jobs")
    assert [j["job_id"] for j in response.json()["jobs"]] == ["real"]


async def test_upstream_web_fixture_all_five_folders_are_listed(
    server: Server, jobs: JobFolders
) -> None:
    """Upstream's web test (`plastron-web/tests/test_web.py`, `test_jobs_found`) expects all five
    folders of its fixture in `GET /jobs`, the three that are not usable jobs too; each of
    those is 404 at `/jobs/<id>`, the two usable ones 200 (issue #24, item 4)."""
    upstream = {
        "job_id": "import-20210505143008",
        "model": "Item",
        "access": None,
        "member_of": "https://fcrepo.lib.umd.edu/fcrepo/rest/dc/2021/2",
        "container": "/dc/2021/2",
        "binaries_location": "data",
    }
    jobs.make("emptyconfigfile", config="", total=None, completed=None)
    jobs.make("nometadata", config=upstream, total=None, completed=None)
    jobs.make("validjob", config=upstream, total=9, completed=None)
    jobs.make("validcompletedjob", config=upstream, total=9, runs={"20210505143008": {}})
    (jobs.root / "noconfigfile").mkdir()
    (jobs.root / "noconfigfile" / ".keep").touch()

    response = await server.client.get("/jobs")
    assert response.status_code == 200
    assert [j["job_id"] for j in response.json()["jobs"]] == [
        "emptyconfigfile",
        "noconfigfile",
        "nometadata",
        "validcompletedjob",
        "validjob",
    ]
    for job_id in ("noconfigfile", "emptyconfigfile", "nometadata"):
        assert (await server.client.get(server.job_path(job_id))).status_code == 404, job_id
    for job_id in ("validjob", "validcompletedjob"):
        detail = await server.client.get(server.job_path(job_id))
        assert detail.status_code == 200, detail.text
        assert detail.json()["total"] == 9
    # The page lists the same five, each unusable one as broken with its reason.
    page = await server.client.get("/jobs", headers={"Accept": "text/html"})
    assert page.status_code == 200
    for job_id in ("emptyconfigfile", "noconfigfile", "nometadata", "validjob"):
        assert job_id in page.text
    assert "no config.yml" in page.text


# --- GET /jobs/<id> ---------------------------------------------------------------------------


async def test_job_with_runs_has_the_contract_shape(server: Server, jobs: JobFolders) -> None:
    completed = [completed_row(1), completed_row(2, "modified"), completed_row(3, "unchanged")]
    failed = [dropped_row(4, "Creating item failed: 500 Internal Server Error")]
    invalid = [dropped_row(5, "Missing file: p001.tif"), dropped_row(6, 'Bad "date"')]
    jobs.make(
        ARCHELON_ID,
        total=6,
        completed=completed,
        runs={
            "20240131110000": {"failed": [dropped_row(9, "old")], "invalid": []},
            "20240131120000": {"failed": failed, "invalid": invalid},
        },
    )
    (jobs.folder(ARCHELON_ID) / "not-a-run").mkdir()
    response = await server.client.get(server.job_path(ARCHELON_ID))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "@id": server.url + server.job_path(ARCHELON_ID),
        **default_config(ARCHELON_ID),
        "runs": ["20240131120000", "20240131110000"],
        "completed": {"count": 3, "items": as_items(COMPLETED_COLUMNS, completed)},
        "dropped": {
            "timestamp": "20240131120000",
            "failed": {"count": 1, "items": as_items(DROPPED_COLUMNS, failed)},
            "invalid": {"count": 2, "items": as_items(DROPPED_COLUMNS, invalid)},
        },
        "total": 6,
    }


async def test_job_without_a_run(server: Server, jobs: JobFolders) -> None:
    jobs.make("fresh", total=2, completed=None)
    response = await server.client.get("/jobs/fresh")
    assert response.status_code == 200
    assert response.json() == {
        "@id": f"{server.url}/jobs/fresh",
        **default_config("fresh"),
        "runs": [],
        "completed": {"count": 0, "items": []},
        "dropped": {},
        "total": 2,
    }


async def test_run_without_dropped_logs_yet(server: Server, jobs: JobFolders) -> None:
    jobs.make("starting", runs={"20240131120000": {}})
    body = (await server.client.get("/jobs/starting")).json()
    assert body["dropped"] == {
        "timestamp": "20240131120000",
        "failed": {"count": 0, "items": []},
        "invalid": {"count": 0, "items": []},
    }


async def test_archelon_unencoded_id_in_the_path(server: Server, jobs: JobFolders) -> None:
    """Older Archelon versions put the id in the path as it is."""
    jobs.make(ARCHELON_ID)
    for path in (f"/jobs/{ARCHELON_ID}", server.job_path(ARCHELON_ID)):
        response = await server.client.get(path)
        assert response.status_code == 200, path
        assert response.json()["job_id"] == ARCHELON_ID
        assert response.json()["@id"] == server.url + server.job_path(ARCHELON_ID)


async def test_config_values_as_the_old_daemon_wrote_them(server: Server, jobs: JobFolders) -> None:
    config = (
        "job_id: legacy\nmodel: Letter\naccess: None\nmember_of: None\ncontainer: /pcdm\n"
        "binaries_location: None\nextract_text_types: None\nvalidate_only: false\n"
        "nested: {a: 1}\ntotal: 999\n"
    )
    jobs.make("legacy", config=config)
    body = (await server.client.get("/jobs/legacy")).json()
    assert {k: body[k] for k in ("job_id", "model", "access", "member_of", "container")} == {
        "job_id": "legacy",
        "model": "Letter",
        "access": None,
        "member_of": None,
        "container": "/pcdm",
    }
    assert body["binaries_location"] is None
    # Other plain keys come along; nested values and the response's own keys do not.
    assert body["extract_text_types"] is None
    assert body["validate_only"] is False
    assert "nested" not in body
    assert body["total"] == 3


async def test_config_without_job_id_takes_the_requested_one(
    server: Server, jobs: JobFolders
) -> None:
    jobs.make("anon", config="model: Item\n")
    body = (await server.client.get("/jobs/anon")).json()
    assert body["job_id"] == "anon"
    assert body["access"] is None and body["model"] == "Item"


async def test_csv_values_with_commas_quotes_newlines_and_unicode(
    server: Server, jobs: JobFolders
) -> None:
    rows = [
        ("a,1", "2024-01-31T12:00:00", 'Title with "quotes", commas', "http://x/1", "created"),
        ("a2", "2024-01-31T12:00:01", "Two\nlines\r\nand CRLF", "http://x/2", "created"),
        ("a3", "2024-01-31T12:00:02", "東京 | Ōsaka", "http://x/3", "modified"),
    ]
    jobs.make("quoted", completed=rows)
    body = (await server.client.get("/jobs/quoted")).json()
    assert body["completed"] == {"count": 3, "items": as_items(COMPLETED_COLUMNS, rows)}


async def test_ragged_rows_are_reported_not_fatal(server: Server, jobs: JobFolders) -> None:
    folder = jobs.make("ragged", completed=None)
    (folder / "completed.log.csv").write_text(
        "id,timestamp,title,uri,status\nshort,2024\n\nlong,t,x,u,created,extra\n"
    )
    body = (await server.client.get("/jobs/ragged")).json()
    assert body["completed"] == {
        "count": 2,
        "items": [
            {"id": "short", "timestamp": "2024", "title": None, "uri": None, "status": None},
            {"id": "long", "timestamp": "t", "title": "x", "uri": "u", "status": "created"},
        ],
    }


async def test_head_answers_like_get_without_a_body(server: Server, jobs: JobFolders) -> None:
    jobs.make("headed", completed=[completed_row(1)])
    response = await server.client.head("/jobs/headed")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


# --- broken job folders, unknown jobs, other errors ----------------------------------------------


@pytest.mark.parametrize(
    ("config", "total", "reason"),
    [
        (None, 3, "no config.yml"),
        ("", 3, "config.yml is empty"),
        ("# nothing but a comment\n", 3, "config.yml is empty"),
        ("- a\n- list\n", 3, "config.yml is not a mapping"),
        ("job_id: [unclosed\n", 3, "config.yml is not valid YAML at line"),
        ("default", None, "no source.csv"),
    ],
    ids=["no-config", "empty-config", "comment-only", "list-config", "bad-yaml", "no-csv"],
)
async def test_broken_job_folder_is_404_with_the_reason(
    server: Server, jobs: JobFolders, config: str | None, total: int | None, reason: str
) -> None:
    jobs.make("broken", config=config, total=total)
    response = await server.client.get("/jobs/broken")
    assert_problem(response, 404, "'broken'", reason)
    # The folder is still listed, and the server still answers.
    assert (await server.client.get("/jobs")).json()["jobs"][0]["job_id"] == "broken"
    assert (await server.client.get("/health")).status_code == 200


async def test_config_that_is_a_folder_is_broken(server: Server, jobs: JobFolders) -> None:
    folder = jobs.make("odd", config=None)
    (folder / "config.yml").mkdir()
    assert_problem(await server.client.get("/jobs/odd"), 404, "not a regular file")


async def test_unreadable_log_is_500_naming_the_file(server: Server, jobs: JobFolders) -> None:
    if os.geteuid() == 0:
        # root reads any file; a folder where the log should be fails the same way.
        folder = jobs.make("locked", completed=None)
        (folder / "completed.log.csv").mkdir()
    else:
        folder = jobs.make("locked", completed=[completed_row(1)])
        (folder / "completed.log.csv").chmod(0)
    response = await server.client.get("/jobs/locked")
    assert_problem(response, 500, "completed.log.csv")


async def test_unknown_job_is_404(server: Server, jobs: JobFolders) -> None:
    jobs.make("known")
    assert_problem(await server.client.get("/jobs/unknown"), 404, "no import job 'unknown'")


async def test_unknown_path_and_method(server: Server) -> None:
    assert_problem(await server.client.get("/nowhere"), 404, "/nowhere")
    assert_problem(await server.client.get("/jobs/"), 404)
    response = await server.client.post("/jobs", content=b"{}")
    assert_problem(response, 405, "POST")
    assert "GET" in response.headers["allow"]
    assert_problem(await server.client.delete("/jobs/x"), 405)


@pytest.mark.parametrize("query", ["offset=-1", "limit=abc", "limit=1.5", "offset=" + "9" * 40])
async def test_bad_query_parameters_are_400(server: Server, jobs: JobFolders, query: str) -> None:
    jobs.make("paged")
    name = query.split("=")[0]
    assert_problem(await server.client.get(f"/jobs/paged?{query}"), 400, name)


# --- large logs: pagination and streaming --------------------------------------------------------


async def test_offset_and_limit_narrow_item_lists_not_counts(
    server: Server, jobs: JobFolders
) -> None:
    completed = [completed_row(n) for n in range(10)]
    invalid = [dropped_row(n, "bad") for n in range(20, 25)]
    jobs.make("paged", total=15, completed=completed, runs={"20240101000000": {"invalid": invalid}})
    body = (await server.client.get("/jobs/paged", params={"offset": 3, "limit": 4})).json()
    assert body["completed"] == {
        "count": 10,
        "items": as_items(COMPLETED_COLUMNS, completed[3:7]),
    }
    assert body["dropped"]["invalid"] == {
        "count": 5,
        "items": as_items(DROPPED_COLUMNS, invalid[3:5]),
    }
    assert body["dropped"]["failed"] == {"count": 0, "items": []}
    counts_only = (await server.client.get("/jobs/paged?limit=0")).json()
    assert counts_only["completed"] == {"count": 10, "items": []}
    past_the_end = (await server.client.get("/jobs/paged?offset=50")).json()
    assert past_the_end["completed"] == {"count": 10, "items": []}


async def test_large_log_is_streamed_and_complete(server: Server, jobs: JobFolders) -> None:
    completed = [completed_row(n) for n in range(10_000)]
    jobs.make("big", total=10_000, completed=completed)
    async with server.client.stream("GET", "/jobs/big") as response:
        assert response.status_code == 200
        # Sent in chunks as it is read, not measured first.
        assert "content-length" not in response.headers
        assert response.headers.get("transfer-encoding") == "chunked"
        parts = [part async for part in response.aiter_raw()]
    assert len(parts) > 1
    body = json.loads(b"".join(parts))
    assert body["completed"]["count"] == 10_000
    assert body["completed"]["items"] == as_items(COMPLETED_COLUMNS, completed)
    assert body["total"] == 10_000
    # A small job is sent whole, with its length.
    jobs.make("small", completed=[completed_row(1)])
    small = await server.client.get("/jobs/small")
    assert int(small.headers["content-length"]) == len(small.content)


# --- concurrency ---------------------------------------------------------------------------------


async def test_concurrent_requests(server: Server, jobs: JobFolders) -> None:
    for n in range(8):
        jobs.make(f"job-{n}", total=200, completed=[completed_row(i) for i in range(n * 20)])
    jobs.make("big", total=5000, completed=[completed_row(i) for i in range(5000)])
    results: dict[str, int] = {}

    async def fetch(path: str) -> None:
        response = await server.client.get(path)
        assert response.status_code == 200, path
        body = response.json()
        if path.startswith("/jobs/"):
            assert body["completed"]["count"] == len(body["completed"]["items"])
            results[path] = body["completed"]["count"]

    paths = ["/jobs", "/health", "/", "/jobs/big"] + [f"/jobs/job-{n}" for n in range(8)]
    async with trio.open_nursery() as nursery:
        for round_ in range(5):
            for path in paths:
                nursery.start_soon(fetch, path)
            del round_
    assert results == {"/jobs/big": 5000, **{f"/jobs/job-{n}": n * 20 for n in range(8)}}


async def test_reading_while_the_import_appends(server: Server, jobs: JobFolders) -> None:
    """The import command appends to completed.log.csv while Archelon polls: every response is
    valid JSON whose count matches its items, which are whole rows in order, never fewer than
    the same poller's previous response had, and a half-written last row (even one cut inside
    a quoted newline) is never shown."""
    folder = jobs.make("live", total=400, completed=[], runs={"20240131120000": {}})
    log = folder / "completed.log.csv"
    done = trio.Event()

    def row_bytes(n: int) -> bytes:
        title = f'"Title {n}\nsecond line, with ""quotes"""' if n % 3 == 0 else f"Title {n}"
        return f"item-{n},2024-01-31T12:00:00,{title},http://x/{n},created\r\n".encode()

    async def writer() -> None:
        # as the import does: holding the job's lock while it appends
        with JobFolder(jobs.root, "live").locked(), log.open("ab", buffering=0) as f:
            for n in range(400):
                data = row_bytes(n)
                # Each row goes out in pieces: cut inside the quoted part, then the rest.
                cut = data.index(b"\n") + 1 if n % 3 == 0 else len(data) // 2
                f.write(data[:cut])
                await trio.sleep(0)
                f.write(data[cut:])
                if n % 7 == 0:
                    await trio.sleep(0.001)
        done.set()

    async def reader() -> None:
        seen = 0
        while not done.is_set():
            response = await server.client.get("/jobs/live")
            assert response.status_code == 200
            items = response.json()["completed"]["items"]
            assert response.json()["completed"]["count"] == len(items)
            assert len(items) >= seen
            seen = len(items)
            for n, item in enumerate(items):
                assert item["id"] == f"item-{n}"
                assert item["status"] == "created"
                if n % 3 == 0:
                    assert item["title"] == f'Title {n}\nsecond line, with "quotes"'

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        for _ in range(3):
            nursery.start_soon(reader)
    final = (await server.client.get("/jobs/live")).json()
    assert final["completed"]["count"] == 400


async def test_job_folder_replaced_between_requests(server: Server, jobs: JobFolders) -> None:
    jobs.make("redo", completed=[completed_row(1)])
    assert (await server.client.get("/jobs/redo")).json()["completed"]["count"] == 1
    shutil.rmtree(jobs.folder("redo"))
    assert_problem(await server.client.get("/jobs/redo"), 404)
    jobs.make("redo", completed=[completed_row(1), completed_row(2)])
    assert (await server.client.get("/jobs/redo")).json()["completed"]["count"] == 2


async def test_no_file_left_open(server: Server, jobs: JobFolders) -> None:
    """Whole, streamed, HEAD and abandoned answers all close the job's files."""
    jobs.make("big", total=6000, completed=[completed_row(i) for i in range(6000)],
              runs={"20240101000000": {"failed": [], "invalid": []}})  # fmt: skip
    jobs.make("small", completed=[completed_row(1)])

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    await server.client.get("/health")
    before = open_fds()
    for _ in range(3):
        assert (await server.client.get("/jobs/big")).status_code == 200
        assert (await server.client.get("/jobs/small")).status_code == 200
        assert (await server.client.head("/jobs/big")).status_code == 200
        assert (await server.client.get("/jobs/big?offset=10&limit=10")).status_code == 200
        async with (
            httpx.AsyncClient(base_url=server.url) as impatient,
            impatient.stream("GET", "/jobs/big?offset=1") as response,
        ):
            async for _ in response.aiter_raw():
                break  # hang up after the first chunk
    with trio.fail_after(10):
        while open_fds() > before:
            await trio.sleep(0.05)

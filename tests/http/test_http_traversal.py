"""A requested job id is only ever looked up as a direct child of JOBS_DIR.

Beside JOBS_DIR sits a folder that *would* answer as a job (valid config.yml and CSVs) if any
request could reach it. Requests are sent byte for byte over a raw socket (httpx would
normalise `..` away) as well as through httpx; every one must be a 404 (or a 400 from the
HTTP parser), and no answer may contain anything from outside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plastrond.jobfolders import JobNotFound, list_job_ids, open_job
from tests.support.http import JobFolders, Server, completed_row, csv_text, raw_get

SECRET = "outside-secret-title"


@pytest.fixture
def outside(jobs: JobFolders, tmp_path: Path) -> Path:
    """A job-shaped folder next to JOBS_DIR, plus `secret` files one and two levels up."""
    folder = tmp_path / "secret"
    folder.mkdir()
    (folder / "config.yml").write_text(f"job_id: secret\nmodel: {SECRET}\n")
    (folder / "source.csv").write_text("Title\nx\n")
    (folder / "completed.log.csv").write_text(
        csv_text(["id", "timestamp", "title", "uri", "status"], [(1, "t", SECRET, "u", "created")])
    )
    # A symbolic link inside JOBS_DIR that leads out of it.
    (jobs.root / "escape").symlink_to(folder)
    jobs.make("inside", completed=[completed_row(1)])
    return folder


TARGETS = [
    "/jobs/../secret",
    "/jobs/..%2Fsecret",
    "/jobs/%2E%2E%2Fsecret",
    "/jobs/%2e%2e/secret",
    "/jobs/%2E%2E",
    "/jobs/..",
    "/jobs/.",
    "/jobs/%2E",
    "/jobs/inside/../../secret",
    "/jobs/inside%2F..%2F..%2Fsecret",
    "/jobs/%252E%252E%252Fsecret",
    "/jobs/%25252E%25252E%25252Fsecret",
    "/jobs/..%252Fsecret",
    "/jobs/%2Fetc%2Fpasswd",
    "/jobs//etc/passwd",
    "/jobs/%2F" + "%2F".join(["tmp"]),
    "/jobs/..%5Csecret",
    "/jobs/..\\secret",
    "/jobs/escape",
    "/jobs/%65scape%2F..%2F..%2Fsecret",
    "/jobs/secret%00",
    "/jobs/%00",
    "/jobs/%C0%AE%C0%AE%2Fsecret",
    "/jobs/%FF%FE",
    "/jobs/" + "a" * 300,
    "/jobs/" + "%2E" * 300,
]


@pytest.mark.parametrize("target", TARGETS)
async def test_raw_traversal_targets_are_404(server: Server, outside: Path, target: str) -> None:
    status, body = await raw_get(server.port, target)
    assert status in (400, 404), (target, status, body)
    assert SECRET.encode() not in body
    assert b'"job_id":"secret"' not in body


# ("." and ".." themselves are in TARGETS: httpx would resolve `/jobs/..` to `/` before sending.)
@pytest.mark.parametrize(
    "job_id", ["../secret", "/etc/passwd", "../../etc/passwd", "inside/../../secret", ""]
)
async def test_encoded_ids_through_httpx_are_404(
    server: Server, outside: Path, job_id: str
) -> None:
    response = await server.client.get(server.job_path(job_id))
    assert response.status_code == 404
    assert SECRET not in response.text


async def test_absolute_outside_path_id(server: Server, outside: Path) -> None:
    response = await server.client.get(server.job_path(str(outside)))
    assert response.status_code == 404
    assert SECRET not in response.text


async def test_the_inside_job_still_answers(server: Server, outside: Path) -> None:
    status, body = await raw_get(server.port, "/jobs/inside")
    assert status == 200
    assert b'"job_id":"inside"' in body


def test_reader_refuses_anything_but_a_direct_child(jobs: JobFolders, outside: Path) -> None:
    for job_id in ("../secret", "..", ".", "", str(outside), "escape", "inside/../../secret"):
        with pytest.raises(JobNotFound):
            open_job(jobs.root, job_id)
    assert list_job_ids(jobs.root) == ["inside"]


async def test_dot_ids_are_ordinary_jobs_inside(server: Server, jobs: JobFolders) -> None:
    """A job whose id is `..` lives in JOBS_DIR/%2E%2E and is reached through its @id."""
    for job_id in ("..", "."):
        folder = jobs.make(job_id, config={"job_id": job_id, "model": "Item"})
        assert folder.parent == jobs.root and folder.name.startswith("%2E")
    listed = (await server.client.get("/jobs")).json()["jobs"]
    assert [entry["job_id"] for entry in listed] == [".", ".."]
    for entry in listed:
        assert entry["@id"].endswith("/jobs/%2E" if entry["job_id"] == "." else "/jobs/%2E%2E")
        response = await server.client.get(entry["@id"])
        assert response.status_code == 200
        assert response.json()["job_id"] == entry["job_id"]

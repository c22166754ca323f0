"""The page for people: what a browser gets at `/` and `/jobs`, checked in headless Chromium
(Debian's `chromium`, installed by dev/setup.sh) and with httpx sending a browser's Accept."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import trio

from plastrond.jobfolders import JobFolder
from tests.support.http import ARCHELON_ID, JobFolders, Server, completed_row, dropped_row

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class _Table(HTMLParser):
    """Collects the text of each table body row's cells, and the page's title and notes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self.title = ""
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._in_body = self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "a" and self._in_body:
            self.links.append(dict(attrs).get("href") or "")
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data
        self.text.append(data)


def parse(html: str) -> _Table:
    table = _Table()
    table.feed(html)
    return table


def make_jobs(jobs: JobFolders) -> None:
    jobs.make(
        ARCHELON_ID,
        total=3,
        completed=[completed_row(n) for n in range(3)],
        runs={"20240131120500": {"failed": [], "invalid": []}},
    )
    jobs.make(
        "import-letters",
        config={"job_id": "import-letters", "model": "Letter"},
        total=10,
        completed=[completed_row(n) for n in range(4)],
        runs={"20240201093000": {"failed": [dropped_row(5, "timeout")], "invalid": []}},
    )
    jobs.make("waiting", total=5, completed=None)
    jobs.make("<script>alert(1)</script>", config=None)


EXPECTED_ROWS = [
    # Job, State, Imported, Failed, Invalid, Latest run, Model (sorted by id, as /jobs is)
    ["<script>alert(1)</script>", "broken no config.yml", "", "", "", "", ""],
    [ARCHELON_ID, "complete", "3 of 3", "0", "0", "2024-01-31 12:05:00 UTC", "Item"],
    ["import-letters", "incomplete", "4 of 10", "1", "0", "2024-02-01 09:30:00 UTC", "Letter"],
    ["waiting", "not started", "0 of 5", "", "", "", "Item"],
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed (dev/setup.sh installs Debian's chromium)")
    return path


async def browse(url: str, tmp_path: Path, *extra: str) -> str:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *extra,
        url,
    ]
    with trio.fail_after(120):
        result = await trio.run_process(command, capture_stdout=True, capture_stderr=True)
    return result.stdout.decode()


@pytest.mark.parametrize("path", ["/", "/jobs"])
async def test_chromium_shows_jobs_and_states(
    server: Server, jobs: JobFolders, tmp_path: Path, path: str
) -> None:
    make_jobs(jobs)
    dom = await browse(server.url + path, tmp_path, "--dump-dom")
    page = parse(dom)
    assert page.title == "Import jobs · plastrond"
    assert page.rows == EXPECTED_ROWS
    # The hostile job name is shown as text, not run: no script element made it into the DOM.
    assert "<script>alert" not in dom.replace("&lt;script&gt;", "")
    # Each name links to the job's JSON, the id encoded as one segment.
    assert page.links[1] == "jobs/http%3A%2F%2Farchelon.example%2Fimport_jobs%2F42"


async def test_chromium_screenshot_of_the_page(
    server: Server, jobs: JobFolders, tmp_path: Path
) -> None:
    """Chromium renders the page to a PNG (set PLASTROND_SCREENSHOT_DIR to keep it and look)."""
    make_jobs(jobs)
    shot = Path(os.environ.get("PLASTROND_SCREENSHOT_DIR", tmp_path)) / "jobs.png"
    await browse(server.url + "/", tmp_path, f"--screenshot={shot}", "--window-size=1100,500")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


async def test_browser_accept_gets_html_everyone_else_json(
    server: Server, jobs: JobFolders
) -> None:
    make_jobs(jobs)
    for path in ("/", "/jobs"):
        response = await server.client.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["vary"] == "Accept"
        assert parse(response.text).rows == EXPECTED_ROWS
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    # The job itself is always JSON, whatever the client prefers.
    detail = await server.client.get("/jobs/waiting", headers={"Accept": BROWSER_ACCEPT})
    assert detail.headers["content-type"] == "application/json"


async def test_a_folder_being_prepared_is_not_started_one_left_behind_is_broken(
    server: Server, jobs: JobFolders
) -> None:
    """Every job folder is listed, as upstream lists them (issue #24, item 4): one whose import
    is still checking the request (its lock held, no config.yml yet) is `not started`, one an
    older plastrond left with only its lock is `broken`."""
    for job_id in ("preparing", "left-behind"):
        (jobs.root / job_id).mkdir()
        (jobs.root / job_id / ".lock").touch()
    with JobFolder(jobs.root, "preparing").locked():
        page = await server.client.get("/jobs", headers={"Accept": BROWSER_ACCEPT})
    rows = parse(page.text).rows
    assert [row[:2] for row in rows] == [
        ["left-behind", "broken no config.yml"],
        ["preparing", "not started"],
    ]


async def test_page_without_jobs(server: Server, jobs: JobFolders) -> None:
    page = await server.client.get("/", headers={"Accept": "text/html"})
    assert "No import jobs yet." in page.text
    assert "does not exist" not in page.text
    jobs.root.rmdir()
    page = await server.client.get("/", headers={"Accept": "text/html"})
    assert "No import jobs yet." in page.text
    assert "The jobs folder does not exist yet." in page.text

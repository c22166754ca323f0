"""The HTTP job API over real sockets (issue #18, item 9): a last row without a final line
break is counted and listed: in source.csv always (it is replaced whole, never appended to),
in a log when no run holds the job's lock; while one does, it may be half appended and is left
out."""

from __future__ import annotations

import pytest
import trio

from plastrond.jobfolders import JobFolder
from tests.support.http import COMPLETED_COLUMNS, JobFolders, Server, completed_row, csv_text

JOB = "spreadsheet-job"


def _without_final_newline(jobs: JobFolders) -> None:
    jobs.make(JOB, total=9, completed=[completed_row(n) for n in range(9)])
    folder = jobs.folder(JOB)
    for name in ("source.csv", "completed.log.csv"):
        path = folder / name
        path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
        assert not path.read_bytes().endswith(b"\n")


async def test_last_rows_without_a_line_break_are_counted(server: Server, jobs: JobFolders) -> None:
    _without_final_newline(jobs)
    answer = (await server.client.get(server.job_path(JOB))).json()
    assert answer["total"] == 9
    assert answer["completed"]["count"] == 9
    assert [row["id"] for row in answer["completed"]["items"]] == [
        completed_row(n)[0] for n in range(9)
    ]
    page = await server.client.get("/jobs", headers={"Accept": "text/html"})
    assert "9 of 9" in page.text and "8 of" not in page.text


async def test_while_a_run_holds_the_lock_an_unterminated_log_row_waits(
    server: Server, jobs: JobFolders
) -> None:
    _without_final_newline(jobs)
    with JobFolder(jobs.root, JOB).locked():
        answer = (await server.client.get(server.job_path(JOB))).json()
        assert answer["total"] == 9  # source.csv: always whole
        assert answer["completed"]["count"] == 8  # the last row may still be being written
        assert len(answer["completed"]["items"]) == 8
    answer = (await server.client.get(server.job_path(JOB))).json()
    assert answer["completed"]["count"] == 9


async def test_a_half_row_with_an_open_quote_is_never_shown(
    server: Server, jobs: JobFolders
) -> None:
    jobs.make(JOB, total=2, completed=None)
    rows = [completed_row(0)]
    (jobs.folder(JOB) / "completed.log.csv").write_text(
        csv_text(COMPLETED_COLUMNS, rows) + 'item-1,2024,"a title cut short'
    )
    answer = (await server.client.get(server.job_path(JOB))).json()
    assert answer["completed"]["count"] == 1


# -- item 7: connections the client asked to close ------------------------------------------------


async def _closed_by_server(port: int, request: bytes, within: float = 5.0) -> tuple[bytes, bool]:
    """Send *request* on a new connection; the whole answer, and whether the server then
    closed the connection (EOF) within *within* seconds."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        with trio.move_on_after(within):
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return data, True
                data += chunk
        return data, False


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /jobs HTTP/1.0\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.0\r\n\r\n",
        b"GET /jobs/spreadsheet-job HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"HEAD /jobs HTTP/1.0\r\n\r\n",
    ],
)
async def test_connection_close_and_http10_connections_are_closed(
    server: Server, jobs: JobFolders, request_bytes: bytes
) -> None:
    _without_final_newline(jobs)
    results = []
    async with trio.open_nursery() as nursery:

        async def one() -> None:
            results.append(await _closed_by_server(server.port, request_bytes))

        for _ in range(20):
            nursery.start_soon(one)
    assert len(results) == 20
    for answer, closed in results:
        assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 404", b"HTTP/1.0 200")), answer[:80]
        assert closed, answer[:200]


async def test_keep_alive_connections_stay_usable(server: Server, jobs: JobFolders) -> None:
    # The other side of it: an HTTP/1.1 client that does not ask to close keeps its connection.
    _without_final_newline(jobs)
    answer, closed = await _closed_by_server(
        server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", within=1.0
    )
    assert answer.startswith(b"HTTP/1.1 200") and not closed

"""A row that fails because no transaction could begin (issue #25, item 5), on each real
Fedora: the repository stops answering just as the item's transaction is to begin. Nothing
can have been written, and the failed row says so, with what to do, instead of "whether X was
created is not known"; run again once the repository answers, the job imports the row."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from plastrond.jobfolders import JobFolder, read_rows
from plastrond.repository import RepositoryClient
from tests.support.imports import import_config, run_import

pytestmark = pytest.mark.integration

JOB = "http://archelon.example/import_jobs/25-no-transaction"
CSV = (
    "Identifier,Title,Object Type,Rights Statement\n"
    "nt-1,No transaction,http://purl.org/dc/dcmitype/Text,"
    "http://vocab.lib.umd.edu/rightsStatement#InC\n"
)


class _GoneAtTheTransaction(httpx.AsyncBaseTransport):
    """The real Fedora until the first request to begin a transaction; from then on nothing
    answers (every connection refused), as when the server goes away."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.gone = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/fcr:tx"):
            self.gone = True
        if self.gone:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def failed_rows(jobs: Path) -> list[dict[str, str]]:
    folder = JobFolder(jobs, JOB).path
    latest = sorted(p for p in folder.iterdir() if p.name.isdigit())[-1]
    return read_rows(latest / "dropped-failed.log.csv")


async def test_a_row_whose_transaction_cannot_begin_says_nothing_was_written(
    repo, target, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root, max_concurrent_items=1)
    args = {"model": "Item", "container": target.uri}
    transport = _GoneAtTheTransaction()
    async with RepositoryClient(config.repository, transport=transport) as gone:
        outcome = await run_import(config, gone, CSV, job_id=JOB, **args)
    assert transport.gone
    assert outcome.count["created"] == 0 and outcome.count["errors"] == 1, outcome.body
    (row,) = failed_rows(jobs)
    reason = row["reason"]
    assert reason.startswith("Creating item failed, nothing was written: "), reason
    assert "cannot begin a transaction" in reason and "/fcr:tx" in reason, reason
    assert "run the job again" in reason, reason
    assert "is not known" not in reason, reason
    assert target.items() == []

    # As it says: run again, with the repository back, the row is imported.
    again = await run_import(config, repo, CSV, job_id=JOB, resume="true", **args)
    assert again.count["created"] == 1, again.body
    assert len(target.items()) == 1

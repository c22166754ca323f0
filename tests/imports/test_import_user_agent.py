"""What the real Fedora receives from the import command: every request says
`plastrond/<version> (import)`, the transaction of each item (its begin, every write in it,
its commit) included, and none says `(attach)`. UMD's routes.xml turns a create event whose
User-Agent contains `(import)` into an import event, and Solr then indexes the item alone
(Solrizer adds its pages and files): one add per item. Fedora emits the events of an item at
its transaction's commit, with the User-Agent of the request that began it (6.1) or of the
last request inside it (4.7), so every one of them must say it (README, "The User-Agent and
UMD's indexing"). A recording proxy in front of the server shows the requests as the server
got them."""

from __future__ import annotations

from pathlib import Path

import pytest

from plastrond import __version__
from plastrond.priming import repository_client
from tests.support.imports import DATA, FILES, TestContainer, import_config, run_import
from tests.support.recording_proxy import RecordingProxy

pytestmark = pytest.mark.integration

IMPORT_AGENT = f"plastrond/{__version__} (import)"
JOB = "http://archelon.example/import_jobs/ua-1"


async def test_every_request_of_an_import_says_import(
    tmp_path: Path, fedora, proxy: RecordingProxy, proxied_target: TestContainer
) -> None:
    config = import_config(tmp_path / "jobs", rest_url=proxy.rest_url)
    proxy.clear()
    async with repository_client(config) as repository:  # the daemon's own client
        outcome = await run_import(
            config,
            repository,
            (DATA / "Item.csv").read_bytes(),
            job_id=JOB,
            model="Item",
            binaries_location=str(FILES),
            container=proxied_target.uri,
        )
    seen = proxy.taken()
    assert outcome.state == "import_complete", outcome.body
    items = proxied_target.items()
    assert len(items) == 2

    wrong = [(s.method, s.path, s.user_agent) for s in seen if s.user_agent != IMPORT_AGENT]
    assert not wrong, f"requests that do not say {IMPORT_AGENT}: {wrong}"
    assert not any("(attach)" in s.user_agent for s in seen)
    # what the events of each item carry: the begin of its transaction (Fedora 6), the
    # writes inside it (Fedora 4.7: the last of them), and its commit, all seen here
    begins = [s for s in seen if s.method == "POST" and s.path.endswith("/fcr:tx")]
    assert len(begins) >= len(items)
    for item in items:
        path = item.removeprefix(proxy.base)
        writes = [s for s in seen if s.method == "PUT" and s.path.endswith(path.split("/")[-1])]
        assert writes, f"no PUT of {item} was seen"
    commits = [
        s
        for s in seen
        if (s.method == "PUT" and "/fcr:tx/" in s.path) or s.path.endswith("/fcr:commit")
    ]
    assert len(commits) >= len(items)

"""What the real Fedora receives from the http mode: every request of a `PATCH /resources` and
of a `POST /inbox` publish says `plastrond-http/<version>`, which UMD's Solr route reads to
index the change without Solrizer's cache (README, "The User-Agent and UMD's indexing").
A recording proxy in front of the server shows the requests as the server got them."""

from __future__ import annotations

from pathlib import Path

import pytest

from plastrond import __version__
from tests.support.live import (
    ACTIVITY,
    AS_CONTEXT,
    DCTERMS,
    PUBLISHED,
    RIGHTS,
    RIGHTS_TTL,
    TITLE,
    live_server,
)
from tests.support.recording_proxy import RecordingProxy, Seen

pytestmark = pytest.mark.integration

HTTP_AGENT = f"plastrond-http/{__version__}"


def assert_all_say(seen: list[Seen], agent: str) -> None:
    assert seen, "the server received nothing"
    wrong = [(s.method, s.path, s.user_agent) for s in seen if s.user_agent != agent]
    assert not wrong, f"requests that do not say {agent}: {wrong}"


async def test_an_edit_and_a_publish_say_plastrond_http(
    tmp_path: Path, fedora, proxy: RecordingProxy, vocabulary_server
) -> None:
    vocabularies = {RIGHTS: vocabulary_server.serve("/rights", RIGHTS_TTL)}
    async with live_server(tmp_path, proxy.endpoint(fedora), vocabularies) as live:
        uri = await live.repo.item()
        path = uri.removeprefix(proxy.rest_url)
        proxy.clear()

        sparql = (
            f'DELETE {{ <{uri}> <{DCTERMS}title> "Old title"@en }} '
            f'INSERT {{ <{uri}> <{DCTERMS}title> "New title"@en }} WHERE {{}}'
        )
        answer = await live.patch(path, sparql)
        assert answer.status_code == 204, answer.text
        edit = proxy.taken()
        assert any(s.method == "PATCH" and s.path.endswith(path) for s in edit), edit
        assert_all_say(edit, HTTP_AGENT)

        activity = {"@context": AS_CONTEXT, "type": ACTIVITY + "Publish", "object": uri}
        answer = await live.activity(activity)
        assert answer.status_code < 300, answer.text
        publish = proxy.taken()
        assert any(s.method == "PATCH" and s.path.endswith(path) for s in publish), publish
        assert_all_say(publish, HTTP_AGENT)

        assert PUBLISHED in await live.repo.types(uri)
        assert await live.repo.values(uri, TITLE) == {"New title"}

"""Writes made outside a transaction (publishing, the metadata editor's save behind
`PATCH /resources` and the update command) are sent again when Fedora 4.7 fails them with one
of its concurrency races, by the rule the import uses (`repository.fedora47_race`); any other
failure goes up at once. Against a stand-in server (httpx.MockTransport)."""

from __future__ import annotations

import httpx
import pytest

from plastrond import editing, publication
from plastrond.repository import RepositoryClient, RepositoryHTTPError
from tests.support.repository_doubles import repo_config

ROOT = "http://fedora.test/rest"
ITEM = f"{ROOT}/pcdm/ab/cd/ef/01/abcdef01-0000"
UPDATE = "INSERT DATA { <> <http://purl.org/dc/terms/title> 'u' }"
RACE = (
    "org.modeshape.jcr.value.ValueFormatException: "
    'Error converting "ns001:Published" from String to a Name'
)


class Server:
    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.patches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200)
        if request.method == "GET":
            body = f'<{ITEM}> <http://purl.org/dc/terms/title> "t" .\n'
            return httpx.Response(200, text=body, headers={"Content-Type": "application/n-triples"})
        assert request.method == "PATCH"
        self.patches += 1
        status, text = self.answers.pop(0) if self.answers else (204, "")
        return httpx.Response(status, text=text)


def client(server: Server) -> RepositoryClient:
    return RepositoryClient(
        repo_config(ROOT, fedora_user="admin", fedora_password="pw"),
        transport=httpx.MockTransport(server),
    )


async def test_publishing_is_sent_again_after_a_race(autojump_clock) -> None:
    server = Server((500, RACE), (400, "Node type 'ns007:Published' already exists"))
    async with client(server) as repo:
        outcome = await publication.apply(repo, ITEM, publication.publish())
    assert outcome.status == "published"
    assert server.patches == 3


async def test_an_edit_is_sent_again_after_a_race(autojump_clock) -> None:
    server = Server((400, "6a28746317f1e7mode:namespaces-http://pcdm.org/use#"))
    async with client(server) as repo:
        before = await editing.read(repo, ITEM)
        edited = await editing.edit(repo, before, UPDATE)
    assert edited.written
    assert server.patches == 2


async def test_other_failures_and_endless_races_go_up(autojump_clock) -> None:
    server = Server((400, "javax.jcr.PathNotFoundException: No node exists"))
    async with client(server) as repo:
        with pytest.raises(publication.PublicationError, match="PathNotFoundException"):
            await publication.apply(repo, ITEM, publication.publish())
    assert server.patches == 1
    server = Server(*[(500, RACE)] * 10)
    async with client(server) as repo:
        before = await editing.read(repo, ITEM)
        with pytest.raises(RepositoryHTTPError, match="ValueFormatException"):
            await editing.edit(
                repo, before, "INSERT DATA { <> <http://purl.org/dc/terms/title> 'u' }"
            )
    assert server.patches == 5  # RACE_ATTEMPTS

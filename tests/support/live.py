"""Helpers for the http mode tests that change a real Fedora: plastrond http served in the
test's trio run against the `fedora` fixture's repository, and a plain httpx view of that
repository to set up and look at test resources (no plastrond code on that side)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
import yaml
from rdflib import Graph, URIRef

from plastrond.config import load_config
from plastrond.http import serve
from plastrond.repository._rdf import ntriples_into
from tests.support.loopback import LoopbackServer, QuietHandler

DCTERMS = "http://purl.org/dc/terms/"
TITLE = URIRef(DCTERMS + "title")
ALTERNATIVE = URIRef(DCTERMS + "alternative")
RDF_TYPE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
HIDDEN = URIRef("http://vocab.lib.umd.edu/access#Hidden")
ACTIVITY = "http://vocab.lib.umd.edu/activity#"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#"
RIGHTS_TTL = f'<{RIGHTS}InC> <http://www.w3.org/2000/01/rdf-schema#label> "In Copyright" .\n'
DCMITYPE = "http://purl.org/dc/dcmitype/"

ITEM_TTL = """\
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<> a <http://pcdm.org/models#Object> ;
   dcterms:title "{title}"@en ;
   dcterms:identifier "{identifier}" ;
   dcterms:type <http://purl.org/dc/dcmitype/Text> ;
   dcterms:rights <http://vocab.lib.umd.edu/rightsStatement#InC> .
"""


class Repository:
    """The test's own container in the real Fedora, over plain httpx as fedoraAdmin."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint
        self.client = httpx.AsyncClient(auth=endpoint.admin_auth, timeout=60)
        self.parent = ""

    async def open(self) -> None:
        response = await self.client.put(
            f"{self.endpoint.rest_url}/plastrond-test-http-{uuid.uuid4()}",
            headers={"Content-Type": "text/turtle"},
        )
        response.raise_for_status()
        self.parent = response.headers["Location"]

    async def close(self) -> None:
        await self.client.delete(self.parent)
        await self.client.delete(f"{self.parent}/fcr:tombstone")
        await self.client.aclose()

    async def create(self, turtle: str) -> str:
        response = await self.client.post(
            self.parent, content=turtle, headers={"Content-Type": "text/turtle"}
        )
        response.raise_for_status()
        return response.headers["Location"]

    async def item(self, title: str = "Old title", identifier: str = "test-1") -> str:
        return await self.create(ITEM_TTL.format(title=title, identifier=identifier))

    async def graph(self, uri: str) -> Graph:
        response = await self.client.get(uri, headers={"Accept": "application/n-triples"})
        response.raise_for_status()
        return ntriples_into(Graph(), response.text)

    async def types(self, uri: str) -> set[URIRef]:
        graph = await self.graph(uri)
        return {o for o in graph.objects(URIRef(uri), RDF_TYPE) if isinstance(o, URIRef)}

    async def values(self, uri: str, predicate: URIRef) -> set[str]:
        graph = await self.graph(uri)
        return {str(o) for o in graph.objects(URIRef(uri), predicate)}

    async def patch(self, uri: str, sparql: str) -> None:
        response = await self.client.patch(
            uri, content=sparql, headers={"Content-Type": "application/sparql-update"}
        )
        response.raise_for_status()

    def path(self, uri: str) -> str:
        """What Archelon sends: the URI with the repository's base URL cut off."""
        assert uri.startswith(self.endpoint.rest_url)
        return uri[len(self.endpoint.rest_url) :]


@attrs.define
class Live:
    url: str
    client: httpx.AsyncClient
    repo: Repository
    log: Path

    async def activity(
        self, body: Any, content_type: str = "application/ld+json"
    ) -> httpx.Response:
        import json

        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post(
            "/inbox", content=data, headers={"Content-Type": content_type}
        )

    async def patch(
        self,
        path: str,
        sparql: str | bytes,
        *,
        model: str | None = "Item",
        content_type: str = "application/sparql-update",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        params = {"model": model} if model else {}
        return await self.client.patch(
            f"/resources{path}",
            params=params,
            content=sparql,
            headers={"Content-Type": content_type, **(headers or {})},
        )


def write_live_config(
    tmp_path: Path,
    endpoint: Any,
    vocabularies: Mapping[str, str],
    http_server: Mapping[str, Any] | None = None,
    publication: Mapping[str, Any] | None = None,
) -> Path:
    jobs = tmp_path / "jobs"
    jobs.mkdir(exist_ok=True)
    config = {
        "REPOSITORY": {
            "REST_ENDPOINT": endpoint.rest_url,
            "RELPATH": "/",
            "LOG_DIR": str(tmp_path / "logs"),
            "FEDORA_USER": endpoint.admin_user,
            "FEDORA_PASSWORD": endpoint.admin_password,
        },
        "COMMANDS": {"IMPORT": {"JOBS_DIR": str(jobs)}},
        "HTTP_SERVER": {"HOST": "127.0.0.1", "PORT": 0, **(http_server or {})},
        "CONTENT_MODELS": {"VOCABULARIES": dict(vocabularies)},
    }
    if publication is not None:
        config["PUBLICATION_WORKFLOW"] = dict(publication)
    path = tmp_path / f"plastrond-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@asynccontextmanager
async def live_server(
    tmp_path: Path,
    endpoint: Any,
    vocabularies: Mapping[str, str],
    http_server: Mapping[str, Any] | None = None,
    publication: Mapping[str, Any] | None = None,
) -> AsyncIterator[Live]:
    """plastrond's http mode on a loopback port, in this trio run, against *endpoint*."""
    path = write_live_config(tmp_path, endpoint, vocabularies, http_server, publication)
    config = load_config(path)
    repo = Repository(endpoint)
    await repo.open()
    stop = trio.Event()
    try:
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait))
            async with httpx.AsyncClient(base_url=urls[0], timeout=60) as client:
                try:
                    yield Live(url=urls[0], client=client, repo=repo, log=tmp_path / "logs")
                finally:
                    stop.set()
    finally:
        await repo.close()


class HeldVocabulary(LoopbackServer):
    """A loopback HTTP server of one vocabulary document that answers only when released:
    it holds a validation (and so a PATCH) between its read and its write for as long as a
    test needs. `requested` is set when the first GET arrives."""

    def __init__(self, body: str) -> None:
        self.requested = threading.Event()
        self.release = threading.Event()
        data = body.encode("utf-8")
        held = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                held.requested.set()
                held.release.wait(30)
                self.answer(200, "text/turtle", data)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"{self.base}/vocabulary-{uuid.uuid4().hex}"

    async def wait_requested(self, timeout: float = 30) -> bool:
        wait: Callable[[], bool] = partial(self.requested.wait, timeout)
        return await trio.to_thread.run_sync(wait)

    def close(self) -> None:
        self.release.set()
        super().close()


HANDLE_DATATYPE = "http://vocab.lib.umd.edu/datatype#handle"
IDENTIFIER = URIRef(DCTERMS + "identifier")
PUBLIC_URL_PATTERN = "https://digital.example/result/id/{uuid}"


def publication_section(handle_service: Any, **overrides: str) -> dict[str, str]:
    """A PUBLICATION_WORKFLOW section for the test handle service."""
    return {
        "HANDLE_ENDPOINT": handle_service.url,
        "HANDLE_JWT_TOKEN": handle_service.token,
        "HANDLE_PREFIX": "1903.1",
        "HANDLE_REPO": "fcrepo",
        "PUBLIC_URL_PATTERN": PUBLIC_URL_PATTERN,
        "HANDLE_TIMEOUT": "10",
        **overrides,
    }


class HandleService:
    """Plain httpx view of the handle service (umd-handle-django), to look at what plastrond
    did (its records, read from its database) and to act as another client would."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint
        self.client = httpx.AsyncClient(base_url=endpoint.url, headers=endpoint.headers, timeout=30)

    async def for_repo_id(self, repo_id: str) -> list[dict[str, str]]:
        return list(await trio.to_thread.run_sync(self.endpoint.records, repo_id))

    async def mint(self, repo_id: str, url: str) -> dict[str, str]:
        answer = await self.client.post(
            "/handles",
            json={"prefix": "1903.1", "url": url, "repo": "fcrepo", "repo_id": repo_id},
        )
        answer.raise_for_status()
        return dict(answer.json())

    async def aclose(self) -> None:
        await self.client.aclose()


async def handles_on(repo: Repository, uri: str) -> list[str]:
    graph = await repo.graph(uri)
    return [
        str(o)
        for o in graph.objects(URIRef(uri), IDENTIFIER)
        if getattr(o, "datatype", None) == URIRef(HANDLE_DATATYPE)
    ]


async def uuid_item(repo: Repository, title: str = "An item") -> str:
    """An item at <parent>/<a UUID>, as items have UUIDs in their paths."""
    uri = f"{repo.parent}/{uuid.uuid4()}"
    response = await repo.client.put(
        uri,
        content=ITEM_TTL.format(title=title, identifier="test-h"),
        headers={"Content-Type": "text/turtle"},
    )
    response.raise_for_status()
    return uri


async def raw_request(url: str, method: str, target: str, body: bytes, content_type: str) -> int:
    """Send a request target exactly as written (no client-side removal of `..`), return the
    status."""
    host, port = url.removeprefix("http://").split(":")
    with trio.fail_after(30):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            head = (
                f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            await stream.send_all(head.encode("latin-1") + body)
            data = b""
            while b"\r\n" not in data:
                chunk = await stream.receive_some()
                if not chunk:
                    break
                data += chunk
    return int(data.split(b"\r\n", 1)[0].split()[1])

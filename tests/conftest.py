"""Session fixtures for the real services the integration tests talk to.

Each fixture runs the service's script in `services/`, which starts the service only when it
is not already answering and waits until it does; services are left running after the session
(stop them with `services/<name>.sh stop`), so the next run starts at once.

Fixtures on the real Fedora shared by the import, export and integration tests (a test module
or a nearer conftest may define its own under the same name):

- `target`: a container of the test's own in Fedora (`TestContainer`), removed afterwards.
- `repo`: a `RepositoryClient` on the same Fedora.
- `proxy`: a `RecordingProxy` in front of the `proxied` server (the `fedora` fixture's unless
  a module says otherwise), and `proxied_target`, a `target` made through it.
- `restartable_fedora47`: a Fedora 4.7.5 of the test's own, started empty on free ports (no
  namespace, node type or resource but its root: what a first-contact race needs), stopped
  and removed afterwards, with its `FreshFedora` (tests/support/fresh_fedora.py), which can
  `restart` it (about 30 s to start, 1-2 GB of memory).

The code the tests share is the package `tests.support` (`tests.support.imports`,
`tests.support.export`, `tests.support.live`, ...), imported by its full name.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest

from plastrond.repository import RepositoryClient
from tests.support.fresh_fedora import FreshFedora
from tests.support.imports import TestContainer, import_config
from tests.support.loopback import LoopbackServer, QuietHandler
from tests.support.recording_proxy import RecordingProxy

REPO_DIR = Path(__file__).resolve().parent.parent
SERVICES_DIR = REPO_DIR / "services"


@attrs.frozen
class BrokerEndpoint:
    host: str
    port: int
    script: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@attrs.frozen
class FedoraEndpoint:
    rest_url: str
    admin_user: str
    admin_password: str = attrs.field(repr=False)
    test_user: str
    test_password: str = attrs.field(repr=False)
    script: Path
    #: which server: "fcrepo6" (Fedora 6.1.0) or "fcrepo47" (Fedora 4.7.5); also the test id
    flavor: str = "fcrepo6"
    #: the server's version, e.g. "6.1.0" or "4.7.5"
    version: str = ""

    @property
    def is_fcrepo4(self) -> bool:
        """True for Fedora 4.7 (tx: path transactions, fcr:accessroles, typed plain literals)."""
        return self.flavor == "fcrepo47"

    @property
    def admin_auth(self) -> tuple[str, str]:
        return (self.admin_user, self.admin_password)

    @property
    def repository_keys(self) -> dict[str, str]:
        """The REPOSITORY keys of a plastrond configuration that reach this server as its
        admin user."""
        return {
            "REST_ENDPOINT": self.rest_url,
            "FEDORA_USER": self.admin_user,
            "FEDORA_PASSWORD": self.admin_password,
        }

    def grant(self, container: str, *users: str, write: bool = True) -> None:
        """Let *users* read (and *write*) *container* and everything below it, as the server
        spells it: a WebAC `fcr:acl` on Fedora 6, a basic role in `fcr:accessroles` on the
        Fedora 4.7 here (services/fedora47.sh)."""
        import httpx

        container = container.rstrip("/")
        with httpx.Client(auth=self.admin_auth, timeout=60) as client:
            if self.is_fcrepo4:
                role = "writer" if write else "reader"
                body = {user: [role] for user in users}
                for _ in range(3):  # its first such request after a start may answer 500
                    answer = client.post(f"{container}/fcr:accessroles", json=body)
                    if answer.status_code != 500:
                        break
                answer.raise_for_status()
                return
            modes = "acl:Read, acl:Write" if write else "acl:Read"
            agents = ", ".join(f'"{user}"' for user in users)
            acl = (
                "@prefix acl: <http://www.w3.org/ns/auth/acl#> .\n"
                f"<{container}/fcr:acl#granted> a acl:Authorization ; acl:agent {agents} ;\n"
                f"  acl:mode {modes} ; acl:accessTo <{container}> ; acl:default <{container}> .\n"
            )
            client.put(
                f"{container}/fcr:acl", content=acl, headers={"Content-Type": "text/turtle"}
            ).raise_for_status()


def run_service_script(name: str, *args: str) -> str:
    """Run services/<name>.sh and return what it printed on stdout (its address)."""
    script = SERVICES_DIR / f"{name}.sh"
    result = subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{script.name} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout.strip()


@pytest.fixture(scope="session")
def activemq() -> BrokerEndpoint:
    """ActiveMQ with its STOMP connector on loopback, started if absent."""
    address = run_service_script("activemq", "start")
    assert address.startswith("stomp://"), address
    host, _, port = address.removeprefix("stomp://").rpartition(":")
    return BrokerEndpoint(host=host, port=int(port), script=SERVICES_DIR / "activemq.sh")


def _versions() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (SERVICES_DIR / "versions.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


#: flavor -> (service script name, version variable in services/versions.env)
FEDORA_SERVERS = {
    "fcrepo6": ("fedora", "FCREPO_VERSION"),
    "fcrepo47": ("fedora47", "FCREPO47_VERSION"),
}
_started_fedoras: dict[str, FedoraEndpoint] = {}


def start_fedora(flavor: str) -> FedoraEndpoint:
    """Start (if absent) the Fedora server of *flavor* once per session and describe it."""
    if flavor not in _started_fedoras:
        script, _ = FEDORA_SERVERS[flavor]
        rest_url = run_service_script(script, "start")
        assert rest_url.startswith("http"), rest_url
        _started_fedoras[flavor] = fedora_endpoint(flavor, rest_url, SERVICES_DIR / f"{script}.sh")
    return _started_fedoras[flavor]


def fedora_endpoint(flavor: str, rest_url: str, script: Path) -> FedoraEndpoint:
    """The Fedora of *flavor* at *rest_url*, with the users and the version of the shared ones."""
    return FedoraEndpoint(
        rest_url=rest_url,
        admin_user=os.environ.get("FEDORA_ADMIN_USER", "fedoraAdmin"),
        admin_password=os.environ.get("FEDORA_ADMIN_PASSWORD", "fedoraAdmin"),
        test_user=os.environ.get("FEDORA_TEST_USER", "testuser"),
        test_password=os.environ.get("FEDORA_TEST_PASSWORD", "testpass"),
        script=script,
        flavor=flavor,
        version=_versions().get(FEDORA_SERVERS[flavor][1], ""),
    )


@pytest.fixture(scope="session", params=list(FEDORA_SERVERS), ids=list(FEDORA_SERVERS))
def fedora(request) -> FedoraEndpoint:
    """Each real Fedora in Jetty on loopback (6.1.0 as `fcrepo6`, 4.7.5 as `fcrepo47`),
    started if absent: a test that takes this fixture runs against both."""
    return start_fedora(request.param)


@pytest.fixture
def target(fedora) -> Iterator[TestContainer]:
    """A container of the test's own in each Fedora, removed afterwards."""
    container = TestContainer(fedora.rest_url, fedora.admin_auth)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def proxied(fedora) -> FedoraEndpoint:
    """The server the `proxy` fixture stands in front of: the `fedora` fixture's (a module may
    define its own, with `rest_url` and `admin_auth`)."""
    return fedora


@pytest.fixture
def proxy(proxied) -> Iterator[RecordingProxy]:
    """A `RecordingProxy` in front of the `proxied` server, closed afterwards."""
    server = RecordingProxy(proxied.rest_url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def proxied_target(proxied, proxy: RecordingProxy) -> Iterator[TestContainer]:
    """A container of the test's own in the `proxied` server, made and removed through the
    proxy (so its URI is under the proxy's address)."""
    container = TestContainer(proxy.rest_url, proxied.admin_auth)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
async def repo(fedora) -> AsyncIterator[RepositoryClient]:
    """A `RepositoryClient` (as fedoraAdmin) on each Fedora."""
    config = import_config(Path("/tmp"), rest_url=fedora.rest_url)
    async with RepositoryClient(config.repository) as client:
        yield client


@attrs.frozen
class SftpEndpoint:
    host: str
    port: int
    user: str
    private_key: Path
    known_hosts: Path

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}"


@pytest.fixture(scope="session")
def sshd() -> SftpEndpoint:
    """OpenSSH's sshd on loopback with a client key of its own, started if absent."""
    lines = run_service_script("sshd", "start").splitlines()
    url = lines[0]
    values = dict(line.split("=", 1) for line in lines[1:])
    user_host, _, port = url.removeprefix("sftp://").rpartition(":")
    user, _, host = user_host.partition("@")
    return SftpEndpoint(
        host=host,
        port=int(port),
        user=user,
        private_key=Path(values["key"]),
        known_hosts=Path(values["known_hosts"]),
    )


@attrs.frozen
class HandleServiceEndpoint:
    """UMD's handle service, umd-handle-django, as services/handles.sh runs it."""

    url: str
    token: str = attrs.field(repr=False)
    script: Path
    #: its SQLite database: what it has recorded, read as its admin pages would show it
    db: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def log(self) -> Path:
        """Its log (waitress and Django: one `ERROR:django.request:Internal Server Error:
        <path>` line for each 500 it answered)."""
        return self.db.parent / "handles.log"

    def errors_answered(self, path: str) -> int:
        """How many 500s it has answered to requests for *path* (e.g. `/api/v1/handles/exists`)
        since it started, by its log."""
        line = f"ERROR:django.request:Internal Server Error: {path}"
        return sum(1 for text in self.log.read_text(errors="replace").splitlines() if text == line)

    def mint(self, repo_id: str, url: str) -> dict[str, str]:
        """A handle minted for *repo_id* through its API, as another client would."""
        import httpx

        answer = httpx.post(
            f"{self.url}/handles",
            json={"prefix": "1903.1", "url": url, "repo": "fcrepo", "repo_id": repo_id},
            headers=self.headers,
            timeout=30,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def records(self, repo_id: str | None = None) -> list[dict[str, str]]:
        """Every handle the service holds (for *repo_id* only, when given), oldest first,
        each with `prefix`, `suffix` (a string, as the API gives it), `url`, `repo`,
        `repo_id`, `description`. Read from its database: its API has no listing, and its
        `exists` answers 500 where there are two."""
        import sqlite3

        query = "SELECT prefix, suffix, url, repo, repo_id, description FROM api_handle"
        args: tuple[str, ...] = ()
        if repo_id is not None:
            query += " WHERE repo_id = ?"
            args = (repo_id,)
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            db.execute("PRAGMA busy_timeout = 10000")
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        keys = ("prefix", "suffix", "url", "repo", "repo_id", "description")
        return [{k: str(v) for k, v in zip(keys, row, strict=True)} for row in rows]


@pytest.fixture(scope="session")
def handle_service() -> HandleServiceEndpoint:
    """UMD's handle service, umd-handle-django (services/handles.sh), started if absent."""
    lines = run_service_script("handles", "start").splitlines()
    values = dict(line.split("=", 1) for line in lines[1:])
    token = Path(values["token_file"]).read_text().strip()
    return HandleServiceEndpoint(
        url=lines[0], token=token, script=SERVICES_DIR / "handles.sh", db=Path(values["db"])
    )


class VocabularyServer(LoopbackServer):
    """A loopback HTTP server of RDF vocabularies (and anything else) for validation tests.

    `server.serve(path, body, content_type)` publishes a document; `server.url(path)` is its
    URL; `server.requests` counts the GETs by path. A path served with `status=302` and a
    `location` redirects.
    """

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, str, bytes, str | None]] = {}
        self.requests: dict[str, int] = {}
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.requests[path] = server.requests.get(path, 0) + 1
                status, content_type, body, location = server.documents.get(
                    path, (404, "text/plain", b"not found", None)
                )
                self.answer(status, content_type, body, {"Location": location} if location else {})

        super().__init__(Handler)

    def url(self, path: str) -> str:
        return self.base + path

    def serve(
        self,
        path: str,
        body: str | bytes,
        content_type: str = "text/turtle",
        *,
        status: int = 200,
        location: str | None = None,
    ) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.documents[path] = (status, content_type, data, location)
        return self.url(path)


@pytest.fixture
def vocabulary_server():
    server = VocabularyServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def restartable_fedora47(tmp_path_factory) -> Iterator[tuple[FedoraEndpoint, FreshFedora]]:
    """A Fedora 4.7.5 of the test's own, started empty (`FreshFedora`), with the server, which
    can `restart` it; stopped and its data removed afterwards."""
    server = FreshFedora("fcrepo47", tmp_path_factory.mktemp("fedora47-state"))
    try:
        rest_url = server.start()
        yield fedora_endpoint("fcrepo47", rest_url, server.script), server
    finally:
        server.stop()

"""Files streamed from where they are straight into the Fedora request (issue #18, item 8):
from a ZIP member, an SFTP file or an HTTP response, with no temporary copy, and the declared
and the real size held to MAX_FILE_SIZE per file and MAX_JOB_FILES_SIZE per job. Against the
real Fedora, the real sshd and a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import os
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from plastrond.jobfolders import JobFolder, read_rows
from plastrond.repository import RepositoryClient
from tests.support.imports import TestContainer, import_config, run_import

pytestmark = pytest.mark.integration

JOB = "http://archelon.example/import_jobs/streamed"
HEADER = "Identifier,Title,Object Type,Rights Statement,FILES"
KINDS = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"


@pytest.fixture
def watched_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder Python uses, made a fresh one we can watch."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def binaries(target: TestContainer) -> dict[str, bytes]:
    """The content of each binary anywhere under the test container, by its file name."""
    found = {}
    todo = [target.uri]
    while todo:
        for child in target.children(todo.pop()):
            head = target.client.head(child)
            if "NonRDFSource" in head.headers.get("Link", ""):
                name = head.headers["Content-Disposition"].split('filename="')[1].split('"')[0]
                found[name] = target.client.get(child).content
            else:
                todo.append(child)
    return found


async def import_watching(watched: Path, *args, **kwargs):
    """run_import, and the most files seen under *watched* while it ran."""
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, sum(len(files) for _, _, files in os.walk(watched)))
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        outcome = await run_import(*args, **kwargs)
        nursery.cancel_scope.cancel()
    return outcome, most


def rows(*names: str) -> str:
    lines = [HEADER] + [f"r-{i},Row {i},{KINDS},{name}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def failed_reasons(jobs: Path) -> list[str]:
    folder = JobFolder(jobs, JOB).path
    latest = sorted(p for p in folder.iterdir() if p.name.isdigit())[-1]
    return [r["reason"] for r in read_rows(latest / "dropped-failed.log.csv")]


# -- ZIP -------------------------------------------------------------------------------------------


async def test_zip_members_stream_into_fedora_without_a_temporary_copy(
    repo, target, tmp_path, watched_tmp
) -> None:
    allowed = tmp_path / "binaries"
    allowed.mkdir()
    members = {
        "big.tif": os.urandom(6 * 1024 * 1024),
        "small.jpg": b"\xff\xd8" + os.urandom(3000),
        "dir/page.jpg": b"\xff\xd8" * 50000,
    }
    archive = allowed / "batch.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    config = import_config(tmp_path / "jobs", rest_url=repo.root, allowed=[allowed])
    outcome, most = await import_watching(
        watched_tmp,
        config,
        repo,
        rows("big.tif;small.jpg", "dir/page.jpg"),
        job_id=JOB,
        model="Item",
        binaries_location=f"zip:{archive}",
        container=target.uri,
    )
    assert outcome.state == "import_complete", outcome.body
    assert most == 0  # nothing was extracted to a temporary file
    assert binaries(target) == {
        "big.tif": members["big.tif"],
        "small.jpg": members["small.jpg"],
        "page.jpg": members["dir/page.jpg"],
    }


async def test_declared_sizes_past_the_ceilings_fail_the_row(repo, target, tmp_path) -> None:
    allowed = tmp_path / "binaries"
    allowed.mkdir()
    archive = allowed / "batch.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.tif", b"\0" * (3 * 1024 * 1024))  # 3 MiB, a few KiB zipped
        zf.writestr("fine.jpg", b"j" * 1000)
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root, allowed=[allowed], max_file_size=1024 * 1024)
    outcome = await run_import(
        config,
        repo,
        rows("huge.tif", "fine.jpg"),
        job_id=JOB,
        model="Item",
        binaries_location=f"zip:{archive}",
        container=target.uri,
    )
    assert outcome.count["created"] == 1 and outcome.count["errors"] == 1
    (reason,) = failed_reasons(jobs)
    assert "huge.tif: declared size 3145728 bytes" in reason and "MAX_FILE_SIZE" in reason
    assert set(binaries(target)) == {"fine.jpg"}


async def test_the_job_ceiling_counts_every_file(repo, target, tmp_path) -> None:
    allowed = tmp_path / "binaries"
    allowed.mkdir()
    archive = allowed / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(3):
            zf.writestr(f"f{n}.jpg", bytes([n]) * 400_000)
    jobs = tmp_path / "jobs"
    config = import_config(
        jobs, rest_url=repo.root, allowed=[allowed], max_job_files_size=1_000_000
    )
    outcome = await run_import(
        config,
        repo,
        rows("f0.jpg", "f1.jpg", "f2.jpg"),
        job_id=JOB,
        model="Item",
        binaries_location=f"zip:{archive}",
        container=target.uri,
    )
    assert outcome.count["created"] == 2 and outcome.count["errors"] == 1
    (reason,) = failed_reasons(jobs)
    assert "MAX_JOB_FILES_SIZE" in reason
    assert len(binaries(target)) == 2


class _FirstBinaryPutCrossed(httpx.AsyncBaseTransport):
    """The real Fedora, except that the first binary PUT is read to its end and then answered
    as Fedora 4.7 answers two uploads whose digests crossed (`409 Checksum Mismatch`, one of
    the failures an item's transaction is rolled back and tried again for): a fault the real
    server cannot be made to give on demand."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.crossed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        binary = request.method == "PUT" and "content-disposition" in request.headers
        if binary and not self.crossed:
            self.crossed += 1
            assert isinstance(request.stream, httpx.AsyncByteStream)
            async for _ in request.stream:  # every byte read, as the server reads it
                pass
            return httpx.Response(
                409, text="Checksum Mismatch of urn:sha-256:0f1e and urn:sha-256:2d3c"
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_retried_items_files_count_once_toward_the_job_ceiling(
    fedora, target, tmp_path
) -> None:
    """Two files of 400 000 bytes under a 1 000 000 ceiling: the first item's first attempt
    is rolled back after its file was read, and it is tried again; its bytes count once, so
    both items are created (800 000 bytes), not the second refused at 1 200 000."""
    allowed = tmp_path / "binaries"
    allowed.mkdir()
    archive = allowed / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(2):
            zf.writestr(f"f{n}.jpg", bytes([n]) * 400_000)
    jobs = tmp_path / "jobs"
    config = import_config(
        jobs,
        rest_url=fedora.rest_url,
        allowed=[allowed],
        max_job_files_size=1_000_000,
        max_concurrent_items=1,
    )
    transport = _FirstBinaryPutCrossed()
    async with RepositoryClient(config.repository, transport=transport) as repo:
        outcome = await run_import(
            config,
            repo,
            rows("f0.jpg", "f1.jpg"),
            job_id=JOB,
            model="Item",
            binaries_location=f"zip:{archive}",
            container=target.uri,
        )
    assert transport.crossed == 1  # the fault happened, and the item was tried again
    assert outcome.count["created"] == 2 and outcome.count["errors"] == 0, outcome.body
    assert binaries(target) == {"f0.jpg": b"\0" * 400_000, "f1.jpg": b"\1" * 400_000}


# -- HTTP and SFTP ---------------------------------------------------------------------------------


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves /files/<n>.bin as n MiB of bytes, chunked: no Content-Length to go by."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        if not name.endswith(".bin"):
            self.send_error(404)
            return
        size = int(name.removesuffix(".bin")) * 1024 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"h" * 65536
        for _ in range(size // len(block)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
        self.wfile.write(b"0\r\n\r\n")

    def do_HEAD(self) -> None:
        self.send_response(200 if self.path.endswith(".bin") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_files() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/files/"
    finally:
        server.shutdown()
        server.server_close()


async def test_http_files_stream_and_the_real_size_is_held_to_the_ceiling(
    repo, target, tmp_path, watched_tmp, http_files
) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root, max_file_size=3 * 1024 * 1024)
    outcome, most = await import_watching(
        watched_tmp,
        config,
        repo,
        rows("2.bin", "5.bin"),
        job_id=JOB,
        model="Item",
        binaries_location=http_files,
        container=target.uri,
    )
    assert most == 0
    assert outcome.count["created"] == 1 and outcome.count["errors"] == 1
    (reason,) = failed_reasons(jobs)
    assert "5.bin: size" in reason and "MAX_FILE_SIZE" in reason
    assert binaries(target) == {"2.bin": b"h" * (2 * 1024 * 1024)}


async def test_sftp_files_stream_into_fedora(repo, target, tmp_path, watched_tmp, sshd) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (remote / "scan.tif").write_bytes(data)
    config = import_config(
        tmp_path / "jobs",
        rest_url=repo.root,
        ssh_private_key=sshd.private_key,
        sftp_known_hosts=sshd.known_hosts,
    )
    outcome, most = await import_watching(
        watched_tmp,
        config,
        repo,
        rows("scan.tif"),
        job_id=JOB,
        model="Item",
        binaries_location=f"{sshd.url}{remote}",
        container=target.uri,
    )
    assert outcome.state == "import_complete", outcome.body
    assert most == 0
    assert binaries(target) == {"scan.tif": data}


async def test_a_zip_over_sftp_streams_its_members_into_fedora_without_a_temporary_copy(
    repo, target, tmp_path, watched_tmp, sshd
) -> None:
    """zip+sftp://: the archive stays on the server; each member is read from it as it is
    uploaded (no download of the archive, no extracted file), and a member whose declared
    size is past MAX_FILE_SIZE fails its own row with one line, the other rows imported."""
    remote = tmp_path / "remote"
    remote.mkdir()
    members = {
        "big.tif": os.urandom(5 * 1024 * 1024 + 3),
        "small.jpg": b"\xff\xd8" + os.urandom(3000),
        "dir/page.jpg": b"\xff\xd8" * 50000,
        "huge.tif": b"\0" * (12 * 1024 * 1024),  # 12 MiB declared, a few KiB zipped
    }
    archive = remote / "batch.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    jobs = tmp_path / "jobs"
    config = import_config(
        jobs,
        rest_url=repo.root,
        ssh_private_key=sshd.private_key,
        sftp_known_hosts=sshd.known_hosts,
        max_file_size=8 * 1024 * 1024,
    )
    outcome, most = await import_watching(
        watched_tmp,
        config,
        repo,
        rows("big.tif;small.jpg", "huge.tif", "dir/page.jpg"),
        job_id=JOB,
        model="Item",
        binaries_location=f"zip+sftp://{sshd.user}@{sshd.host}:{sshd.port}{archive}",
        container=target.uri,
    )
    assert most == 0  # neither the archive nor a member was written to a temporary file
    assert outcome.count["created"] == 2 and outcome.count["errors"] == 1, outcome.body
    (reason,) = failed_reasons(jobs)
    assert "\n" not in reason
    assert "huge.tif: declared size 12582912 bytes is more than the 8388608 allowed" in reason
    assert "MAX_FILE_SIZE" in reason
    assert binaries(target) == {
        "big.tif": members["big.tif"],
        "small.jpg": members["small.jpg"],
        "page.jpg": members["dir/page.jpg"],
    }

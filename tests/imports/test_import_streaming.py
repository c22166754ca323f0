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

import pytest
import trio
from import_support import TestContainer, import_config, run_import

from plastrond.jobfolders import JobFolder, read_rows

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

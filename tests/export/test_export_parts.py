"""Exports cut short (issue #25, items 5 and 6), on the local disk and over SFTP to the real
OpenSSH sshd of the `sshd` fixture (items served from memory): the `.part` file an export
writes beside its target is removed when the export fails, even when what failed is the SFTP
connection itself; one left by an export that died with its process is removed by the next
export to the same destination (and one still being written is not); and an SFTP host that
fails mid-export is named, with what to do, instead of an item of the repository."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import bagit
import pytest
import trio

import plastrond.export.destinations as destinations
import plastrond.export.run as export_run
from plastrond.errors import failure_of
from plastrond.export import ExportError, ExportOptions, ExportRun, TurtleMetadata
from plastrond.jobs import JobError
from tests.support.export import FAKE_ROOT, FakeFedora, export_config, run_export, unzip

pytestmark = pytest.mark.integration

HOUR = 3600


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "exports"
    made.mkdir()
    return made


def items(fake: FakeFedora, count: int, *, size: int = 10_000, delay: float = 0.0) -> list[str]:
    return [
        fake.add_item(
            f"i{n}", pages=[[(f"p{n}.tif", "image/tiff", bytes([n]) * size)]], delay=delay
        )
        for n in range(count)
    ]


def left_parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def aged(path: Path, seconds: float) -> Path:
    path.write_bytes(b"PK\x03\x04 half a zip")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def leftovers(folder: Path) -> dict[str, Path]:
    """Parts as exports leave them: of this destination, stale and fresh; of another one."""
    return {
        "stale": aged(folder / ".export-1.zip.k3x9q2ab.part", HOUR),
        "stale-sftp": aged(folder / ".export-1.zip.0a1b2c3d4e5f.part", 10 * 60),
        "fresh": aged(folder / ".export-1.zip.w8e7r6t5.part", 5),
        "other": aged(folder / ".export-2.zip.k3x9q2ab.part", HOUR),
        "not a part": aged(folder / "export-1.zip.k3x9q2ab.part", HOUR),
    }


def check_swept(folder: Path, found: dict[str, Path], tmp_path: Path) -> None:
    assert not found["stale"].exists() and not found["stale-sftp"].exists()
    # another export's part still being written, another destination's, and a file that
    # only looks like a part are left alone
    assert found["fresh"].exists() and found["other"].exists() and found["not a part"].exists()
    bagit.Bag(str(unzip(folder / "export-1.zip", tmp_path / "bag"))).validate()


async def test_a_later_export_sweeps_the_stale_parts_of_its_destination_locally(
    folder: Path, tmp_path: Path
) -> None:
    found = leftovers(folder)
    fake = FakeFedora()
    config = export_config(FAKE_ROOT, allowed=[folder])
    async with fake.client() as repo:
        result = await run_export(
            config,
            repo,
            items(fake, 2),
            output_dest=str(folder / "export-1"),
            export_binaries="true",
        )
    assert result.body["type"] == "export_complete"
    check_swept(folder, found, tmp_path)


async def test_a_later_export_sweeps_the_stale_parts_of_its_destination_over_sftp(
    sshd, folder: Path, tmp_path: Path
) -> None:
    found = leftovers(folder)
    fake = FakeFedora()
    config = export_config(
        FAKE_ROOT, ssh_private_key=sshd.private_key, sftp_known_hosts=sshd.known_hosts
    )
    async with fake.client() as repo:
        result = await run_export(
            config,
            repo,
            items(fake, 2),
            output_dest=f"{sshd.url}{folder}/export-1",
            export_binaries="true",
        )
    assert result.body["type"] == "export_complete"
    check_swept(folder, found, tmp_path)


async def test_a_running_export_keeps_its_part_from_being_swept(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow export's part, unchanged for longer than `STALE_PART_SECONDS` but touched by
    its export, survives a second export to the same file; both finish."""
    monkeypatch.setattr(export_run, "TOUCH_SECONDS", 0.2)
    fake = FakeFedora()
    slow = items(fake, 3, delay=1.0)
    config = export_config(FAKE_ROOT, allowed=[folder])
    outcomes: list[Any] = []

    async def export(uris: list[str]) -> None:
        outcomes.append(
            await run_export(
                config, repo, uris, output_dest=str(folder / "export-1"), export_binaries="true"
            )
        )

    async with fake.client() as repo, trio.open_nursery() as nursery:
        nursery.start_soon(export, slow)
        while not left_parts(folder):
            await trio.sleep(0.05)
        (part,) = left_parts(folder)
        aged_at = time.time() - HOUR
        os.utime(folder / part, (aged_at, aged_at))  # as if nothing was written for an hour
        while (folder / part).stat().st_mtime < time.time() - 60:
            await trio.sleep(0.05)  # until its export touches it
        await export([fake.add_item("quick")])
        assert (folder / part).exists()
    assert [o.body["type"] for o in outcomes] == ["export_complete", "export_complete"]
    assert left_parts(folder) == []


async def test_an_sftp_host_failing_mid_export_is_named_and_its_part_removed(
    sshd, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection is cut (its socket shut down, as a network drop does) once the ZIP has
    begun to grow on the server: the job fails with a line that names the SFTP host and says
    what to do, and a new connection removes the part the old one was writing."""
    clients: list[Any] = []
    real_connect = destinations.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        client = real_connect(*args, **kwargs)
        clients.append(client)
        return client

    monkeypatch.setattr(destinations, "connect", connect)
    fake = FakeFedora()
    uris = items(fake, 6, size=400_000, delay=0.3)
    config = export_config(
        FAKE_ROOT, ssh_private_key=sshd.private_key, sftp_known_hosts=sshd.known_hosts
    )
    failures: list[BaseException] = []

    async def export() -> None:
        try:
            await run_export(
                config,
                repo,
                uris,
                output_dest=f"{sshd.url}{folder}/export-1",
                export_binaries="true",
            )
        except JobError as e:
            failures.append(e)

    async with fake.client() as repo, trio.open_nursery() as nursery:
        nursery.start_soon(export)
        while not any(
            p.stat().st_size > 500_000 for p in folder.iterdir() if p.name.endswith(".part")
        ):
            await trio.sleep(0.02)
        clients[0].get_transport().sock.shutdown(socket.SHUT_RDWR)
    (failure,) = failures
    message = str(failure)
    assert f"SFTP host {sshd.host}:{sshd.port}" in message, message
    assert "run the export again" in message, message
    assert FAKE_ROOT not in message and "\n" not in message
    assert list(folder.iterdir()) == []


class _Freezer:
    """A TCP proxy in front of the real sshd whose connections can be frozen: from `freeze()`
    on, nothing more passes either way on the connections open then (the sockets stay open, as
    with a host that stops answering); connections made later pass as usual."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen: set[int] = set()
        self.sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        n = 0
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.upstream)
            self.sockets += [near, far]
            for a, b in ((near, far), (far, near)):
                thread = threading.Thread(target=self._pump, args=(n, a, b), daemon=True)
                thread.start()
                self._threads.append(thread)
            n += 1

    def _pump(self, n: int, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if n not in self.frozen:
                    sink.sendall(data)

    def freeze(self) -> None:
        self.frozen.update(range(len(self.sockets) // 2))

    def close(self) -> None:
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for thread in self._threads:
            thread.join(5)


async def test_an_sftp_host_that_stops_answering_is_named_after_the_time_out(
    sshd, folder: Path, tmp_path: Path
) -> None:
    proxy = _Freezer(sshd.host, sshd.port)
    try:
        destination = destinations.SftpDestination(
            written=f"sftp://{sshd.user}@127.0.0.1:{proxy.port}{folder}/export-1.zip",
            user=sshd.user,
            host="127.0.0.1",
            port=proxy.port,
            path=f"{folder}/export-1.zip",
            key_file=sshd.private_key,
            known_hosts=tmp_path / "known_hosts",
            accept_unknown_hosts=True,
            timeout=2.0,
        )
        fake = FakeFedora()
        uris = items(fake, 6, size=400_000, delay=0.3)
        failures: list[BaseException] = []
        async with fake.client() as repo:
            run = ExportRun(
                repo,
                lambda scratch: TurtleMetadata(scratch, {}),
                ExportOptions(export_binaries=True),
                logging.getLogger("test"),
            )

            async def export() -> None:
                try:
                    await run.execute(uris, destination)
                except BaseException as e:
                    failures.append(failure_of(e) or e)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(export)
                while not any(
                    p.stat().st_size > 500_000 for p in folder.iterdir() if p.name.endswith(".part")
                ):
                    await trio.sleep(0.02)
                proxy.freeze()
    finally:
        proxy.close()
    (failure,) = failures
    assert isinstance(failure, ExportError), repr(failure)
    assert str(failure) == (
        f"SFTP host 127.0.0.1:{proxy.port} failed while {folder}/export-1.zip was written "
        "there: no answer for 2 s (check that the host answers and has room, then run the "
        "export again)"
    )
    assert [p.name for p in folder.iterdir()] == []  # removed through a new connection

"""`plastrond -c CONFIG http` as a user runs it: a real process listening on loopback, stopped
by SIGTERM or SIGINT with exit status 0; and `serve()` in a trio run of our own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from plastrond.config import ConfigError, load_config
from plastrond.http import serve
from plastrond.http.server import FORCED_EXIT_AFTER, bind_address
from tests.support.http import ARCHELON_ID, JobFolders, completed_row, write_config


async def start_plastrond(config: Path) -> tuple[trio.Process, str, list[str]]:
    """Start the http mode and return the process, its URL (read from its log line, since it
    listens on port 0) and the stderr lines read so far."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "plastrond", "-c", str(config), "http"],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    lines: list[str] = []
    buffer = b""
    with trio.fail_after(30):
        while True:
            data = await process.stderr.receive_some()
            assert data, f"plastrond exited early: {b''.join([buffer]).decode()}"
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            lines += [line.decode() for line in complete]
            for line in lines:
                if "serving import jobs from" in line:
                    return process, line.rsplit(" on ", 1)[1].strip(), lines


async def finish(process: trio.Process, lines: list[str]) -> tuple[int, list[str]]:
    assert process.stderr is not None
    rest = b""
    with trio.fail_after(30):
        while data := await process.stderr.receive_some():
            rest += data
        status = await process.wait()
    return status, lines + rest.decode().splitlines()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_process_serves_and_stops_cleanly_on_signal(
    tmp_path: Path, jobs: JobFolders, signum: signal.Signals
) -> None:
    jobs.make(ARCHELON_ID, completed=[completed_row(1)])
    config = write_config(tmp_path, jobs.root)
    process, url, lines = await start_plastrond(config)
    try:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as client:
            listed = (await client.get("/jobs")).json()
            assert listed["jobs"][0]["job_id"] == ARCHELON_ID
            detail = await client.get(listed["jobs"][0]["@id"])
            assert detail.json()["completed"]["count"] == 1
        # An idle keep-alive connection must not hold the shutdown up.
        idle = await trio.open_tcp_stream("127.0.0.1", int(url.rsplit(":", 1)[1]))
        process.send_signal(signum)
        status, lines = await finish(process, lines)
        await idle.aclose()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert status == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert f"{signum.name}: stopping (again to stop at once)" in text
    assert "http server stopped" in text
    assert "Traceback" not in text
    assert '"GET /jobs 1.1" 200' in text  # the access log, one line per request
    assert text.count('"GET /jobs 1.1"') == 1
    (log_file,) = (tmp_path / "logs").glob("plastrond.http.*.log")
    assert "serving import jobs from" in log_file.read_text()


async def _stalled_request(
    tmp_path: Path, jobs: JobFolders
) -> tuple[trio.Process, list[str], trio.SocketStream]:
    """plastrond in the middle of a 13 MB answer to a client that stopped reading."""
    jobs.make("huge", total=1, completed=[completed_row(n) for n in range(60_000)])
    process, url, lines = await start_plastrond(write_config(tmp_path, jobs.root))
    stuck = await trio.open_tcp_stream("127.0.0.1", int(url.rsplit(":", 1)[1]))
    await stuck.send_all(b"GET /jobs/huge HTTP/1.1\r\nHost: x\r\n\r\n")
    await stuck.receive_some()  # the answer has begun
    return process, lines, stuck


async def test_a_second_signal_stops_at_once(tmp_path: Path, jobs: JobFolders) -> None:
    process, lines, stuck = await _stalled_request(tmp_path, jobs)
    try:
        process.send_signal(signal.SIGTERM)
        await trio.sleep(1)
        assert process.returncode is None  # graceful: the request may still finish
        started = trio.current_time()
        process.send_signal(signal.SIGTERM)
        status, lines = await finish(process, lines)
        assert trio.current_time() - started < 5  # not the 10 s of grace
    finally:
        await stuck.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = "\n".join(lines)
    assert status == 0, text
    assert "SIGTERM again: stopping at once" in text
    assert "Traceback" not in text


async def test_a_client_that_stopped_reading_cannot_hold_the_stop_up(
    tmp_path: Path, jobs: JobFolders
) -> None:
    """hypercorn's writes ignore cancellation; the process still ends after the grace."""
    process, lines, stuck = await _stalled_request(tmp_path, jobs)
    try:
        started = trio.current_time()
        process.send_signal(signal.SIGTERM)
        status, lines = await finish(process, lines)
        elapsed = trio.current_time() - started
    finally:
        await stuck.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = "\n".join(lines)
    assert status == 0, text
    assert FORCED_EXIT_AFTER - 1 < elapsed < FORCED_EXIT_AFTER + 5
    assert f"requests still running after {FORCED_EXIT_AFTER:g} s: exiting now" in text


async def test_a_signal_during_start_up_is_not_lost(tmp_path: Path, jobs: JobFolders) -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "plastrond", "-c", str(write_config(tmp_path, jobs.root)), "http"],
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    seen = b""
    with trio.fail_after(30):
        while b"starting in http mode" not in seen:
            data = await process.stderr.receive_some()
            assert data, seen.decode()
            seen += data
    process.send_signal(signal.SIGTERM)  # most likely before the server listens
    status, lines = await finish(process, seen.decode().splitlines())
    assert status == 0, "\n".join(lines)
    assert "http server stopped" in "\n".join(lines)


async def test_port_in_use_is_a_one_line_error(tmp_path: Path, jobs: JobFolders) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, jobs.root, port=port)
        result = await trio.run_process(
            [sys.executable, "-m", "plastrond", "-c", str(config), "http"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1
    errors = [line for line in result.stderr.decode().splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr.decode()
    assert f"HTTP_SERVER: cannot listen on 127.0.0.1:{port}" in errors[0]
    assert "Traceback" not in result.stderr.decode()


async def test_serve_in_our_own_trio_run_stops_on_trigger(tmp_path: Path, jobs: JobFolders) -> None:
    config = load_config(write_config(tmp_path, jobs.root))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=urls[0]) as client:
            assert (await client.get("/health")).status_code == 200
        stop.set()
    # The nursery closed by itself: serve() returned after the trigger.
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=urls[0]) as client:
            await client.get("/health")


async def test_serve_refuses_a_port_it_cannot_bind(tmp_path: Path, jobs: JobFolders) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = load_config(write_config(tmp_path, jobs.root, port=taken.getsockname()[1]))
        with pytest.raises(ConfigError, match="HTTP_SERVER: cannot listen"):
            await serve(config, shutdown_trigger=trio.sleep_forever)


def test_bind_address() -> None:
    assert bind_address("127.0.0.1", 5000) == "127.0.0.1:5000"
    assert bind_address("::1", 5000) == "[::1]:5000"
    assert bind_address("[::]", 0) == "[::]:0"

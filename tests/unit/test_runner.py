"""The job runner: results, errors, progress coalescing and keep-alive, concurrency budgets.

Timing runs on trio's MockClock (autojump), so no test sleeps for real.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

import pytest
import trio

from plastrond.commands import command
from plastrond.commands.base import JobContext, JobRequest, JobResult, Progress
from plastrond.config import load_config
from plastrond.jobs.completion import completion_for
from plastrond.jobs.runner import JobRunner, percent


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(
        "REPOSITORY: {REST_ENDPOINT: 'http://x/rest', RELPATH: /p, LOG_DIR: "
        + str(tmp_path)
        + "}\n"
    )
    return load_config(path, environ={})


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str, dict]] = []

    async def __call__(self, request: JobRequest, body: bytes) -> None:
        self.sent.append((trio.current_time(), request.job_id, json.loads(body)))


@command("test-counting")
async def counting(ctx: JobContext) -> AsyncIterator[Progress | JobResult]:
    total = int(ctx.request.args.get("n", "100"))
    step = float(ctx.request.args.get("step", "0.001"))
    for i in range(1, total + 1):
        await trio.sleep(step)
        yield {"count": {"total": total, "done": i}, "progress": percent(i, total)}
    yield JobResult(state="counted", body={"count": {"done": total}})


@command("test-silent")
async def silent(ctx: JobContext) -> AsyncIterator[Progress | JobResult]:
    yield {"count": {"done": 0}}
    await trio.sleep(float(ctx.request.args["wait"]))
    yield JobResult(body=b"ok")


@command("test-broken")
async def broken(ctx: JobContext) -> AsyncIterator[Progress | JobResult]:
    yield {"count": {"done": 0}}
    raise RuntimeError("disk on fire")


@command("test-noresult")
async def noresult(ctx: JobContext) -> AsyncIterator[Progress | JobResult]:
    yield {"count": {"done": 0}}


def request(command: str, body: bytes = b"", sync: bool = False, **args: str) -> JobRequest:
    return JobRequest(
        job_id=f"job-{command}", command=command, args=args, body=body, synchronous=sync
    )


async def test_echo_returns_the_body_unchanged(config):
    runner = JobRunner(config, max_async=1, max_sync=1)
    result = await runner.run(request("echo", b"\x00binary\xffbody"))
    assert result.state == "Done" and result.error is None
    completion = completion_for(request("echo"), result, "/queue/status")
    assert completion.state == "Done"
    assert ("persistent", "true") in completion.headers


async def test_echo_delay_waits_and_reports(config, autojump_clock):
    sink = Sink()
    runner = JobRunner(config, max_async=1, max_sync=1, send_progress=sink)
    started = trio.current_time()
    result = await runner.run(request("ECHO", b"hi", **{"echo-delay": "12"}))
    assert trio.current_time() - started == pytest.approx(12, abs=0.01)
    assert result.body == b"hi"
    assert sink.sent and all(m[2]["state"] == "in_progress" for m in sink.sent)


async def test_fast_job_progress_is_coalesced_and_the_last_always_goes(config, autojump_clock):
    sink = Sink()
    runner = JobRunner(config, max_async=1, max_sync=1, send_progress=sink, progress_interval=1.0)
    result = await runner.run(request("test-counting", n="1000", step="0.01"))
    assert result.state == "counted"
    # 1000 updates over 10 s at most one a second: about ten messages, not a thousand.
    assert 5 <= len(sink.sent) <= 12
    times = [t for t, _, _ in sink.sent]
    # One a second at most, but for the final one, which goes out as soon as the job ends.
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times[:-1]))
    last = sink.sent[-1][2]
    assert last["count"] == {"total": 1000, "done": 1000} and last["progress"] == 100


async def test_a_quiet_job_repeats_its_progress_every_15_seconds(config, autojump_clock):
    sink = Sink()
    runner = JobRunner(config, max_async=1, max_sync=1, send_progress=sink)
    await runner.run(request("test-silent", wait="60"))
    times = [t for t, _, _ in sink.sent]
    # Archelon calls a job stalled after 30 s of silence; we speak at least every 15.
    assert len(times) >= 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 15.0 + 1e-6


async def test_progress_sink_failures_do_not_fail_the_job(config, autojump_clock):
    async def broken_sink(request: JobRequest, body: bytes) -> None:
        raise trio.BrokenResourceError("broker away")

    runner = JobRunner(config, max_async=1, max_sync=1, send_progress=broken_sink)
    result = await runner.run(request("test-counting", n="10", step="0.5"))
    assert result.state == "counted"


@pytest.mark.parametrize(
    ("req", "error", "state"),
    [
        (request("no-such-command"), "unknown command 'no-such-command'", "error"),
        (request(""), "missing PlastronCommand header", "error"),
        (
            request("echo", **{"echo-delay": "later"}),
            "argument echo-delay must be a number",
            "echo_error",
        ),
        (
            request("test-broken"),
            "internal error in test-broken: RuntimeError: disk on fire",
            "error",
        ),
        (request("test-noresult"), "ended without a result", "error"),
    ],
)
async def test_failures_become_one_line_errors(config, req, error, state):
    runner = JobRunner(config, max_async=1, max_sync=1)
    result = await runner.run(req)
    assert result.error is not None and error in result.error
    assert "\n" not in result.error
    completion = completion_for(req, result, "/queue/status")
    assert dict(completion.headers)["PlastronJobError"] == result.error
    assert dict(completion.headers)["PlastronJobState"] == state
    body = json.loads(completion.body)
    assert body["state"] == body["type"] == state and body["progress"] == 0


async def test_sync_jobs_do_not_wait_behind_async_ones(config, autojump_clock):
    runner = JobRunner(config, max_async=2, max_sync=1)
    finished: list[tuple[str, float]] = []

    async def run(req: JobRequest) -> None:
        await runner.run(req)
        finished.append((req.job_id, trio.current_time()))

    async with trio.open_nursery() as nursery:
        for i in range(4):
            nursery.start_soon(run, JobRequest(f"slow-{i}", "echo", {"echo-delay": "100"}))
        await trio.sleep(1)
        nursery.start_soon(run, JobRequest("SYNCHRONOUS-1", "echo", {}, synchronous=True))
    times = dict(finished)
    assert times["SYNCHRONOUS-1"] == pytest.approx(1, abs=0.01)
    # Two async at a time: the third and fourth start when the first two end.
    assert sorted(t for k, t in times.items() if k.startswith("slow")) == pytest.approx(
        [100, 100, 200, 200], abs=0.01
    )


def test_percent():
    assert percent(5, 10) == 50
    assert percent(3, None) is None and percent(3, 0) is None
    assert percent(11, 10) == 100


def test_every_shipped_command_loads_and_modules_load_only_when_asked():
    import subprocess
    import sys

    from plastrond.commands import BUILTIN, get_command, names

    assert set(names()) >= set(BUILTIN)
    for name in BUILTIN:
        assert callable(get_command(name.upper()))
    # A fresh interpreter that only echoes never imports the export or import machinery.
    probe = (
        "import sys; from plastrond.commands import get_command; get_command('echo'); "
        "print(sorted(m for m in sys.modules if m.startswith('plastrond.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert (
        out.stdout.strip()
        == "['plastrond.commands.args', 'plastrond.commands.base', 'plastrond.commands.echo']"
    )

"""Archelon's own STOMP client, Ruby's stomp gem (Debian's ruby-stomp), talking to plastrond."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parent / "ruby" / "archelon_jobs.rb"


def test_ruby_stomp_gem_sync_and_async_jobs(activemq, plastrond_setup):
    ruby = shutil.which("ruby")
    assert ruby, "ruby is missing: dev/setup.sh installs ruby-stomp (which brings ruby)"
    setup = plastrond_setup(activemq)
    daemon = setup.plastrond()
    daemon.wait_connected()
    dests = setup.dests
    result = subprocess.run(
        [
            ruby,
            str(SCRIPT),
            activemq.host,
            str(activemq.port),
            dests.jobs,
            dests.sync,
            dests.status,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sync, done = (json.loads(line) for line in result.stdout.splitlines())
    assert sync["kind"] == "reply"
    assert sync["headers"]["PlastronJobId"] == "SYNCHRONOUS-ruby-1"
    assert sync["headers"]["PlastronJobState"] == "Done"
    assert sync["body"] == "ruby says hello"
    assert done["kind"] == "status"
    assert done["headers"]["PlastronJobId"] == "http://archelon.example/ruby/2"
    assert done["headers"]["persistent"] == "true"
    assert "PlastronJobError" not in done["headers"]
    assert done["body"] == "ruby async ünïcode"

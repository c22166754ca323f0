"""Sessions that end soon after they start back off further (issue #18, item 4), against a real
ActiveMQ: a private broker whose authorization lets the daemon's user connect but not read
its queues, so every SUBSCRIBE gets an ERROR frame and the session ends a moment after it
began. The number of sessions in a window is what a growing back-off gives, not one a second.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

pytestmark = pytest.mark.integration

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"

USER, PASSWORD = "plastrond", "daemon-secret"
ADMIN = {"ADMIN": {"HOST": "127.0.0.1", "PORT": 0}}

# The daemon may connect and send, never read a queue; anonymous connections (the start
# script's probe) are allowed and may do nothing.
PLUGINS = f"""
<simpleAuthenticationPlugin anonymousAccessAllowed="true">
  <users>
    <authenticationUser username="{USER}" password="{PASSWORD}" groups="daemons"/>
  </users>
</simpleAuthenticationPlugin>
<authorizationPlugin>
  <map>
    <authorizationMap>
      <authorizationEntries>
        <authorizationEntry queue="&gt;" read="admins"
                            write="admins,daemons" admin="admins,daemons"/>
        <authorizationEntry topic="&gt;" read="admins"
                            write="admins,daemons" admin="admins,daemons"/>
        <authorizationEntry topic="ActiveMQ.Advisory.&gt;" read="daemons,anonymous"
                            write="daemons,anonymous" admin="daemons,anonymous"/>
      </authorizationEntries>
    </authorizationMap>
  </map>
</authorizationPlugin>
"""


@attrs.frozen
class Endpoint:
    host: str
    port: int


@pytest.fixture(scope="module")
def refusing_broker(tmp_path_factory) -> Iterator[Endpoint]:
    """A private ActiveMQ (own port, own state folder) with PLUGINS, by services/activemq.sh."""
    state = tmp_path_factory.mktemp("refusing-activemq")
    plugins = state / "plugins.xml"
    plugins.write_text(PLUGINS)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "ACTIVEMQ_STOMP_PORT": str(port),
        "PLASTROND_SERVICES_STATE": str(state),
        "ACTIVEMQ_PLUGINS_FILE": str(plugins),
    }

    def script(action: str) -> None:
        subprocess.run(
            ["bash", str(SERVICES_DIR / "activemq.sh"), action], env=env, check=True, timeout=300
        )

    script("start")
    try:
        yield Endpoint("127.0.0.1", port)
    finally:
        script("stop")


def _sessions(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(r"^plastrond_broker_sessions_total (\S+)$", text, re.M)
    assert match is not None, text
    return float(match.group(1))


WINDOW = 40.0


def test_sessions_refused_right_after_they_start_are_tried_ever_less_often(
    refusing_broker, plastrond_setup, tmp_path: Path
):
    # The daemon's own defaults: 1 s first, 60 s at most, a session counts as stable after 30 s.
    setup = plastrond_setup(
        refusing_broker,
        sections=ADMIN,
        LOGIN=USER,
        PASSCODE=PASSWORD,
        RECONNECT_INITIAL_DELAY=1,
        RECONNECT_MAX_DELAY=60,
    )
    daemon = setup.plastrond()
    url = daemon.admin_url()
    daemon.wait_connected()
    began = time.monotonic()
    time.sleep(WINDOW)
    sessions = _sessions(url)
    elapsed = time.monotonic() - began
    log = daemon.log()
    assert daemon.running, log
    # Each session was refused by the real broker, right after it began.
    assert "not authorized to read from" in log, log
    connected = log.count("connected to ")
    assert abs(connected - sessions) <= 1, (connected, sessions)  # one may open meanwhile
    # Back-off bases 1, 2, 4, 8, 16, 32 s, each drawn from its upper half (jitter): at most 7
    # sessions begin in 40 s (at 0, >=0.5, >=1.5, >=3.5, >=7.5, >=15.5, >=31.5 s). A back-off
    # that started again after every session that connected gave one every 0.5-1 s, about 50.
    print(f"{sessions:.0f} sessions in {elapsed:.1f} s")
    assert 4 <= sessions <= 7, log
    delays = [float(d) for d in re.findall(r"reconnecting in ([0-9.]+) s", log)]
    assert max(delays) >= 8, delays  # grown: the fifth base is 16 s

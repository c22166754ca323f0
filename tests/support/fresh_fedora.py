"""A Fedora of a test's own, started empty beside the shared ones and stopped afterwards.

`FreshFedora(flavor, state)` runs the same service script as the shared server
(`services/fedora47.sh` for "fcrepo47", `services/fedora.sh` for "fcrepo6") with ports no one
else holds and a state folder of its own (`PLASTROND_SERVICES_STATE`), so the server knows
nothing when the test begins: no namespace, no node type, no resource but its root. That is
what a race of first contact (ModeShape registering a namespace or a type in two
transactions at once) needs to be seen. With `jms=True` a Fedora 6 emits its events too, on
the STOMP port `stomp_port` of its embedded broker (Fedora 4.7's broker is always on).
One takes about 25 s to start and 1-2 GB of memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.ports import free_ports

REPO_DIR = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO_DIR / "services"

#: flavor -> (service script, the variables naming its ports)
_SCRIPTS = {
    "fcrepo47": ("fedora47", ("FEDORA47_PORT", "FEDORA47_JMS_PORT", "FEDORA47_STOMP_PORT")),
    "fcrepo6": ("fedora", ("FEDORA_PORT",)),
}
#: flavor -> the variables that turn its embedded JMS broker on, on their ports (the last one
#: names the STOMP connector); Fedora 4.7's is always on
_JMS = {"fcrepo47": (), "fcrepo6": ("FEDORA_JMS_PORT", "FEDORA_STOMP_PORT")}


class FreshFedora:
    """An empty Fedora of *flavor* ("fcrepo47" or "fcrepo6") with its data under *state*."""

    def __init__(self, flavor: str, state: Path, *, jms: bool = False) -> None:
        script, port_names = _SCRIPTS[flavor]
        if jms:
            port_names = (*port_names, *_JMS[flavor])
        self.flavor = flavor
        self.state = state
        self.script = SERVICES_DIR / f"{script}.sh"
        ports = free_ports(len(port_names))
        self.env = {
            **os.environ,
            "PLASTROND_SERVICES_STATE": str(state),
            **{name: str(port) for name, port in zip(port_names, ports, strict=True)},
        }
        self.rest_url = ""
        #: the STOMP port of its embedded broker (events on the topic `fedora`), if it has one
        self.stomp_port = next(
            (int(self.env[name]) for name in port_names if name.endswith("STOMP_PORT")), None
        )

    def _script(self, command: str) -> str:
        result = subprocess.run(
            ["bash", str(self.script), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.script.name} {command} failed: {result.stderr}")
        return result.stdout.strip()

    def start(self) -> str:
        """Start it (about 25 s); its REST root."""
        self.state.mkdir(parents=True, exist_ok=True)
        self.rest_url = self._script("start").splitlines()[0]
        return self.rest_url

    def restart(self) -> None:
        """Stop it and start it again on the same data (what a Fedora 4.7 whose namespace
        registry was damaged cannot do: the test fails then)."""
        self._script("stop")
        self._script("start")

    def stop(self) -> None:
        """Stop it and remove its data."""
        try:
            self._script("stop")
        finally:
            shutil.rmtree(self.state, ignore_errors=True)

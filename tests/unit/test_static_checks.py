"""The habits of DESIGN.md, checked with the rest: ruff lint and format, mypy (strict on the
codec). A change that breaks one fails the suite with the tool's own report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "src", "tests", "bench"],
        ["ruff", "format", "--check", "src", "tests", "bench"],
        ["mypy", "--strict", "src/stompframe"],
        ["mypy", "src/plastrond"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict-stompframe", "mypy-plastrond"],
)
def test_static_check(command):
    tool = BIN / command[0]
    assert tool.exists(), f"{command[0]} is missing: dev/setup.sh installs the dev extra"
    result = subprocess.run(
        [str(tool), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr

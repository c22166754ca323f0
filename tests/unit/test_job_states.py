"""The states of protocol.md's table, per command (jobs/states.py)."""

from __future__ import annotations

import pytest

from plastrond.jobs.states import failed_state, percent_reached, running_state


@pytest.mark.parametrize(
    ("command", "args", "running", "failed"),
    [
        ("import", {"validate-only": "True"}, "validate_in_progress", "validate_error"),
        ("import", {"validate-only": "true"}, "validate_in_progress", "validate_error"),
        ("import", {"validate-only": "false"}, "import_in_progress", "import_error"),
        ("import", {"resume": "True"}, "import_in_progress", "import_error"),
        ("export", {}, "in_progress", "export_error"),
        ("publish", {}, "publish_in_progress", "publish_error"),
        ("unpublish", {}, "publish_in_progress", "unpublish_error"),
        ("update", {}, "update_in_progress", "update_error"),
        ("Export", {}, "in_progress", "export_error"),
        ("echo", {}, "in_progress", "echo_error"),
        ("frobnicate", {}, "in_progress", "error"),
        ("", {}, "in_progress", "error"),
    ],
)
def test_states_per_command(command, args, running, failed):
    assert running_state(command, args) == running
    assert failed_state(command, args) == failed


def test_percent_never_goes_back_and_stays_in_range():
    assert percent_reached(0, None) == 0
    assert percent_reached(40, 30) == 40
    assert percent_reached(40, 55.7) == 55
    assert percent_reached(10, 250) == 100
    assert percent_reached(10, -5) == 10
    assert percent_reached(10, True) == 10
    assert percent_reached(10, "50") == 10

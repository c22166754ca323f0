"""One yes/no rule for job arguments, the configuration file and CSV cells."""

from __future__ import annotations

import pytest

from plastrond.commands import args
from plastrond.commands.options import RequestError
from plastrond.jobs.request import JobRequest
from plastrond.jobs.states import running_state
from plastrond.parsing import parse_bool

SPELLINGS = [
    ("true", True), ("True", True), (" YES ", True), ("on", True), ("1", True), ("y", True),
    ("T", True), ("false", False), ("No", False), ("off", False), ("0", False), ("n", False),
    ("F", False), ("maybe", None), ("", None), ("2", None), ("yess", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SPELLINGS)
def test_one_rule_for_every_spelling(text, expected):
    assert parse_bool(text) is expected


@pytest.mark.parametrize(("text", "expected"), [s for s in SPELLINGS if s[0].strip()])
def test_the_state_name_and_the_behaviour_of_validate_only_agree(text, expected):
    """`validate-only: y` once named the job validate_in_progress while the import refused the
    argument: the state and the behaviour now read the header by the same rule."""
    request = JobRequest(job_id="j", command="import", args={"validate-only": text})
    state = running_state("import", request.args)
    if expected is None:
        with pytest.raises(RequestError, match="must be true or false"):
            args.boolean(request, "validate-only")
        assert state == "import_in_progress"
    else:
        assert args.boolean(request, "validate-only") is expected
        assert state == ("validate_in_progress" if expected else "import_in_progress")

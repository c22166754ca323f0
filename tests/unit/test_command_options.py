"""Every command reads its request one way (`commands.options`): an options class built by
`options_of`, and every bad request fails as a `RequestError` with one line naming what is
wrong, before the job touches the repository."""

from __future__ import annotations

import importlib
import inspect
import json
import logging

import attrs
import pytest

from plastrond.commands import BUILTIN, registry
from plastrond.commands.options import RequestError, options_of
from plastrond.config import load_config
from plastrond.jobs.protocol import JobContext
from plastrond.jobs.request import JobRequest
from plastrond.jobs.runner import JobRunner

REST = "http://127.0.0.1:8080/fcrepo/rest"
URI = REST + "/item"


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(
        f"REPOSITORY: {{REST_ENDPOINT: '{REST}', RELPATH: /p, LOG_DIR: {tmp_path}}}\n"
        f"COMMANDS: {{EXPORT: {{ALLOWED_OUTPUT_DIRS: [{tmp_path / 'out'}]}}}}\n"
    )
    return load_config(path, environ={})


def _context(config, command: str, body: bytes = b"", **args: str) -> JobContext:
    request = JobRequest(job_id="j-1", command=command, args=args, body=body)
    # No repository: a request that fails to read never reaches it.
    return JobContext(request=request, config=config, log=logging.getLogger("test"))


def _options_class(command: str) -> type:
    module = importlib.import_module(f"plastrond.commands.{BUILTIN[command]}")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and "from_request" in vars(value)
    ]
    assert len(classes) == 1, (command, classes)
    return classes[0]


BAD = [
    ("echo", b"", {"echo-delay": "soon"}, "argument echo-delay must be a number, not 'soon'"),
    ("export", b"", {"output-dest": "/tmp/x.zip"}, "/tmp/x.zip is outside the folders allowed"),
    ("export", URI.encode(), {}, "missing required argument output-dest"),
    ("export", URI.encode(), {"output-dest": "x", "format": "pdf"}, "argument format must be"),
    ("import", b"a,b\n", {"limit": "-1"}, "argument limit must be at least 0, not '-1'"),
    ("import", b"", {"relpath": "/a", "container": "/b"}, "arguments relpath (/a) and container"),
    ("update", b"[]", {}, "the message body must be a JSON object"),
    (
        "update",
        json.dumps({"uris": [URI], "sparql_update": "DROP ALL"}).encode(),
        {},
        "DROP is not allowed",
    ),
    ("publish", b"not a uri\n", {}, "line 1 of the message body is not a URI"),
    ("unpublish", URI.encode(), {"hidden": "true", "visible": "yes"}, "contradict each other"),
    ("publish", b"\xff", {}, "the message body is not UTF-8 text"),
]


@pytest.mark.parametrize(("command", "body", "args", "expected"), BAD)
async def test_a_bad_request_is_a_request_error_of_one_line(config, command, body, args, expected):
    cls = _options_class(command)
    assert attrs.has(cls) and attrs.fields(cls)  # a frozen attrs class of what it needs
    with pytest.raises(RequestError) as raised:
        await options_of(cls, _context(config, command, body, **args))
    message = str(raised.value)
    assert expected in message and "\n" not in message
    # The runner turns it into the job's error, the daemon keeps going.
    runner = JobRunner(config, commands=registry, max_sync=1)
    result = await runner.run(_context(config, command, body, **args).request)
    assert result.error == message


async def test_good_requests_read_as_their_options(config, tmp_path):
    export = _options_class("export")
    read = await options_of(
        export,
        _context(
            config,
            "export",
            f"{URI}\n\n{URI}\n{URI}2\n".encode(),
            **{"output-dest": str(tmp_path / "out" / "bag"), "format": "CSV"},
        ),
    )
    assert read.uris == (URI, URI + "2") and read.format == "csv"
    assert read.destination.describe().endswith("bag.zip")
    imported = await options_of(
        _options_class("import"),
        _context(config, "import", b"csv", model="Item", limit="2", publish="yes"),
    )
    assert (imported.model, imported.limit, imported.publish, imported.body) == (
        "Item",
        2,
        True,
        b"csv",
    )
    echo = await options_of(
        _options_class("echo"), _context(config, "echo", **{"echo-delay": "1.5"})
    )
    assert echo.delay == 1.5


async def test_every_import_argument_is_read_by_its_options_field_name(config):
    """ImportOptions is the list of import arguments: each field is read from the argument of
    its name with `-` for `_`, as its type says."""
    args = {
        "model": "Issue",
        "name": "batch 1",
        "access": "umdaccess:Public",
        "member-of": URI,
        "relpath": "/elsewhere",
        "structure": "Hierarchical",
        "binaries-location": "zip:/data/x.zip",
        "validate-only": "y",
        "resume": "no",
        "limit": "5",
        "percent": "40",
        "extract-text": "image/tiff",
        "publish": "off",
    }
    read = await options_of(_options_class("import"), _context(config, "import", b"", **args))
    assert attrs.asdict(read) == {
        "job_id": "j-1",
        "body": b"",
        "model": "Issue",
        "name": "batch 1",
        "access": "umdaccess:Public",
        "member_of": URI,
        "container": "/elsewhere",
        "structure": "hierarchical",
        "binaries_location": "zip:/data/x.zip",
        "validate_only": True,
        "resume": False,
        "limit": 5,
        "percent": 40,
        "extract_text": "image/tiff",
        "publish": False,
    }
    none_given = await options_of(_options_class("import"), _context(config, "import", b"x"))
    assert (none_given.validate_only, none_given.publish, none_given.percent) == (
        False,
        None,
        None,
    )
    with pytest.raises(RequestError, match="argument percent must be at most 100, not '101'"):
        await options_of(_options_class("import"), _context(config, "import", percent="101"))


def test_no_command_reads_its_request_another_way():
    # The one way: no module of commands/ keeps a parse_request of its own.
    for module_name in set(BUILTIN.values()):
        module = importlib.import_module(f"plastrond.commands.{module_name}")
        assert not hasattr(module, "parse_request"), module_name

"""The update command's bad requests: one clear error each, with stats Archelon can read."""

from __future__ import annotations

import json

import pytest

from plastrond.commands import get_command, registry
from plastrond.config import load_config
from plastrond.jobs.completion import completion_for
from plastrond.jobs.request import JobRequest
from plastrond.jobs.runner import JobRunner

URI = "http://127.0.0.1:8080/fcrepo/rest/item"
SPARQL = "INSERT DATA { <> <http://purl.org/dc/terms/title> 'x' }"


@pytest.fixture
def runner(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(
        "REPOSITORY: {REST_ENDPOINT: 'http://127.0.0.1:8080/fcrepo/rest', RELPATH: /p, LOG_DIR: "
        + str(tmp_path)
        + "}\n"
    )
    return JobRunner(load_config(path, environ={}), commands=registry, max_sync=1)


def request(body: object, **args: str) -> JobRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return JobRequest(
        job_id="SYNCHRONOUS-1", command="update", args=args, body=data, synchronous=True
    )


def test_update_is_a_builtin_command():
    assert get_command("update") is get_command("UPDATE")


@pytest.mark.parametrize(
    ("body", "args", "expected"),
    [
        (b"", {}, "the message body is empty"),
        (b"{uris: []}", {}, "the message body is not valid JSON: Expecting property name"),
        (b"\xff\xfe", {}, "the message body is not UTF-8 text"),
        ([URI], {}, "the message body must be a JSON object"),
        ({"sparql_update": SPARQL}, {}, "missing uris in the message body"),
        ({"uris": [], "sparql_update": SPARQL}, {}, "missing uris in the message body"),
        ({"uris": {"a": 1}, "sparql_update": SPARQL}, {}, '"uris" in the message body must be'),
        ({"uris": [URI, 7], "sparql_update": SPARQL}, {}, '"uris"[1] is not an http(s) URI: 7'),
        ({"uris": ["item-1"], "sparql_update": SPARQL}, {}, '"uris"[0] is not an http(s) URI'),
        ({"uris": [URI]}, {}, "missing sparql_update in the message body"),
        ({"uris": [URI], "sparql_update": "  "}, {}, "missing sparql_update"),
        (
            {"uris": [URI], "sparql_update": "DELETE { } INSERT { WHERE {}"},
            {},
            "the SPARQL update does not parse",
        ),
        ({"uris": [URI], "sparql_update": "DROP ALL"}, {}, "DROP is not allowed"),
        (
            {"uris": [URI], "sparql_update": SPARQL},
            {"validate": "True"},
            "argument validate needs argument model",
        ),
        (
            {"uris": [URI], "sparql_update": SPARQL},
            {"validate": "True", "model": "Newspaper"},
            "unknown content model 'Newspaper' (known: Item, Issue, Letter, Poster)",
        ),
        (
            {"uris": [URI], "sparql_update": SPARQL},
            {"dry-run": "maybe"},
            "argument dry-run must be true or false, not 'maybe'",
        ),
        (
            {"uris": [URI], "sparql_update": SPARQL},
            {"recursive": "pcdm:hasMember, nope:thing"},
            "argument recursive: a term: unknown prefix 'nope' in 'nope:thing'",
        ),
    ],
)
async def test_bad_requests_fail_with_one_line(runner, body, args, expected):
    req = request(body, **args)
    result = await runner.run(req)
    assert result.error is not None
    assert expected in result.error, result.error
    assert "\n" not in result.error
    completion = completion_for(req, result, "/temp-queue/x")
    assert completion.error == result.error
    sent = json.loads(completion.body)
    assert sent["error"] == result.error
    # Archelon reads stats["invalid"][uri] and stats["errors"][uri] of any update completion.
    assert set(sent["stats"]) == {"updated", "invalid", "errors"}
    assert sent["stats"]["updated"] == [] and sent["stats"]["invalid"] == {}


async def test_once_the_uris_are_known_each_gets_the_reason(runner):
    result = await runner.run(request({"uris": [URI, URI + "2"], "sparql_update": "DROP ALL"}))
    assert result.error is not None
    assert result.body["stats"]["errors"] == {URI: [result.error], URI + "2": [result.error]}


async def test_a_model_folder_with_an_error_is_a_job_error(runner, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "broken.yml").write_text("models:\n  X:\n    fields:\n      t: {kind: literal}\n")
    path = tmp_path / "c2.yml"
    path.write_text(
        "REPOSITORY: {REST_ENDPOINT: 'http://127.0.0.1:8080/fcrepo/rest', RELPATH: /p, LOG_DIR: "
        f"{tmp_path}}}\nCONTENT_MODELS: {{DIR: {folder}}}\n"
    )
    other = JobRunner(load_config(path, environ={}), commands=registry, max_sync=1)
    result = await other.run(request({"uris": [URI], "sparql_update": SPARQL}, model="Item"))
    assert result.error is not None
    assert f"{folder / 'broken.yml'}: models.X.fields.t: missing predicate" in result.error

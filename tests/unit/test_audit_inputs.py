"""Hostile input found by the second audit round, at the level of the part that decides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from plastrond.config import ConfigError, load_config
from plastrond.jobs.ids import MAX_SEGMENT, job_id_segment


def test_an_id_spelled_as_a_shortened_segment_does_not_share_its_folder() -> None:
    # A long id is shortened to a prefix and a hash; the id that *is* that shortened name,
    # decoded, must not land in the same folder (it would resume or overwrite the other job).
    long_id = "http://archelon.example/import_jobs/" + "x" * 300
    shortened = job_id_segment(long_id)
    assert len(shortened) == MAX_SEGMENT
    impostor = unquote(shortened)
    assert impostor != long_id
    assert job_id_segment(impostor) != shortened
    assert len(job_id_segment(impostor)) <= MAX_SEGMENT
    # ids of that length that do not look shortened keep their readable segment
    plain = "y" * MAX_SEGMENT
    assert job_id_segment(plain) == plain


# configuration: odd values a careless file (or an unset ${VAR:-}) gives ------------------------

BASE = """\
REPOSITORY:
  REST_ENDPOINT: {rest}
  LOG_DIR: {tmp}/logs
{extra}
COMMANDS:
  IMPORT:
    JOBS_DIR: {tmp}/jobs
"""


def _config(
    tmp_path: Path, extra: str = "", rest: str = "http://127.0.0.1:8080/fcrepo/rest"
) -> Path:
    path = tmp_path / "plastrond.yml"
    path.write_text(BASE.format(rest=rest, tmp=tmp_path, extra=extra), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_credentials_in_a_repository_url_are_refused_without_showing_them(tmp_path: Path) -> None:
    # httpx would send them as Basic auth, and every log line and error body naming a URI
    # (the start-up line, each request) would carry the password.
    for key in ("REST_ENDPOINT", "REPO_EXTERNAL_URL", "ORIGIN"):
        rest = "http://127.0.0.1:8080/fcrepo/rest"
        extra = ""
        if key == "REST_ENDPOINT":
            rest = "http://fedoraAdmin:Pa55word@127.0.0.1:8080/fcrepo/rest"
        else:
            extra = f"  {key}: http://fedoraAdmin:Pa55word@127.0.0.1:8080/fcrepo/rest"
        message = _error(_config(tmp_path, extra, rest))
        assert f"REPOSITORY.{key}" in message and "FEDORA_USER" in message, message
        assert "Pa55word" not in message
    extra = (
        "PUBLICATION_WORKFLOW:\n  HANDLE_ENDPOINT: https://u:Pa55word@handles.example/api/v1\n"
        "  HANDLE_JWT_TOKEN: t\n  HANDLE_PREFIX: '1903.1'\n  HANDLE_REPO: fcrepo\n"
        "  PUBLIC_URL_PATTERN: http://digital.example/{{uuid}}"
    )
    message = _error(_config(tmp_path, extra))
    assert "HANDLE_ENDPOINT" in message and "Pa55word" not in message, message


@pytest.mark.parametrize(
    "rest",
    [
        "http://",
        "https:///fcrepo/rest",
        "http://h:99999/rest",
        "http://h/rest?x=1",
        "http://h/re st",
    ],
)
def test_a_repository_url_that_is_not_one_is_a_one_line_error(tmp_path: Path, rest: str) -> None:
    assert "REPOSITORY.REST_ENDPOINT" in _error(_config(tmp_path, rest=rest))


def test_repo_external_url_must_be_a_url(tmp_path: Path) -> None:
    message = _error(_config(tmp_path, "  REPO_EXTERNAL_URL: fcrepo-local"))
    assert "REPOSITORY.REPO_EXTERNAL_URL" in message


def test_the_process_refuses_credentials_in_rest_endpoint_and_never_prints_them(
    tmp_path: Path,
) -> None:
    path = _config(
        tmp_path,
        "HTTP_SERVER:\n  HOST: 127.0.0.1\n  PORT: 0",
        rest="http://fedoraAdmin:Pa55word@127.0.0.1:8080/fcrepo/rest",
    )
    done = subprocess.run(
        [sys.executable, "-m", "plastrond", "-c", str(path), "http"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "REST_ENDPOINT" in done.stderr
    assert "Pa55word" not in done.stderr + done.stdout
    logs = tmp_path / "logs"
    for log in logs.glob("*.log") if logs.is_dir() else ():
        assert "Pa55word" not in log.read_text()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("EXPORT:\n    ALLOWED_OUTPUT_DIRS", "['']"),  # `${EXPORT_DIR:-}` left unset
        ("EXPORT:\n    ALLOWED_OUTPUT_DIRS", "['/srv/exports', ' ']"),
        ("IMPORT:\n    JOBS_DIR: /tmp/j\n    ALLOWED_BINARIES_DIRS", "['']"),
        ("IMPORT:\n    JOBS_DIR: /tmp/j\n    ALLOWED_BINARIES_DIRS", "['${BINARIES:-}']"),
    ],
)
def test_an_empty_allowed_folder_is_an_error(tmp_path: Path, key: str, value: str) -> None:
    # Path("") is Path("."): it would allow whatever folder the daemon happens to run in.
    path = tmp_path / "plastrond.yml"
    path.write_text(
        f"REPOSITORY:\n  REST_ENDPOINT: http://127.0.0.1:8080/fcrepo/rest\n"
        f"  LOG_DIR: {tmp_path}/logs\nCOMMANDS:\n  {key}: {value}\n",
        encoding="utf-8",
    )
    message = _error(path)
    assert key.rsplit(" ", 1)[-1].strip() in message and "empty entry" in message, message


def test_relative_allowed_folders_are_fixed_at_start(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _config(tmp_path)
    path.write_text(
        path.read_text().replace(
            "  IMPORT:\n", "  EXPORT:\n    ALLOWED_OUTPUT_DIRS: [exports]\n  IMPORT:\n"
        )
    )
    config = load_config(path, environ={})
    assert config.commands.export.allowed_output_dirs == (tmp_path / "exports",)


@pytest.mark.parametrize("relpath", ["/../x", "/pcdm/../..", "/./pcdm", "/pcdm/%2e%2e"])
def test_relpath_may_not_leave_the_repository(tmp_path: Path, relpath: str) -> None:
    message = _error(_config(tmp_path, f"  RELPATH: '{relpath}'"))
    assert "REPOSITORY.RELPATH" in message, message


@pytest.mark.parametrize("value", [".nan", ".inf", "'nan'", "'inf'"])
def test_numbers_must_be_finite(tmp_path: Path, value: str) -> None:
    message = _error(_config(tmp_path, f"  TIMEOUT: {value}"))
    assert "REPOSITORY.TIMEOUT" in message, message


@pytest.mark.parametrize(
    "location",
    ["http://bob:HUNTER2@files.example/batch/", "https://bob:HUNTER2@files.example/batch/"],
)
def test_an_http_binaries_location_may_not_carry_a_password(location: str) -> None:
    # It would be kept in the job's config.yml and served by GET /jobs/<id>, which has no
    # authentication; sftp:// and output-dest already refuse one.
    from plastrond.config import ImportConfig
    from plastrond.imports.binaries import BinariesError, parse_location

    with pytest.raises(BinariesError) as caught:
        parse_location(location, ImportConfig())
    assert "must not carry a user name or password" in str(caught.value)
    assert "HUNTER2" not in str(caught.value)
    assert parse_location("http://files.example/batch/", ImportConfig()) is not None

"""The `plastrond` command as a user runs it: a real process, its exit status, stderr and logs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plastrond import __version__
from tests.support.ports import free_port

CONFIG = """\
REPOSITORY:
  REST_ENDPOINT: http://127.0.0.1:9/fcrepo/rest
  RELPATH: /pcdm
  LOG_DIR: {log_dir}
  FEDORA_USER: admin
  FEDORA_PASSWORD: ${{FEDORA_PW}}
  JWT_SECRET: jwt-secret-value-42
MESSAGE_BROKER:
  SERVER: 127.0.0.1:9
  MESSAGE_STORE_DIR: {tmp}/msg
  PASSCODE: broker-passcode-77
  DESTINATIONS:
    JOBS: /queue/plastron.jobs
    JOB_PROGRESS: /topic/plastron.jobs.progress
    JOB_STATUS: /queue/plastron.jobs.status
    SYNCHRONOUS_JOBS: /queue/plastron.jobs.synchronous
COMMANDS:
  IMPORT:
    JOBS_DIR: {tmp}/jobs
  MYSTERY:
    KEY: 1
HTTP_SERVER:
  HOST: 127.0.0.1
  PORT: {port}
"""


def run_briefly(*args: str, env: dict[str, str], until: str = "starting in"):
    """Start plastrond, wait until it has logged *until*, stop it with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "plastrond", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        seen.append(line)
        if until in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    rest, more = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, rest, "".join(seen) + more)


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "plastrond", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "plastrond.yml"
    path.write_text(CONFIG.format(log_dir=tmp_path / "logs", tmp=tmp_path, port=free_port()))
    return path


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"plastrond {__version__}"


def test_help_names_both_modes():
    result = run("--help")
    assert result.returncode == 0
    assert "-c CONFIG" in result.stdout
    assert "stomp" in result.stdout and "http" in result.stdout
    assert "--verbose" in result.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "plastrond"
    assert script.exists(), "pip install did not create the plastrond command"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == f"plastrond {__version__}"


def test_missing_config_file_is_named(tmp_path):
    result = run("-c", str(tmp_path / "absent.yml"), "stomp")
    assert_one_line_error(result, "absent.yml", "not found")


def test_yaml_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("REPOSITORY:\n  REST_ENDPOINT: x\n   RELPATH: y\n")
    result = run("-c", str(path), "stomp")
    assert_one_line_error(result, f"{path}:3:", "YAML syntax error")


def test_missing_key_names_section_and_key(tmp_path, config_file):
    config_file.write_text(
        config_file.read_text().replace("  REST_ENDPOINT: http://127.0.0.1:9/fcrepo/rest\n", "")
    )
    result = run("-c", str(config_file), "stomp", env={"FEDORA_PW": "x"})
    assert_one_line_error(result, "REPOSITORY: missing required key REST_ENDPOINT")


def test_unset_variable_is_named(config_file):
    env = {k: v for k, v in os.environ.items() if k != "FEDORA_PW"}
    result = subprocess.run(
        [sys.executable, "-m", "plastrond", "-c", str(config_file), "stomp"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert_one_line_error(
        result, "environment variable FEDORA_PW is not set", "REPOSITORY.FEDORA_PASSWORD"
    )


def test_unknown_mode(config_file):
    result = run("-c", str(config_file), "ftp")
    assert_one_line_error(result, "unknown mode 'ftp'", "stomp or http")


def test_no_mode_and_no_config():
    assert_one_line_error(run("stomp"), "-c")
    result = run("-c", "x.yml")
    assert_one_line_error(result, "required")


def test_unwritable_log_dir_is_one_line(tmp_path, config_file):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    config_file.write_text(
        config_file.read_text().replace(str(tmp_path / "logs"), str(blocker / "logs"))
    )
    result = run("-c", str(config_file), "stomp", env={"FEDORA_PW": "x"})
    assert_one_line_error(result, "REPOSITORY.LOG_DIR", "cannot write logs")


def _log_files(tmp_path: Path, mode: str) -> list[Path]:
    return sorted((tmp_path / "logs").glob(f"plastrond.{mode}.*.log"))


@pytest.mark.parametrize("mode", ["stomp", "http"])
def test_log_file_named_with_mode_and_start_time(tmp_path, config_file, mode):
    (tmp_path / "jobs").mkdir()
    result = run_briefly(
        "-c", str(config_file), mode, env={"FEDORA_PW": "pw-secret-99"}, until="unknown key MYSTERY"
    )
    assert result.returncode == 0, result.stderr
    (log_file,) = _log_files(tmp_path, mode)
    assert re.fullmatch(rf"plastrond\.{mode}\.\d{{8}}T\d{{6}}\.log", log_file.name)
    text = log_file.read_text()
    assert f"starting in {mode} mode" in text
    # What went to the file went to the console too.
    assert f"starting in {mode} mode" in result.stderr
    # Unknown keys are warned about, not fatal.
    assert "COMMANDS: unknown key MYSTERY" in text


def test_verbose_logs_debug_and_never_a_secret(tmp_path, config_file):
    env = {"FEDORA_PW": "pw-secret-99"}
    quiet = run_briefly("-c", str(config_file), "stomp", env=env, until="connecting to")
    loud = run_briefly("-v", "-c", str(config_file), "stomp", env=env, until="connecting to")
    assert " DEBUG " not in quiet.stderr
    assert " DEBUG " in loud.stderr
    texts = [quiet.stderr, loud.stderr] + [p.read_text() for p in _log_files(tmp_path, "stomp")]
    for text in texts:
        for secret in ("pw-secret-99", "jwt-secret-value-42", "broker-passcode-77"):
            assert secret not in text


def test_json_logs_from_the_environment_parse_and_never_carry_a_secret(tmp_path, config_file):
    import json

    env = {"FEDORA_PW": "pw-secret-99", "LOG_FORMAT": "json"}
    result = run_briefly("-v", "-c", str(config_file), "stomp", env=env, until="connecting to")
    texts = [result.stderr] + [p.read_text() for p in _log_files(tmp_path, "stomp")]
    for text in texts:
        entries = [json.loads(line) for line in text.splitlines()]
        assert any(e["message"].startswith("plastrond ") for e in entries)
        assert any(e["level"] == "DEBUG" for e in entries)
        for secret in ("pw-secret-99", "jwt-secret-value-42", "broker-passcode-77"):
            assert secret not in text


def test_a_bad_log_format_is_one_line(config_file):
    result = run("-c", str(config_file), "stomp", env={"FEDORA_PW": "x", "LOG_FORMAT": "xml"})
    assert_one_line_error(result, "LOG_FORMAT: expected text or json, got 'xml'")


def test_an_admin_port_in_use_stops_the_stomp_mode_with_one_error(tmp_path, config_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_file.write_text(
            config_file.read_text() + f"ADMIN:\n  HOST: 127.0.0.1\n  PORT: {port}\n"
        )
        result = run("-c", str(config_file), "stomp", env={"FEDORA_PW": "x"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert f"ADMIN: cannot listen on 127.0.0.1:{port}: Address already in use" in errors[0]


def test_log_level_comes_from_the_environment(tmp_path, config_file):
    env = {"FEDORA_PW": "pw-secret-99"}
    debug = run_briefly(
        "-c", str(config_file), "stomp", env={**env, "LOG_LEVEL": "debug"}, until="connecting to"
    )
    assert " DEBUG " in debug.stderr
    quiet = run_briefly(
        "-c",
        str(config_file),
        "stomp",
        env={**env, "LOG_LEVEL": "WARNING"},
        until="unknown key MYSTERY",
    )
    assert " INFO " not in quiet.stderr and " DEBUG " not in quiet.stderr
    assert "unknown key MYSTERY" in quiet.stderr


def test_bad_log_level_is_one_line(config_file):
    result = run("-c", str(config_file), "stomp", env={"FEDORA_PW": "x", "LOG_LEVEL": "LOUD"})
    assert_one_line_error(result, "LOG_LEVEL", "'LOUD'", "DEBUG, INFO, WARNING, ERROR")

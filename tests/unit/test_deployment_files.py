"""The Swarm deployment files, parsed and checked (tests/integration/test_container_image.py
builds the image and runs the stack's services with podman)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from plastrond.config import load_config

REPO_DIR = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO_DIR / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_dockerfile_says_what_it_must():
    instructions = dockerfile_instructions()
    froms = [arg for word, arg in instructions if word == "FROM"]
    assert len(froms) == 1 and re.fullmatch(r"python:3\.1[1-9]-slim", froms[0])
    users = [arg for word, arg in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    volumes = [json.loads(arg) for word, arg in instructions if word == "VOLUME"]
    assert ["/var/opt/plastron/msg", "/var/opt/plastron/jobs"] in volumes
    assert ("EXPOSE", "5000") in instructions
    entry = [json.loads(arg) for word, arg in instructions if word == "ENTRYPOINT"]
    assert entry == [["plastrond", "-c", "/etc/plastrond.yml"]]
    # The image installs this package (which provides the plastrond command) from the source
    # it copies.
    runs = " ".join(arg for word, arg in instructions if word == "RUN")
    assert re.search(r"pip install [^&]*\s\.(\s|$)", runs), runs
    # Every file the build copies exists in the repository.
    for word, arg in instructions:
        if word == "COPY":
            *sources, _dest = shlex.split(arg)
            for source in sources:
                assert (REPO_DIR / source).exists(), source


def test_compose_stack_has_both_services():
    stack = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    services = stack["services"]
    assert set(services) == {"plastrond-stomp", "plastrond-http"}
    stomp, http = services["plastrond-stomp"], services["plastrond-http"]
    assert stomp["image"] == http["image"] == "plastrond"
    assert stomp["command"] == ["stomp"]
    assert http["command"] == ["http"]
    assert "5000:5000" in http["ports"]
    for service in (stomp, http):
        targets = {c["target"]: c["source"] for c in service["configs"]}
        assert targets["/etc/plastrond.yml"] == "plastrond-config"
        assert service["networks"] == ["umd-fcrepo_default"]
        mounts = dict(v.split(":", 1)[::-1] for v in service["volumes"])
        assert mounts["/var/opt/plastron/jobs"] == "plastrond-jobs"
    stomp_targets = {c["target"]: c["source"] for c in stomp["configs"]}
    assert stomp_targets["/etc/plastron/auth/archelon_id"] == "archelon-id"
    # The SFTP key is the image's user's alone (a Swarm config is root's unless told).
    runs = " ".join(arg for word, arg in dockerfile_instructions() if word == "RUN")
    uid = re.search(r"useradd [^&]*--uid (\d+)", runs).group(1)
    gid = re.search(r"groupadd [^&]*--gid (\d+)", runs).group(1)
    (key,) = [c for c in stomp["configs"] if c["source"] == "archelon-id"]
    assert (str(key["uid"]), str(key["gid"]), key["mode"]) == (uid, gid, 0o400)
    assert stack["configs"]["plastrond-config"]["file"] == "docker-plastron.yml"
    assert "file" in stack["configs"]["archelon-id"]
    assert set(stack["volumes"]) == {"plastrond-msg", "plastrond-jobs"}
    assert stack["networks"]["umd-fcrepo_default"]["external"] is True


def test_template_is_a_valid_config_for_both_modes():
    config = load_config(REPO_DIR / "docker-plastron-template.yml", environ={"JWT_SECRET": "k"})
    config.require_broker()
    assert config.require_jobs_dir() == Path("/var/opt/plastron/jobs")
    # The key the stack mounts is the key the config names.
    stack = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    key_target = next(
        c["target"]
        for c in stack["services"]["plastrond-stomp"]["configs"]
        if c["source"] == "archelon-id"
    )
    assert config.commands.export.ssh_private_key == Path(key_target)
    assert config.commands.import_.ssh_private_key == Path(key_target)
    # ... and so are the SFTP servers' host keys.
    known_hosts = next(
        c["target"]
        for c in stack["services"]["plastrond-stomp"]["configs"]
        if c["source"] == "sftp-known-hosts"
    )
    assert stack["configs"]["sftp-known-hosts"]["file"] == "known_hosts"
    assert config.commands.export.sftp_known_hosts == Path(known_hosts)
    assert config.commands.import_.sftp_known_hosts == Path(known_hosts)
    assert config.http_server.port == 5000


def test_dev_config_loads(monkeypatch):
    monkeypatch.delenv("PLASTROND_DEV_STATE", raising=False)
    config = load_config(REPO_DIR / "dev" / "plastrond.yml")
    assert config.repository.rest_endpoint == "http://127.0.0.1:8080/fcrepo/rest"
    assert config.require_broker().servers[0].port == 61613
    assert config.warnings == ()


def compose_health_checks() -> dict[str, list[str]]:
    stack = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    return {name: service["healthcheck"]["test"] for name, service in stack["services"].items()}


def test_compose_health_checks_probe_the_health_endpoints_of_the_config():
    config = load_config(REPO_DIR / "docker-plastron-template.yml", environ={"JWT_SECRET": "k"})
    assert config.admin is not None and config.admin.host == "0.0.0.0"
    checks = compose_health_checks()
    ports = {"plastrond-stomp": config.admin.port, "plastrond-http": config.http_server.port}
    for name, port in ports.items():
        test = checks[name]
        # Run by the image's own Python (the slim image has no curl).
        assert test[:3] == ["CMD", "python", "-c"]
        assert f"'http://127.0.0.1:{port}/health'" in test[3]
    # The image exposes the admin port as well as the http mode's.
    assert ("EXPOSE", str(config.admin.port)) in dockerfile_instructions()

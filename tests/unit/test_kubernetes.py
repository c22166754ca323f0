"""The Kubernetes base (deploy/kubernetes/): rendered by kustomize (built by dev/setup.sh),
every object valid against the Kubernetes schemas that kubernetes-validate ships (no cluster,
no network), and its probes, ports, volumes and secrets agreeing with the configuration file
it ships."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from plastrond.config import load_config

REPO_DIR = Path(__file__).resolve().parents[2]
BASE = REPO_DIR / "deploy" / "kubernetes"
VERSION = kubernetes_validate.latest_version()


def kustomize() -> str:
    found = REPO_DIR / ".venv" / "bin" / "kustomize"
    path = str(found) if found.exists() else shutil.which("kustomize")
    assert path, "kustomize is missing: dev/setup.sh builds it into .venv/bin"
    return path


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    result = subprocess.run(
        [kustomize(), "build", str(BASE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_every_rendered_object_is_valid(rendered):
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in rendered)
    assert [re.sub(r"-[a-z0-9]{10}$", "", k) for k in kinds] == [
        "ConfigMap/plastrond-config",
        "Deployment/plastrond-http",
        "PersistentVolumeClaim/plastrond-jobs",
        "Secret/plastrond-credentials",
        "Service/plastrond-http",
        "Service/plastrond-stomp",
        "StatefulSet/plastrond-stomp",
    ]
    for obj in rendered:
        kubernetes_validate.validate(obj, VERSION, strict=True)


def test_the_validation_catches_mistakes(rendered):
    # The check above is not vacuous: a misspelt field or a wrong type fails it.
    stomp = copy.deepcopy(by_kind(rendered, "StatefulSet", "plastrond-stomp"))
    stomp["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpget"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(stomp, VERSION, strict=True)
    http = copy.deepcopy(by_kind(rendered, "Deployment", "plastrond-http"))
    http["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(http, VERSION, strict=True)


def config_of(rendered: list[dict[str, Any]], tmp_path: Path):
    (configmap,) = [o for o in rendered if o["kind"] == "ConfigMap"]
    path = tmp_path / "plastrond.yml"
    path.write_text(configmap["data"]["plastrond.yml"])
    secret = by_kind(rendered, "Secret", "plastrond-credentials")
    # The environment the pods get: the Secret's keys (envFrom).
    environ = {k: v for k, v in secret["stringData"].items() if re.fullmatch(r"[A-Z_]+", k)}
    return load_config(path, environ=environ), configmap, secret


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def port_number(c: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    return int(found)


def mounts(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mount path -> the volume (or claim template) behind it."""
    spec = workload["spec"]
    volumes = {v["name"]: v for v in spec["template"]["spec"].get("volumes", [])}
    for claim in spec.get("volumeClaimTemplates", []):
        volumes[claim["metadata"]["name"]] = {"claimTemplate": claim}
    return {m["mountPath"]: volumes[m["name"]] for m in container(workload)["volumeMounts"]}


def test_probes_point_at_the_health_endpoints_and_ports_of_the_config(rendered, tmp_path):
    config, _, _ = config_of(rendered, tmp_path)
    assert config.admin is not None and config.admin.host == "0.0.0.0"
    stomp = by_kind(rendered, "StatefulSet", "plastrond-stomp")
    http = by_kind(rendered, "Deployment", "plastrond-http")
    for workload, mode, port in ((stomp, "stomp", config.admin.port), (http, "http", 5000)):
        c = container(workload)
        assert c["args"] == [mode]
        for probe in ("readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert get["path"] == "/health"
            assert port_number(c, get["port"]) == port
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
    assert config.http_server.host == "0.0.0.0" and config.http_server.port == 5000

    for name, workload in (("plastrond-stomp", stomp), ("plastrond-http", http)):
        service = by_kind(rendered, "Service", name)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        (port,) = service["spec"]["ports"]
        assert port_number(container(workload), port["targetPort"]) == port["port"]
    assert by_kind(rendered, "Service", "plastrond-stomp")["spec"]["clusterIP"] == "None"
    assert stomp["spec"]["serviceName"] == "plastrond-stomp"


def test_volumes_give_each_replica_its_store_and_both_modes_the_jobs(rendered, tmp_path):
    config, configmap, secret = config_of(rendered, tmp_path)
    stomp = by_kind(rendered, "StatefulSet", "plastrond-stomp")
    http = by_kind(rendered, "Deployment", "plastrond-http")
    stomp_mounts, http_mounts = mounts(stomp), mounts(http)

    broker = config.require_broker()
    store = stomp_mounts[str(broker.message_store_dir)]
    assert store["claimTemplate"]["spec"]["accessModes"] == ["ReadWriteOnce"]

    jobs_dir = str(config.require_jobs_dir())
    jobs = by_kind(rendered, "PersistentVolumeClaim", "plastrond-jobs")
    assert jobs["spec"]["accessModes"] == ["ReadWriteMany"]
    for found in (stomp_mounts, http_mounts):
        assert found[jobs_dir]["persistentVolumeClaim"]["claimName"] == "plastrond-jobs"
        assert found["/etc/plastrond.yml"]["configMap"]["name"] == configmap["metadata"]["name"]
        assert str(config.repository.log_dir) in found

    key = config.commands.export.ssh_private_key
    assert key is not None and key == config.commands.import_.ssh_private_key
    volume = stomp_mounts[str(key.parent)]["secret"]
    assert volume["secretName"] == "plastrond-credentials"
    assert {"key": key.name, "path": key.name, "mode": 0o440} in volume["items"]
    assert key.name in secret["stringData"]


def test_the_sftp_key_is_the_pods_user_to_read_and_the_host_keys_are_there(rendered, tmp_path):
    config, _, secret = config_of(rendered, tmp_path)
    stomp = by_kind(rendered, "StatefulSet", "plastrond-stomp")
    key = config.commands.import_.ssh_private_key
    assert key is not None
    items = {i["key"]: i for i in mounts(stomp)[str(key.parent)]["secret"]["items"]}
    # A secret's files are root's, in the group fsGroup: the image's user (uid and gid 990,
    # the Dockerfile's) reads the key through that group, and nobody else may.
    pod = stomp["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == 990
    assert "--uid 990" in (REPO_DIR / "Dockerfile").read_text()
    assert items[key.name]["mode"] & 0o040 and not items[key.name]["mode"] & 0o007
    # The SFTP servers' host keys: without them every server is refused (no
    # SFTP_ACCEPT_UNKNOWN_HOSTS, and the image's user has no ~/.ssh/known_hosts).
    for section in (config.commands.export, config.commands.import_):
        assert section.ssh_private_key == key
        assert section.sftp_known_hosts is not None and not section.sftp_accept_unknown_hosts
        assert section.sftp_known_hosts.parent == key.parent
        known = items[section.sftp_known_hosts.name]
        assert known["path"] == section.sftp_known_hosts.name and known["mode"] & 0o040
        assert section.sftp_known_hosts.name in secret["stringData"]


def test_every_variable_the_config_needs_comes_from_the_secret(rendered, tmp_path):
    _, configmap, secret = config_of(rendered, tmp_path)
    text = configmap["data"]["plastrond.yml"]
    values = "\n".join(
        line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    required = set(re.findall(r"\$\{([A-Z_]+)\}", values))
    assert required == {"JWT_SECRET"}
    for workload in (
        by_kind(rendered, "StatefulSet", "plastrond-stomp"),
        by_kind(rendered, "Deployment", "plastrond-http"),
    ):
        refs = [e["secretRef"]["name"] for e in container(workload)["envFrom"]]
        assert refs == ["plastrond-credentials"]
    assert required <= set(secret["stringData"])


def test_resources_and_grace_periods(rendered, tmp_path):
    config, _, _ = config_of(rendered, tmp_path)
    stomp = by_kind(rendered, "StatefulSet", "plastrond-stomp")
    http = by_kind(rendered, "Deployment", "plastrond-http")
    for workload in (stomp, http):
        resources = container(workload)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert "memory" in resources["limits"]
    # Running jobs get SHUTDOWN_GRACE_PERIOD, completions 10 s more to be delivered.
    grace = config.require_broker().shutdown_grace_period
    assert stomp["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= grace + 10
    # The http mode ends within 15 s of SIGTERM (plastrond.http.server.FORCED_EXIT_AFTER).
    assert http["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 15

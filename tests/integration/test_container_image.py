"""The image the Swarm stack deploys, built from this checkout and run as the stack runs it.

podman builds the Dockerfile, then runs both services of docker-compose.yml from the image
(tests.support.image.Stack: the services' commands, environment, volumes and configs, with their
modes and owners) with a configuration made from docker-plastron-template.yml, in which only
what names this machine is changed: where the repository and the broker answer (the host's
loopback as the containers see it, with the repository's own name, for Archelon and the tests,
as the template's REPO_EXTERNAL_URL), Fedora's Basic credentials for the template's JWT secret,
destinations of the test's own, and the local vocabularies an import here needs. The SFTP
key and host keys are the stack's `archelon_id` and `known_hosts` configs. The shared
ActiveMQ, Fedora 6 and sshd of the host are used.

Each service's compose health check is run inside its container; an echo job goes through the
stomp service (asynchronous and synchronous), an import over SFTP lands in Fedora and the http
service reports and reconciles it from the jobs volume both share, and an export of its items
leaves a valid bag on the host over SFTP; SIGTERM stops each service
within its `stop_grace_period`, the stomp service with a job running, which the next
container on the same volume takes up again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import attrs
import bagit
import httpx
import pytest
import yaml

from tests.support.export import unzip
from tests.support.image import (
    HOST_LOOPBACK,
    IMAGE_TAG,
    TEMPLATE,
    PodmanError,
    Service,
    Stack,
    build_image,
)
from tests.support.imports import DATA, FILES, VOCABULARIES, TestContainer

pytestmark = [
    pytest.mark.integration,
    # The image is the subject here, not the repository: Fedora 6 only.
    pytest.mark.parametrize("fedora", ["fcrepo6"], indirect=True),
]

UID = 990  # the Dockerfile's plastron user
DATA_IN_CONTAINER = "/srv/plastrond-test-data"  # tests/imports/data, mounted read-only


@attrs.frozen
class Destinations:
    jobs: str
    sync: str
    status: str
    progress: str


@pytest.fixture(scope="module")
def image(request) -> str:
    try:
        took = build_image(IMAGE_TAG)
    except PodmanError as error:
        pytest.fail(str(error), pytrace=False)
    # Said in the run's output (CI's log), not captured with the test's.
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nimage {IMAGE_TAG} built from the Dockerfile in {took:.1f} s")
    return IMAGE_TAG


def deployment_config(path: Path, activemq, fedora, dests: Destinations) -> Path:
    """docker-plastron-template.yml, edited as an operator edits it for this machine."""
    config = yaml.safe_load(TEMPLATE.read_text())
    repository = config["REPOSITORY"]
    repository["REST_ENDPOINT"] = in_container(fedora.rest_url)
    repository["REPO_EXTERNAL_URL"] = fedora.rest_url
    del repository["JWT_SECRET"]  # the local Fedora takes HTTP Basic
    repository["FEDORA_USER"], repository["FEDORA_PASSWORD"] = fedora.admin_auth
    broker = config["MESSAGE_BROKER"]
    broker["SERVER"] = f"{HOST_LOOPBACK}:{activemq.port}"
    broker["DESTINATIONS"].update(
        JOBS=dests.jobs, SYNCHRONOUS_JOBS=dests.sync, JOB_STATUS=dests.status,
        JOB_PROGRESS=dests.progress,
    )  # fmt: skip
    data = Path(DATA_IN_CONTAINER)
    config["CONTENT_MODELS"] = {
        "VOCABULARIES": {
            iri: str(data / Path(file).relative_to(DATA)) for iri, file in VOCABULARIES.items()
        }
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def in_container(url: str) -> str:
    """*url* on the host's loopback as the containers reach it."""
    assert "//127.0.0.1:" in url, url
    return url.replace("//127.0.0.1:", f"//{HOST_LOOPBACK}:", 1)


@attrs.define
class Deployment:
    stack: Stack
    stomp: Service
    http: Service
    dests: Destinations
    healthy_after: dict[str, float]


def new_stack(image: str, tmp: Path, activemq, fedora, sshd) -> tuple[Stack, Destinations]:
    tag = uuid.uuid4().hex[:10]
    dests = Destinations(
        jobs=f"/queue/test.{tag}.jobs",
        sync=f"/queue/test.{tag}.jobs.synchronous",
        status=f"/queue/test.{tag}.jobs.status",
        progress=f"/topic/test.{tag}.jobs.progress",
    )
    config = deployment_config(tmp / "docker-plastron.yml", activemq, fedora, dests)
    # The stack's SFTP key: the one the local sshd lets in.
    key = tmp / "archelon_id"
    key.write_bytes(sshd.private_key.read_bytes())
    # The stack's known_hosts: the sshd's host key, under the name the containers reach it by.
    known_hosts = tmp / "known_hosts"
    known_hosts.write_text(
        sshd.known_hosts.read_text().replace(f"[{sshd.host}]:", f"[{HOST_LOOPBACK}]:")
    )
    stack = Stack(
        image,
        tmp,
        files={"docker-plastron.yml": config, "archelon_id": key, "known_hosts": known_hosts},
        extra_run_args=("--volume", f"{DATA}:{DATA_IN_CONTAINER}:ro"),
    )
    return stack, dests


@pytest.fixture(scope="module")
def deployment(image, activemq, fedora, sshd, tmp_path_factory) -> Iterator[Deployment]:
    """Both services of the stack, healthy."""
    stack, dests = new_stack(image, tmp_path_factory.mktemp("stack"), activemq, fedora, sshd)
    try:
        stomp = stack.run("plastrond-stomp")
        http = stack.run("plastrond-http")
        healthy_after = {service.name: service.wait_healthy() for service in (stomp, http)}
        yield Deployment(stack, stomp, http, dests, healthy_after)
    finally:
        stack.close()


@pytest.fixture
def archelon(deployment, activemq, archelon_factory):
    return archelon_factory(activemq, deployment.dests)


def proc_ids(pid: int) -> tuple[set[int], set[int]]:
    """The real, effective, saved and file-system uids and gids of a host process."""
    ids = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid"):
            ids[key] = {int(v) for v in value.split()}
    return ids["Uid"], ids["Gid"]


def http_url(deployment: Deployment) -> str:
    """The http service, at the host port its 5000 is published on."""
    return f"http://127.0.0.1:{deployment.http.published[5000]}"


def journal_state(store: Path) -> dict[str, str]:
    """Job id -> the last kind of record the message store's journal holds for it."""
    state = {}
    for line in (store / "journal.log").read_text(encoding="utf-8").splitlines():
        record = json.loads(line.partition(" ")[2])
        state[record["job_id"]] = record["type"]
    return state


def test_both_services_are_healthy_and_run_as_the_plastron_user(deployment):
    for service in (deployment.stomp, deployment.http):
        # The compose health check passed inside the container within its start period (the
        # fixture waited for it), and passes again.
        assert deployment.healthy_after[service.name] <= service.start_period
        result = service.health_check()
        assert result.returncode == 0, result.stderr
        # The daemon is the container's first process, run as uid and gid 990 only.
        assert proc_ids(service.pid) == ({UID}, {UID})
        # ... and it is the image's entry point with the service's command.
        args = Path(f"/proc/{service.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert Path(args[-4]).name == "plastrond", args
        assert args[-3:] == ["-c", "/etc/plastrond.yml", *service.spec["command"]], args
    # The message store is the daemon's own, in its volume.
    store = deployment.stack.volume_path("plastrond-msg")
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [store, *store.iterdir()]}
    assert owners == {(UID, UID)}
    assert "journal.log" in {p.name for p in store.iterdir()}
    # What the health checks probe answers as the README says.
    stomp = json.loads(
        deployment.stomp.exec(
            "python", "-c",
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9180/health').read().decode())",
        ).stdout
    )  # fmt: skip
    assert stomp["status"] == "ok" and stomp["broker"].endswith(":61613")
    assert httpx.get(f"{http_url(deployment)}/health").json() == {"status": "ok"}


def test_an_echo_job_through_the_stomp_service(deployment, archelon):
    job_id = f"http://archelon.example/echo/{uuid.uuid4().hex[:8]}"
    archelon.send_job(job_id, "echo", "from the host, with ümlauts")
    (done,) = archelon.wait_for("completions", 1, timeout=30)
    assert done.headers["PlastronJobId"] == job_id
    assert done.headers["PlastronJobState"] == "Done"
    assert "PlastronJobError" not in done.headers
    assert done.body == "from the host, with ümlauts"
    # The synchronous queue answers at reply-to.
    archelon.send_job(f"SYNCHRONOUS-{uuid.uuid4()}", "echo", "sync", synchronous=True)
    (reply,) = archelon.wait_for("replies", 1, timeout=30)
    assert reply.headers["PlastronJobState"] == "Done" and reply.body == "sync"


def test_an_import_and_an_export_over_sftp_and_the_http_service_on_the_import(
    deployment, archelon, fedora, sshd, tmp_path
):
    sftp = f"sftp://{sshd.user}@{HOST_LOOPBACK}:{sshd.port}"  # the host's sshd
    target = TestContainer(fedora.rest_url, fedora.admin_auth)
    try:
        job_id = f"http://archelon.example/import_jobs/{uuid.uuid4().hex[:8]}"
        archelon.send_job(
            job_id,
            "import",
            (DATA / "Item.csv").read_text(encoding="utf-8"),
            model="Item",
            binaries_location=f"{sftp}{FILES}",
            container=target.uri,
        )
        (done,) = archelon.wait_for("completions", 1, timeout=180)
        body = json.loads(done.body)
        assert "PlastronJobError" not in done.headers, done.headers["PlastronJobError"]
        assert done.headers["PlastronJobState"] == body["state"] == "import_complete", body
        assert body["count"]["created"] == 2 and body["count"]["errors"] == 0
        assert len(target.items()) == 2

        # The http service reads the job folder the stomp service wrote in the shared volume.
        path = f"{http_url(deployment)}/jobs/" + quote(job_id, safe="")
        job = httpx.get(path, timeout=30)
        assert job.status_code == 200, job.text
        assert job.json()["job_id"] == job_id
        assert job.json()["completed"]["count"] == 2
        reconciled = httpx.get(f"{path}/reconcile", timeout=60)
        assert reconciled.status_code == 200, reconciled.text
        assert reconciled.json()["clean"] is True, reconciled.json()
        assert reconciled.json()["checked"] == 2

        # The items exported, with their files, to a bag on the host.
        items = target.items()
        archelon.send_job(
            f"http://archelon.example/export_jobs/{uuid.uuid4().hex[:8]}",
            "export",
            "\n".join(items) + "\n",
            output_dest=f"{sftp}{tmp_path}/bag",
            export_binaries="true",
        )
        done = archelon.wait_for("completions", 2, timeout=180)[1]
        body = json.loads(done.body)
        assert "PlastronJobError" not in done.headers, done.headers["PlastronJobError"]
        assert body["state"] == "export_complete"
        assert body["count"] == {"total": 2, "exported": 2, "errors": 0}
        bag = unzip(tmp_path / "bag.zip", tmp_path / "unzipped")
        bagit.Bag(str(bag)).validate()
        exported = {p.name for p in (bag / "data").rglob("*") if p.is_file()}
        assert {"metadata.ttl", "p1.tif", "p1.jpg", "p2.jpg", "notes.txt"} <= exported, exported
    finally:
        target.close()


def test_the_stomp_health_check_fails_while_the_broker_is_unreachable(
    image, activemq, fedora, sshd, tmp_path
):
    # A network with nothing in it: the broker cannot be reached from there.
    stack, _dests = new_stack(image, tmp_path, activemq, fedora, sshd)
    try:
        stomp = stack.run("plastrond-stomp", network="none")
        deadline = time.monotonic() + 30
        while "cannot connect" not in stomp.logs():
            assert time.monotonic() < deadline, stomp.logs()
            time.sleep(0.2)
        result = stomp.health_check()
        assert result.returncode != 0
        assert "503" in result.stderr
        assert stomp.running  # it keeps trying
    finally:
        stack.close()


def test_sigterm_stops_the_stomp_service_within_its_grace_period_with_a_job_running(
    deployment, archelon
):
    stomp = deployment.stomp
    job_id = f"http://archelon.example/echo/long-{uuid.uuid4().hex[:8]}"
    archelon.send_job(job_id, "echo", "long", echo_delay="3600")
    archelon.wait_for("progress", 1, timeout=30)

    status, took = stomp.stop()
    assert status == 0, f"exit status {status} after {took:.1f} s:\n{stomp.logs()[-3000:]}"
    assert took < stomp.grace_period, f"{took:.1f} s, over {stomp.grace_period} s"
    log = stomp.logs()
    assert "SIGTERM: stopping" in log and log.rstrip().endswith("stopped"), log[-2000:]
    assert archelon.completion_ids() == []

    # The job is kept in the message store's volume (its journal, read without touching it:
    # the store is the daemon's), and the next task on the volume takes it up again.
    state = journal_state(deployment.stack.volume_path("plastrond-msg"))
    assert {job for job, last in state.items() if last != "done"} == {job_id}
    assert state[job_id] == "request"
    before = len(archelon.progress)
    restarted = deployment.stack.run("plastrond-stomp")
    restarted.wait_healthy()
    again = archelon.wait_for("progress", before + 1, timeout=60)[before]
    assert again.headers["PlastronJobId"] == job_id


def test_sigterm_stops_the_http_service_within_its_grace_period(deployment):
    status, took = deployment.http.stop()
    assert status == 0, f"exit status {status} after {took:.1f} s:\n{deployment.http.logs()}"
    assert took < deployment.http.grace_period

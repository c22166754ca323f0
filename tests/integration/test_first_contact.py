"""The first writes to a new Fedora 4.7.5, from several jobs at once, as two replicas run them.

Fedora 4.7 (ModeShape) registers a namespace and a node type the first time one is written,
inside the writing transaction: concurrent first writes race (`500 ValueFormatException`,
`400 Node type ... already exists`), and two sessions can be given the same prefix for two
namespaces, so that a value is stored under `pcdm:identifier` instead of `dcterms:identifier`.
plastrond primes the server (every term it writes, once, outside any transaction) before its
first write (`plastrond.repository.prime`). On a server started empty for the test
(`restartable_fedora47`), four imports of four models at once, one with `publish`, on two replicas:
every row is created (and published where asked), and every value is under its own predicate,
before and after a restart of the Fedora.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import httpx
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import RDF

from plastrond.models import Item, is_server_managed, load_models
from tests.support.imports import DATA, FILES, VOCABULARIES, TestContainer

pytestmark = pytest.mark.integration

PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
#: model -> how many times its test CSV's rows are repeated
JOBS = {"Item": 5, "Issue": 5, "Letter": 8, "Poster": 8}
PUBLISHING = "Item"


def repeated_csv(model: str, times: int) -> tuple[str, int]:
    """The model's sample rows *times* over, each copy with a key of its own (a row whose
    identifier, or Title for an Issue, an earlier row has is invalid)."""
    with (DATA / f"{model}.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    key = "Identifier" if "Identifier" in fields else "Title"
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for copy in range(times):
        for row in rows:
            writer.writerow({**row, key: f"{row[key]} copy {copy + 1}"})
    return out.getvalue(), len(rows) * times


def failed_rows(jobs: Path) -> list[str]:
    return [
        line
        for path in sorted(jobs.rglob("dropped-failed.log.csv"))
        for line in path.read_text().splitlines()[1:]
    ]


def test_first_writes_of_four_jobs_on_two_replicas_to_an_empty_fedora47(
    restartable_fedora47, activemq, plastrond_setup, archelon_factory, tmp_path
) -> None:
    fedora, server = restartable_fedora47
    jobs_dir = tmp_path / "jobs"
    setup = plastrond_setup(
        activemq,
        repository=fedora.repository_keys,
        sections={
            "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
            "COMMANDS": {
                "IMPORT": {
                    "JOBS_DIR": str(jobs_dir),
                    "ALLOWED_BINARIES_DIRS": [str(FILES)],
                    "MAX_CONCURRENT_ITEMS": 4,
                }
            },
        },
        PROGRESS_INTERVAL=0,
    )
    replicas = [setup.plastrond(name, own_store=True) for name in ("a", "b")]
    for replica in replicas:
        replica.wait_connected()
    containers: dict[str, str] = {}
    expected: dict[str, int] = {}
    with httpx.Client(auth=fedora.admin_auth, timeout=60) as http:
        for model in JOBS:  # a container of its own each (no pairtree node shared)
            containers[model] = f"{fedora.rest_url}/first-contact-{model.lower()}"
            http.put(containers[model]).raise_for_status()
    client = archelon_factory(activemq, setup.dests)
    job_ids = {}
    for model, times in JOBS.items():
        body, expected[model] = repeated_csv(model, times)
        job_ids[model] = f"http://archelon.example/import_jobs/{model}-{uuid.uuid4().hex[:6]}"
        args = {"publish": "true"} if model == PUBLISHING else {}
        client.send_job(
            job_ids[model],
            "import",
            body,
            model=model,
            binaries_location=str(FILES),
            container=containers[model],
            **args,
        )
    frames = client.wait_for("completions", len(JOBS), timeout=600)
    logs = "\n".join(replica.log() for replica in replicas)
    by_job = {frame.headers["PlastronJobId"]: frame for frame in frames}
    for line in failed_rows(jobs_dir):
        print("failed row:", line)
    for frame in frames:
        print("publish errors:", json.loads(frame.body).get("publish_errors"))
    assert sorted(by_job) == sorted(job_ids.values())
    for model, job in job_ids.items():
        frame = by_job[job]
        body = json.loads(frame.body)
        assert frame.headers["PlastronJobState"] == "import_complete", (
            model,
            body,
            failed_rows(jobs_dir),
        )
        assert body["count"]["created"] == expected[model], (model, body["count"])
        assert body["count"]["errors"] == 0, (model, failed_rows(jobs_dir))
        if model == PUBLISHING:
            assert body["count"]["published"] == expected[model], body
            assert "publish_errors" not in body, body["publish_errors"]
    assert failed_rows(jobs_dir) == []
    print("writes tried again:", logs.count("; trying again"))
    for line in logs.splitlines():  # the prime's requests, for the record
        if "prime" in line or ("POST" in line and "/fcr:tx" not in line) or "HEAD" in line:
            print(line[:300])

    models = load_models()

    def every_item_under_its_predicates() -> None:
        for model, container in containers.items():
            content_model = models.get(model)
            look = TestContainer.__new__(TestContainer)
            look.client = httpx.Client(auth=fedora.admin_auth, timeout=60)
            look.uri = container
            try:
                items = look.items()
                assert len(items) == expected[model], model
                for uri in items:
                    walked = look.walk_item(uri)  # pages, files and proxies under their predicates
                    own = Graph()
                    for triple in walked.graph:
                        if not is_server_managed(triple):
                            own.add(triple)
                    item = Item.from_graph(own, uri, content_model)
                    # every value under a predicate of the model: none moved to another namespace
                    assert item.extra == [], (model, uri, item.extra)
                    embedded = [v for vs in item.values.values() for v in vs if hasattr(v, "extra")]
                    assert all(e.extra == [] for e in embedded), (model, uri)
                    assert item.values.get("title"), (model, uri)
                    published = PUBLISHED in set(walked.graph.objects(URIRef(uri), RDF.type))
                    assert published is (model == PUBLISHING), uri
            finally:
                look.client.close()

    every_item_under_its_predicates()
    # and once Fedora 4.7 has restarted (a registry damaged by first writes at once shifts its
    # nsNNN then, or the webapp does not start: the restart fails the test)
    server.restart()  # the replicas idle meanwhile
    every_item_under_its_predicates()

"""Two replicas on one queue, four imports into one container at once, each checked against
what the repository holds (issue #23, "No concurrency-dependent outcome").

The scenario, on each server: two real `plastrond stomp` processes with message stores of
their own on one queue of the real ActiveMQ, sharing one `JOBS_DIR` (the StatefulSet's
shape), both taking jobs, are sent four import jobs of `ITEMS_PER_JOB` rows at once, every
row an item with one page of one small file of random bytes of its own, all into one new
container; one job has `publish`. The servers are of the module's own, started empty
(`tests.support.fresh_fedora.FreshFedora`): a Fedora 4.7.5 for each test, since a race of
first contact (a namespace or a node type registered by two transactions at once) only happens
on a server that has never seen them; a Fedora 6.1.0 for the module (it has no such registry; a
container of each test's own). Once each job has its completion, both replicas are stopped
and everything is read back with plain HTTP (not plastrond's client):

- every row a job logs created (`completed.log.csv`) is in the repository at its URI with its
  identifier and title under their predicates and no literal under another, one page
  titled "Page 1" with one file whose bytes have the digest of the bytes sent, and
  `umdaccess:Published` with one handle exactly when the job asked for `publish`;
- each job has exactly one completion, and nothing is left in either replica's inbox or
  outbox that would send another after a restart;
- every job says `import_complete`, with every row logged created and there; the completion's
  `created` (and `published`) equal what is in the repository;
- the container holds each row's item once (counted by identifier, nothing extra), and no
  pairtree node has a same-name sibling: no URI in the container's listing carries `[2]`
  (`%5B2%5D`), and `<first segment>%5B2%5D` answers 404 for all 256 (Fedora 4.7 keeps the
  second node made by two transactions under one name as `name[2]`, serves it at
  `name%5B2%5D` and lists the item under it; the item is missing at the URI the job logged);
- `plastrond reconcile --json JOB_ID` agrees for each job: the items it reports not as logged
  are those the read-back found so (less what it does not compare: digests, publication), and
  its extra members are the container's members no job logged.

How many rounds: ROUNDS of the scenario per server, each on a server started empty (4.7.5) and
in a container of its own, plus the kill test below, which runs the same scenario with the same
checks. The issue saw 3-5 of 600 items lost per run, and at the least 1 of 300 (two jobs of 150
in one daemon). Main's code before the fixes, here: each of four runs on 4.7.5 (400 items each)
lost 1 or 2 items to a same-name sibling (1 in 240) and left every job `import_incomplete` with
failed rows; one also stored 26 items' identifier or title under `pcdm:` and 95 of 96 published
items lacked `umdaccess:Published`. At the issue's lowest rate the chance that 2 rounds and the
kill test (1,200 items on 4.7.5) show nothing is (1 - 1/300)^1200, about 0.018; at its usual
rate (3 in 300), 10^-5. On Fedora 6.1.0, which has no same-name siblings and no namespace
registry, one round and the kill test look for the other outcomes (a lost or crossed file, a
wrong count, a second completion, an item made twice by a restart). Measured on the 2-CPU
development machine with other suites running: a round takes 1.5-3 minutes on 4.7.5 (25-60 s of
it starting the server) and 2-3 on 6.1.0, the module 10-16 minutes.

The second test does the same with `kill -9` of one replica (one running a job) once a job
has created a fifth of its items, its restart on the same message store, and a `resume` of
any job that ended incomplete: every row's item exactly once in the container, every request
(each job's and each resume's) exactly one completion.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from plastrond.jobs.ids import job_id_segment
from tests.support.fresh_fedora import FreshFedora
from tests.support.imports import VOCABULARIES
from tests.support.stomp_jobs import stored

pytestmark = pytest.mark.integration

#: rows (items) per job; four jobs a round
ITEMS_PER_JOB = 100
JOBS = 4
#: rounds of the scenario per server (see the module's docstring for why these are enough)
ROUNDS = {"fcrepo47": 2, "fcrepo6": 1}
#: how long four jobs may take on a loaded two-CPU machine (Fedora 6.1.0: about 1 item/s)
COMPLETION_TIMEOUT = 1500
#: how long to go on listening for a second completion once every job has its first
SETTLE_SECONDS = 3.0

DCTERMS = "http://purl.org/dc/terms/"
IDENTIFIER = URIRef(DCTERMS + "identifier")
TITLE = URIRef(DCTERMS + "title")
PCDM = "http://pcdm.org/models#"
PCDM_OBJECT = URIRef(PCDM + "Object")
HAS_MEMBER = URIRef(PCDM + "hasMember")
MEMBER_OF = URIRef(PCDM + "memberOf")
HAS_FILE = URIRef(PCDM + "hasFile")
FABIO_PAGE = URIRef("http://purl.org/spar/fabio/Page")
UMD_ITEM = URIRef("http://vocab.lib.umd.edu/model#Item")
PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
HANDLE = URIRef("http://vocab.lib.umd.edu/datatype#handle")
XSD_STRING = URIRef("http://www.w3.org/2001/XMLSchema#string")
LDP_CONTAINS = URIRef("http://www.w3.org/ns/ldp#contains")
#: predicates whose literals the server writes (created, lastModified, createdBy...)
SERVER_MANAGED = ("http://fedora.info/definitions/v4/repository#", "http://www.w3.org/ns/ldp#")
#: the only predicates an imported item of this CSV carries literals under
ITEM_LITERALS = frozenset({IDENTIFIER, TITLE})
COLUMNS = "Identifier,Title,Object Type,Rights Statement,FILES"
#: the ids of the echo jobs that show a replica takes jobs
PROBE = "http://archelon.example/probe/"
VALUES = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"


# -- the servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_fedora6(tmp_path_factory) -> Iterator[FreshFedora]:
    """A Fedora 6.1.0 of this module's own, started empty for its first test."""
    server = FreshFedora("fcrepo6", tmp_path_factory.mktemp("empty-fcrepo6"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def empty_fedora(fedora, tmp_path_factory, request) -> Iterator[Any]:
    """A server of the `fedora` fixture's kind of this module's own, on other ports than the
    shared one: a Fedora 4.7.5 started empty for each test (stopped and its data removed
    afterwards); the module's Fedora 6.1.0, started empty for the first test."""
    if not fedora.is_fcrepo4:
        server = request.getfixturevalue("module_fedora6")
        yield attrs.evolve(fedora, rest_url=server.rest_url, script=server.script)
        return
    server = FreshFedora(fedora.flavor, tmp_path_factory.mktemp(f"empty-{fedora.flavor}"))
    try:
        rest_url = server.start()
        yield attrs.evolve(fedora, rest_url=rest_url, script=server.script)
    finally:
        server.stop()


# -- what is sent ------------------------------------------------------------------------------


@attrs.frozen
class Row:
    identifier: str
    title: str
    filename: str
    sha256: str


@attrs.frozen
class Job:
    id: str
    publish: bool
    rows: tuple[Row, ...]
    folder: Path

    @property
    def csv(self) -> str:
        lines = [COLUMNS] + [f"{r.identifier},{r.title},{VALUES},{r.filename}" for r in self.rows]
        return "\n".join(lines)

    def args(self, container: str) -> dict[str, str]:
        args = {"model": "Item", "binaries_location": str(self.folder), "container": container}
        if self.publish:
            args["publish"] = "true"
        return args


def make_jobs(binaries: Path) -> list[Job]:
    """JOBS jobs of ITEMS_PER_JOB rows, each row's file of random bytes of its own (2-4 KiB);
    the first job publishes."""
    tag = uuid.uuid4().hex[:8]
    jobs = []
    for j in range(JOBS):
        folder = binaries / f"{tag}-{j}"
        folder.mkdir(parents=True)
        rows = []
        for n in range(ITEMS_PER_JOB):
            data = os.urandom(2048 + (n * 37) % 2048)
            filename = f"n{n:03d}.jpg"
            (folder / filename).write_bytes(data)
            rows.append(
                Row(
                    identifier=f"{tag}-{j}-{n:03d}",
                    title=f"Item {n} of job {j} ({tag})",
                    filename=filename,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        jobs.append(
            Job(
                id=f"http://archelon.example/import_jobs/{tag}-{j}",
                publish=j == 0,
                rows=tuple(rows),
                folder=folder,
            )
        )
    return jobs


# -- the replicas ------------------------------------------------------------------------------


@pytest.fixture
def replicas(activemq, empty_fedora, handle_service, plastrond_setup, tmp_path):
    """The configuration both replicas share: one queue, one JOBS_DIR, the empty server."""
    binaries = tmp_path / "binaries"
    binaries.mkdir()
    setup = plastrond_setup(
        activemq,
        repository=empty_fedora.repository_keys,
        sections={
            "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
            "COMMANDS": {
                "IMPORT": {
                    "JOBS_DIR": str(tmp_path / "jobs"),
                    "ALLOWED_BINARIES_DIRS": [str(binaries)],
                },
            },
            "PUBLICATION_WORKFLOW": {
                "HANDLE_ENDPOINT": handle_service.url,
                "HANDLE_JWT_TOKEN": handle_service.token,
                "HANDLE_PREFIX": "1903.1",
                "HANDLE_REPO": "fcrepo",
                "PUBLIC_URL_PATTERN": "https://digital.example/result/id/{uuid}",
            },
        },
        PROGRESS_INTERVAL=0,
    )
    return setup, binaries


def accepted_by(log: str, job_id: str) -> bool:
    return any(
        f"[job {job_id}]" in line and "accepted import job" in line for line in log.splitlines()
    )


def wait_for_jobs(client: Any, job_ids: set[str], timeout: float) -> None:
    """Wait until every job in *job_ids* has at least one completion."""
    deadline = time.monotonic() + timeout
    with client.lock:
        while not job_ids <= {f.headers["PlastronJobId"] for f in client.completions}:
            left = deadline - time.monotonic()
            if left <= 0:
                done = {f.headers["PlastronJobId"] for f in client.completions}
                raise AssertionError(f"no completion in {timeout} s for {sorted(job_ids - done)}")
            client.lock.wait(left)


def completions_of(client: Any) -> dict[str, list[dict[str, Any]]]:
    """Each job's completions (bodies, with `state` from PlastronJobState), in order."""
    found: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    with client.lock:
        for frame in client.completions:
            if frame.headers["PlastronJobId"].startswith(PROBE):
                continue
            body = json.loads(frame.body)
            body.setdefault("state", frame.headers.get("PlastronJobState"))
            body["_error"] = frame.headers.get("PlastronJobError")
            found[frame.headers["PlastronJobId"]].append(body)
    return found


def stop_all(processes: list[Any]) -> None:
    for process in processes:
        if process.running:
            process.signal(signal.SIGTERM)
    for process in processes:
        if process.proc is not None:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


# -- reading the repository back -----------------------------------------------------------------


def graph_of(text: str) -> Graph:
    return Graph().parse(data=text, format="nt")


def text(value: Any) -> str | None:
    """A plain literal's text (Fedora 4.7 answers them typed xsd:string), else None."""
    if isinstance(value, Literal) and value.datatype in (None, XSD_STRING) and not value.language:
        return str(value)
    return None


@attrs.define
class Findings:
    """What the read-back found wrong, by kind: kind -> [what]."""

    problems: dict[str, list[str]] = attrs.field(factory=lambda: collections.defaultdict(list))

    def add(self, kind: str, what: str) -> None:
        self.problems[kind].append(what)

    def summary(self) -> str:
        lines = []
        for kind, whats in sorted(self.problems.items()):
            shown = "; ".join(whats[:5]) + (" ..." if len(whats) > 5 else "")
            lines.append(f"{kind}: {len(whats)} ({shown})")
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return any(self.problems.values())


class Repository:
    """Plain HTTP reads of the server, as a repository manager would check it."""

    def __init__(self, auth: tuple[str, str]) -> None:
        self.http = httpx.Client(auth=auth, timeout=120, limits=httpx.Limits(max_connections=16))
        self.pool = concurrent.futures.ThreadPoolExecutor(8)
        #: the items' graphs as read (each item is read once)
        self.items: dict[str, Graph | int] = {}

    def close(self) -> None:
        self.pool.shutdown()
        self.http.close()

    def map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return list(self.pool.map(fn, items))

    def get(self, uri: str, **headers: str) -> httpx.Response:
        for attempt in range(3):  # a 500 of an overloaded server is not what is checked
            answer = self.http.get(uri, headers=headers)
            if answer.status_code < 500 or attempt == 2:
                return answer
            time.sleep(1)
        raise AssertionError("unreachable")

    def graph(self, uri: str) -> Graph | int:
        answer = self.get(uri, Accept="application/n-triples")
        if answer.status_code != 200:
            return answer.status_code
        return graph_of(answer.text)

    def status(self, uri: str) -> int:
        return self.http.head(uri).status_code

    def children(self, uri: str) -> list[str]:
        graph = self.graph(uri)
        assert isinstance(graph, Graph), f"{uri}: {graph}"
        return sorted(
            str(o)
            for o in graph.objects(URIRef(uri), LDP_CONTAINS)
            if not str(o).endswith("/authz:rbacl")  # Fedora 4.7's access roles
        )

    def item(self, uri: str) -> Graph | int:
        if uri not in self.items:
            self.items[uri] = self.graph(uri)
        return self.items[uri]

    def identifiers(self, uri: str) -> list[str]:
        graph = self.item(uri)
        if not isinstance(graph, Graph):
            return []
        return [t for o in graph.objects(URIRef(uri), IDENTIFIER) if (t := text(o)) is not None]

    def check_item(self, uri: str, row: Row, published: bool) -> list[tuple[str, str]]:
        """What is wrong with the item a job logged created at *uri* for *row*: (kind, what)."""
        found: list[tuple[str, str]] = []
        me = URIRef(uri)
        graph = self.item(uri)
        if not isinstance(graph, Graph):
            return [("logged created, missing from the repository", f"{uri}: {graph}")]
        identifiers = self.identifiers_in(graph, me)
        if identifiers != [row.identifier]:
            found.append(("wrong identifier", f"{uri}: {identifiers} for {row.identifier}"))
        titles = [t for o in graph.objects(me, TITLE) if (t := text(o)) is not None]
        if titles != [row.title]:
            found.append(("wrong title", f"{uri}: {titles} for {row.title!r}"))
        stray = {
            str(p)
            for p, o in graph.predicate_objects(me)
            if isinstance(o, Literal)
            and p not in ITEM_LITERALS
            and not str(p).startswith(SERVER_MANAGED)
        }
        if stray:
            found.append(("literal under another predicate", f"{uri}: {sorted(stray)}"))
        types = set(graph.objects(me, RDF.type))
        if not {PCDM_OBJECT, UMD_ITEM} <= types:
            found.append(("item types missing", f"{uri}: {sorted(map(str, types))}"))
        handles = [
            o for o in graph.objects(me, IDENTIFIER) if getattr(o, "datatype", None) == HANDLE
        ]
        if published and (PUBLISHED not in types or len(handles) != 1):
            found.append(
                ("not published", f"{uri}: {len(handles)} handle(s), types {sorted(types)}")
            )
        if not published and (PUBLISHED in types or handles):
            found.append(("published unasked", uri))
        pages = [str(p) for p in graph.objects(me, HAS_MEMBER)]
        if len(pages) != 1:
            found.append(("not one page", f"{uri}: {pages}"))
            return found
        page = self.graph(pages[0])
        if not isinstance(page, Graph):
            found.append(("page missing", f"{pages[0]}: {page}"))
            return found
        subject = URIRef(pages[0])
        if (
            not {PCDM_OBJECT, FABIO_PAGE} <= set(page.objects(subject, RDF.type))
            or page.value(subject, MEMBER_OF) != me
        ):
            found.append(("page not the item's", pages[0]))
        page_titles = [t for o in page.objects(subject, TITLE) if (t := text(o)) is not None]
        if page_titles != ["Page 1"]:
            found.append(("wrong page title", f"{pages[0]}: {page_titles}"))
        files = [str(f) for f in page.objects(subject, HAS_FILE)]
        if len(files) != 1:
            found.append(("not one file", f"{pages[0]}: {files}"))
            return found
        answer = self.get(files[0])
        if answer.status_code != 200:
            found.append(("file missing", f"{files[0]}: {answer.status_code}"))
        elif hashlib.sha256(answer.content).hexdigest() != row.sha256:
            found.append(("file not the bytes sent", f"{files[0]} for {row.filename}"))
        return found

    @staticmethod
    def identifiers_in(graph: Graph, me: URIRef) -> list[str]:
        return sorted(t for o in graph.objects(me, IDENTIFIER) if (t := text(o)) is not None)


def read_log(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def failed_rows(folder: Path) -> list[str]:
    """The dropped-failed lines of every run of a job (for the failure messages)."""
    return [
        f"{r['id']}: {r['reason'][:300]}"
        for path in sorted(folder.glob("*/dropped-failed.log.csv"))
        for r in read_log(path)
    ]


def first_segments(container: str) -> list[str]:
    """Every first pairtree node under *container* (the nodes items of different jobs share;
    a same-name sibling deeper down, under which an item lives, shows in the listing)."""
    return [f"{container}/{n:02x}" for n in range(256)]


def check_round(
    repository: Repository,
    container: str,
    jobs: list[Job],
    jobs_dir: Path,
    completions: dict[str, list[dict[str, Any]]],
    requests: dict[str, int],
    *,
    cut_short: bool = False,
    config: Path | None = None,
) -> Findings:
    """Everything the module's docstring lists, against the repository; what is wrong.

    A completion counts what its own run did; with *cut_short* (a run was killed before its
    completion, and the next one went on from its logs) the completions together count at
    most what is logged and there. With *config*, `plastrond reconcile` is asked about each job
    with it and must agree (`reconcile_agrees`)."""
    findings = Findings()
    logged: dict[str, tuple[Job, Row]] = {}  # uri -> the row logged created there
    for job in jobs:
        got = completions.get(job.id, [])
        if len(got) != requests[job.id]:
            findings.add(
                "not one completion per request",
                f"{job.id}: {len(got)} for {requests[job.id]} ({[c.get('state') for c in got]})",
            )
        folder = jobs_dir / job_id_segment(job.id)
        by_id = {row.identifier: row for row in job.rows}
        created = [r for r in read_log(folder / "completed.log.csv") if r["status"] == "created"]
        ids = collections.Counter(r["id"] for r in created)
        for identifier, times in ids.items():
            if times > 1:
                findings.add("logged created twice", f"{job.id}: {identifier} x{times}")
            if identifier not in by_id:
                findings.add("logged a row not sent", f"{job.id}: {identifier}")
        for r in created:
            if r["id"] in by_id:
                logged[r["uri"]] = (job, by_id[r["id"]])
        last = got[-1] if got else {}
        state = last.get("state")
        if state != "import_complete":
            findings.add(
                "job not import_complete",
                f"{job.id}: {state} {last.get('_error') or ''} "
                f"{last.get('count')} {failed_rows(folder)[:3]}",
            )
        elif set(ids) != set(by_id):
            missing = sorted(set(by_id) - set(ids))
            findings.add("import_complete with rows not created", f"{job.id}: {missing[:5]}")
        # the counts of all this job's runs together against the log
        total_created = sum(c.get("count", {}).get("created", 0) for c in got)
        if total_created > len(created) or (not cut_short and total_created != len(created)):
            findings.add(
                "completion's created differs from the log",
                f"{job.id}: {total_created} counted, {len(created)} logged",
            )
        if job.publish and got and not cut_short:
            published = sum(c.get("count", {}).get("published", 0) for c in got)
            if published < len(created):
                findings.add("completion's published below created", f"{job.id}: {published}")

    # every item logged created, as sent
    results = repository.map(
        lambda entry: (entry[0], repository.check_item(entry[0], entry[1][1], entry[1][0].publish)),
        list(logged.items()),
    )
    present: set[str] = set()
    not_as_logged: dict[str, set[str]] = {}  # uri -> the kinds of what is wrong with it
    for uri, problems in results:
        if not any(kind.startswith("logged created, missing") for kind, _ in problems):
            present.add(uri)
        if problems:
            not_as_logged[uri] = {kind for kind, _ in problems}
        for kind, what in problems:
            findings.add(kind, what)
    for job in jobs:
        in_repo = sum(1 for uri, (j, _) in logged.items() if j is job and uri in present)
        counted = sum(c.get("count", {}).get("created", 0) for c in completions.get(job.id, []))
        if counted > in_repo or (not cut_short and counted != in_repo):
            findings.add(
                "completion's created differs from the repository",
                f"{job.id}: {counted} counted, {in_repo} there",
            )

    # the container: each row once, nothing else, no same-name sibling
    members = repository.children(container)
    for uri in members:
        if "%5B" in uri or "[" in uri:
            findings.add("same-name sibling in the container's listing", uri)
    by_identifier: dict[str, list[str]] = collections.defaultdict(list)
    for uri, identifiers in zip(
        members, repository.map(repository.identifiers, members), strict=True
    ):
        if not identifiers:
            findings.add("member without an identifier", uri)
        for identifier in identifiers:
            by_identifier[identifier].append(uri)
    for job in jobs:
        for row in job.rows:
            where = by_identifier.pop(row.identifier, [])
            if len(where) > 1:
                findings.add(
                    "row's item in the container more than once", f"{row.identifier}: {where}"
                )
            elif not where and completions.get(job.id):
                findings.add("row's item not in the container", f"{job.id}: {row.identifier}")
    for identifier, where in by_identifier.items():
        findings.add("member that is no row's", f"{identifier}: {where}")
    if config is not None:
        extra = set(members) - set(logged)
        for job in jobs:
            mine = {uri: kinds for uri, kinds in not_as_logged.items() if logged[uri][0] is job}
            for problem in reconcile_agrees(config, job.id, mine, extra):
                findings.add("reconcile disagrees", f"{job.id}: {problem}")
    nodes = first_segments(container)
    statuses = repository.map(lambda node: repository.status(f"{node}%5B2%5D"), nodes)
    for node, status in zip(nodes, statuses, strict=True):
        if status != 404:
            findings.add("pairtree node with a same-name sibling", f"{node}%5B2%5D: {status}")
    return findings


#: what `plastrond reconcile` does not look at: the bytes of the files, and publication
NOT_RECONCILED = frozenset(
    {
        "file not the bytes sent",
        "not published",
        "published unasked",
        "literal under another predicate",
    }
)


def reconcile_agrees(
    config: Path, job_id: str, not_as_logged: dict[str, set[str]], extra: set[str]
) -> list[str]:
    """Where `plastrond -c CONFIG reconcile --json JOB_ID` (run as a user would) and the
    read-back differ: each item the read-back found missing is `missing` there, each it found
    otherwise not as sent (in what reconcile compares) is not `ok` there, nothing it found
    right is reported, and the extra members are the members no job logged."""
    answer = subprocess.run(
        [sys.executable, "-m", "plastrond", "-c", str(config), "reconcile", "--json", job_id],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=config.parent,
    )
    if answer.returncode not in (0, 1):
        return [f"exit {answer.returncode}: {answer.stderr.strip()[-300:]}"]
    report = json.loads(answer.stdout)
    problems = []
    if (answer.returncode == 0) != report["clean"]:
        problems.append(f"exit {answer.returncode} with clean {report['clean']}")
    statuses = {item["uri"]: item["status"] for item in report["items"]}
    for uri, kinds in sorted(not_as_logged.items()):
        status = statuses.get(uri, "ok")
        if any(k.startswith("logged created, missing") for k in kinds) and status != "missing":
            problems.append(f"{uri} is missing, reconcile says {status}")
        elif kinds - NOT_RECONCILED and status == "ok":
            problems.append(f"{uri} is not as sent ({sorted(kinds)}), reconcile says ok")
    for uri, status in sorted(statuses.items()):
        if uri not in not_as_logged:
            problems.append(f"{uri} is as sent, reconcile says {status}")
    if set(report["extra"]) != extra:
        problems.append(
            f"extra members {sorted(report['extra'])}, the container has {sorted(extra)}"
        )
    return problems


# -- the scenario --------------------------------------------------------------------------------


@attrs.define
class Scenario:
    """One round: a container, two replicas, four jobs."""

    setup: Any
    fedora: Any
    client: Any
    jobs: list[Job]
    container: str
    jobs_dir: Path
    replicas: list[Any] = attrs.field(factory=list)
    requests: dict[str, int] = attrs.field(factory=lambda: collections.Counter())
    #: seconds taken: from the jobs sent to their completions, and by the read-back
    timings: dict[str, float] = attrs.field(factory=dict)
    sent_at: float = 0.0

    def start_replicas(self) -> None:
        """Start both replicas and wait until each takes jobs from the queue (connected is
        not yet subscribed: jobs sent at once would all go to the first)."""
        self.replicas = [self.setup.plastrond(name, own_store=True) for name in ("one", "two")]
        for replica in self.replicas:
            replica.wait_connected(timeout=60)
        deadline = time.monotonic() + 120
        while not all("accepted echo job" in replica.log() for replica in self.replicas):
            assert time.monotonic() < deadline, "a replica took no echo job in 120 s"
            self.client.send_job(f"{PROBE}{uuid.uuid4().hex}", "echo")
            time.sleep(0.2)

    def send_all(self) -> None:
        self.sent_at = time.monotonic()
        for job in self.jobs:
            self.client.send_job(job.id, "import", job.csv, **job.args(self.container))
            self.requests[job.id] += 1

    def resume(self, job: Job) -> None:
        self.client.send_job(job.id, "import", "", resume="true")
        self.requests[job.id] += 1

    def wait(self) -> None:
        wait_for_jobs(self.client, {job.id for job in self.jobs}, COMPLETION_TIMEOUT)
        self.timings["jobs"] = round(time.monotonic() - self.sent_at, 1)

    def wait_for_requests(self) -> None:
        """Wait until each job has a completion for every request sent."""
        deadline = time.monotonic() + COMPLETION_TIMEOUT
        while True:
            got = completions_of(self.client)
            if all(len(got.get(j, [])) >= n for j, n in self.requests.items()):
                return
            assert time.monotonic() < deadline, f"completions {got.keys()} for {self.requests}"
            time.sleep(0.5)

    def finish(self, *, cut_short: bool = False) -> Findings:
        """Listen a little longer for second completions, stop the replicas, check their
        stores and the repository."""
        time.sleep(SETTLE_SECONDS)
        stop_all(self.replicas)
        repository = Repository(self.fedora.admin_auth)
        started = time.monotonic()
        try:
            findings = check_round(
                repository,
                self.container,
                self.jobs,
                self.jobs_dir,
                completions_of(self.client),
                dict(self.requests),
                cut_short=cut_short,
                config=self.setup.tmp / "one.yml",
            )
        finally:
            repository.close()
        self.timings["read-back"] = round(time.monotonic() - started, 1)
        print(f"{self.fedora.flavor}: {self.timings}, jobs taken {self.distribution()}")
        for replica in ("one", "two"):
            requests, completions = stored(self.setup.tmp / f"msg-{replica}")
            if requests or completions:
                findings.add(
                    "left in a replica's store (another completion after a restart)",
                    f"{replica}: requests {requests}, completions {completions}",
                )
        return findings

    def distribution(self) -> dict[str, list[int]]:
        """Which replica accepted which job or resume (by the job's index), for the failure
        messages."""
        return {
            name: [i for i, job in enumerate(self.jobs) if accepted_by(replica.log(), job.id)]
            for name, replica in zip(("one", "two"), self.replicas, strict=False)
        }


@pytest.fixture
def scenario(replicas, empty_fedora, activemq, archelon_factory, tmp_path) -> Iterator[Scenario]:
    setup, binaries = replicas
    container = f"{empty_fedora.rest_url.rstrip('/')}/replicas-{uuid.uuid4().hex[:8]}"
    httpx.put(container, auth=empty_fedora.admin_auth, timeout=60).raise_for_status()
    client = archelon_factory(activemq, setup.dests)
    made = Scenario(
        setup=setup,
        fedora=empty_fedora,
        client=client,
        jobs=make_jobs(binaries),
        container=container,
        jobs_dir=tmp_path / "jobs",
    )
    try:
        yield made
    finally:
        with contextlib.suppress(Exception):
            stop_all(made.replicas)


#: (server, round) pairs: ROUNDS[server] rounds on each, each on a server started empty
ROUND_PARAMS = [(flavor, n) for flavor, count in ROUNDS.items() for n in range(1, count + 1)]


@pytest.mark.timeout(COMPLETION_TIMEOUT + 600)
@pytest.mark.parametrize(
    ("fedora", "round_"),
    ROUND_PARAMS,
    ids=[f"{flavor}-round{n}" for flavor, n in ROUND_PARAMS],
    indirect=["fedora"],
)
def test_four_imports_on_two_replicas_into_one_container(scenario: Scenario, round_: int) -> None:
    run = scenario
    run.start_replicas()
    run.send_all()
    run.wait()
    findings = run.finish()
    assert not findings, f"round {round_}: {run.distribution()}\n{findings.summary()}"


@pytest.mark.timeout(COMPLETION_TIMEOUT * 2 + 600)
def test_one_replica_killed_mid_way_restarted_and_resumed(scenario: Scenario) -> None:
    run = scenario
    run.start_replicas()
    run.send_all()
    run.client.wait_for_count("created", ITEMS_PER_JOB // 5, timeout=COMPLETION_TIMEOUT)
    # the replica with the most jobs in hand
    working = max(run.replicas, key=lambda r: sum(accepted_by(r.log(), j.id) for j in run.jobs))
    assert any(accepted_by(working.log(), j.id) for j in run.jobs)
    working.signal(signal.SIGKILL)
    working.wait(10)
    name = "one" if working is run.replicas[0] else "two"
    restarted = run.setup.plastrond(name, own_store=True)
    run.replicas[run.replicas.index(working)] = restarted
    restarted.wait_connected(timeout=60)
    run.wait()
    time.sleep(SETTLE_SECONDS)
    for job in run.jobs:
        last = completions_of(run.client)[job.id][-1]
        if last.get("state") != "import_complete":
            run.resume(job)
    run.wait_for_requests()
    findings = run.finish(cut_short=True)
    assert not findings, f"killed {name}; {run.distribution()}\n{findings.summary()}"

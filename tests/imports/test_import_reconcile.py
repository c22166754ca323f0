"""An import job checked against the real repository (`plastrond.imports.reconcile`): from the
command line (`plastrond -c CONFIG reconcile JOB_ID`), through the http mode
(`GET /jobs/<id>/reconcile`), and by a resume, which does again the items that are gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import pytest
import trio
import yaml

from plastrond.config import load_config
from plastrond.http import serve
from plastrond.jobfolders import JobFolder, read_rows
from plastrond.repository import RepositoryClient
from tests.support.imports import DATA, FILES, VOCABULARIES, run_import

pytestmark = pytest.mark.integration

JOB = "http://archelon.example/import_jobs/reconcile-1"
HEADER = "Identifier,Title,Object Type,Rights Statement,FILES,ITEM_FILES"
RIGHTS = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"
CSV = "\n".join(
    [
        HEADER,
        f"rec-1,First,{RIGHTS},p1.tif;p1.jpg;p2.jpg,",
        f"rec-2,Second,{RIGHTS},Front:p1.jpg,notes.txt",
        f"rec-3,Third,{RIGHTS},,",
    ]
)


@attrs.define
class Setup:
    config_path: Path
    url: str
    http: httpx.AsyncClient
    fedora: httpx.AsyncClient
    repo: RepositoryClient

    def config(self) -> Any:
        return load_config(self.config_path)

    def created(self) -> dict[str, str]:
        """id -> URI of completed.log.csv (a later row for an id wins)."""
        folder = JobFolder(self.config().commands.import_.jobs_dir, JOB)
        return {r["id"]: r["uri"] for r in read_rows(folder.path / "completed.log.csv")}

    async def cli(self, *args: str) -> tuple[int, str, str]:
        command = [sys.executable, "-m", "plastrond", "-c", str(self.config_path), "reconcile"]
        done = await trio.to_thread.run_sync(
            partial(
                subprocess.run,
                [*command, *args],
                capture_output=True,
                text=True,
                env=os.environ.copy(),
                timeout=300,
            )
        )
        return done.returncode, done.stdout, done.stderr

    async def over_http(self, job_id: str = JOB) -> dict[str, Any]:
        answer = await self.http.get(f"/jobs/{quote(job_id, safe='')}/reconcile")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        return answer.json()


@pytest.fixture
async def setup(tmp_path: Path, fedora, target) -> AsyncIterator[Setup]:
    config = {
        "REPOSITORY": {
            "REST_ENDPOINT": fedora.rest_url,
            "RELPATH": "/",
            "LOG_DIR": str(tmp_path / "logs"),
            "FEDORA_USER": fedora.admin_user,
            "FEDORA_PASSWORD": fedora.admin_password,
        },
        "COMMANDS": {
            "IMPORT": {"JOBS_DIR": str(tmp_path / "jobs"), "ALLOWED_BINARIES_DIRS": [str(DATA)]}
        },
        "HTTP_SERVER": {"HOST": "127.0.0.1", "PORT": 0},
        "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
    }
    path = tmp_path / "plastrond.yml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path)
    stop = trio.Event()
    async with (
        RepositoryClient(loaded.repository) as repo,
        httpx.AsyncClient(auth=fedora.admin_auth, timeout=60) as direct,
        trio.open_nursery() as nursery,
    ):
        urls = await nursery.start(partial(serve, loaded, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=urls[0], timeout=300) as http:
            try:
                yield Setup(path, urls[0], http, direct, repo)
            finally:
                stop.set()


async def import_job(setup: Setup, container: str, **args: str) -> Any:
    outcome = await run_import(
        setup.config(),
        setup.repo,
        CSV if not args.get("resume") else b"",
        job_id=JOB,
        **(
            {"model": "Item", "binaries_location": str(FILES), "container": container}
            if not args.get("resume")
            else {}
        ),
        **args,
    )
    return outcome


async def test_an_item_deleted_in_fedora_is_missing_and_a_resume_makes_it_again(
    setup: Setup, target
) -> None:
    first = await import_job(setup, target.uri)
    assert first.state == "import_complete" and first.count["created"] == 3
    created = setup.created()
    code, out, err = await setup.cli(JOB)
    assert code == 0, (out, err)
    assert out.splitlines()[-1] == "all as logged"
    assert "3 item(s) logged created, 3 as logged, 0 missing" in out
    report = await setup.over_http()
    assert report["clean"] is True and report["counts"]["ok"] == 3 and report["items"] == []

    # Someone deletes an item in Fedora directly (4.7 leaves a tombstone: 410).
    gone = created["rec-2"]
    assert (await setup.fedora.delete(gone)).status_code == 204

    code, out, err = await setup.cli(JOB, "--json")
    assert code == 1, (out, err)
    body = json.loads(out)
    assert body["clean"] is False
    assert body["counts"] == {"ok": 2, "missing": 1, "changed": 0, "unreadable": 0, "extra": 0}
    assert body["items"] == [
        {
            "id": "rec-2",
            "uri": gone,
            "status": "missing",
            "problems": [f"{gone} is not in the repository"],
        }
    ]
    assert await setup.over_http() == body
    code, text, _ = await setup.cli(JOB)
    assert code == 1 and f"missing    rec-2  {gone}" in text.splitlines()
    assert text.splitlines()[-1] == "NOT as logged"

    # A resume does the missing item again, as a new one; the others stay as they were.
    again = await import_job(setup, target.uri, resume="true")
    assert again.state == "import_complete"
    assert again.count["created"] == 1 and again.count["rows"] == 3
    now = setup.created()
    assert now["rec-2"] != gone and {now["rec-1"], now["rec-3"]} == {
        created["rec-1"],
        created["rec-3"],
    }
    walked = target.walk_item(now["rec-2"])
    assert [p.title for p in walked.pages] == ["Front"]
    assert [f.filename for f in walked.item_files] == ["notes.txt"]
    assert sorted(target.items()) == sorted(now.values())
    code, out, err = await setup.cli(JOB, "--json")
    assert code == 0, (out, err)
    assert json.loads(out)["counts"]["ok"] == 3
    assert (await setup.over_http())["clean"] is True

    # A resume with nothing gone does nothing.
    quiet = await import_job(setup, target.uri, resume="true")
    assert quiet.count["created"] == 0 and setup.created() == now


async def test_changed_items_and_extra_members_are_reported(setup: Setup, target, fedora) -> None:
    first = await import_job(setup, target.uri)
    assert first.state == "import_complete"
    created = setup.created()
    dcterms = "http://purl.org/dc/terms/"
    # rec-1: its title changed; rec-2: its item file removed; rec-3: an extra page added.
    await setup.fedora.patch(
        created["rec-1"],
        content=f'DELETE {{ <> <{dcterms}title> ?t }} INSERT {{ <> <{dcterms}title> "Other" }}'
        f" WHERE {{ <> <{dcterms}title> ?t }}",
        headers={"Content-Type": "application/sparql-update"},
    )
    walked = target.walk_item(created["rec-2"])
    (notes,) = walked.item_files
    assert (await setup.fedora.delete(notes.uri)).status_code == 204
    page = await setup.fedora.put(
        f"{created['rec-3']}/extra-page",
        content=f'<> <{dcterms}title> "Page 9" ; '
        f"<http://pcdm.org/models#memberOf> <{created['rec-3']}> .",
        headers={"Content-Type": "text/turtle"},
    )
    assert page.status_code == 201, page.text
    linked = await setup.fedora.patch(
        created["rec-3"],
        content=f"INSERT DATA {{ <{created['rec-3']}> <http://pcdm.org/models#hasMember> "
        f"<{created['rec-3']}/extra-page> }}",
        headers={"Content-Type": "application/sparql-update"},
    )
    assert linked.status_code == 204, linked.text
    # and a member of the container that no job made
    stray = await setup.fedora.post(target.uri, headers={"Content-Type": "text/turtle"})
    assert stray.status_code == 201
    extra = stray.headers["Location"]

    code, out, err = await setup.cli(JOB, "--json")
    assert code == 1, (out, err)
    body = json.loads(out)
    assert body["counts"] == {"ok": 0, "missing": 0, "changed": 3, "unreadable": 0, "extra": 1}
    assert body["extra"] == [extra]
    problems = {item["id"]: item["problems"] for item in body["items"]}
    assert all(item["status"] == "changed" for item in body["items"])
    assert problems["rec-1"] == ['title "Other", logged "First"']
    # Fedora 6 keeps the link to the file's tombstone; Fedora 4.7 removes links to what is deleted
    gone_file = [f"item: file {notes.uri} is missing"] if not fedora.is_fcrepo4 else []
    assert problems["rec-2"] == [*gone_file, "item: files none, logged notes.txt"]
    assert problems["rec-3"] == [
        "1 page(s) ['Page 9'], logged 0 []",
        f"extra page {created['rec-3']}/extra-page (Page 9) the job did not make",
    ]
    assert await setup.over_http() == body

    # Another job's items in the same container are not extra members of this one.
    other = "http://archelon.example/import_jobs/reconcile-2"
    outcome = await run_import(
        setup.config(),
        setup.repo,
        f"{HEADER}\nrec-9,Ninth,{RIGHTS},,\n",
        job_id=other,
        model="Item",
        container=target.uri,
    )
    assert outcome.state == "import_complete"
    assert (await setup.over_http())["extra"] == [extra]
    theirs = await setup.over_http(other)
    assert theirs["clean"] is False and theirs["counts"]["ok"] == 1
    assert theirs["extra"] == [extra]


async def test_unknown_jobs(setup: Setup) -> None:
    code, out, err = await setup.cli("no-such-job")
    assert (code, out) == (2, "")
    jobs_dir = setup.config().commands.import_.jobs_dir
    assert err.strip() == f"plastrond: reconcile: no import job 'no-such-job' in {jobs_dir}"
    answer = await setup.http.get("/jobs/no-such-job/reconcile")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    # a job whose id ends in /reconcile is still a job (its slash encoded)
    answer = await setup.http.get(f"/jobs/{quote('no-such-job/reconcile', safe='')}")
    assert answer.status_code == 404
    assert "'no-such-job/reconcile'" in answer.json()["detail"]

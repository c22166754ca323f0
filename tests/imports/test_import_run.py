"""The import command in-process against the real Fedora: what each row does to the repository
and to the job folder. (tests/integration/test_import_command.py runs it through the daemon.)"""

from __future__ import annotations

import zipfile
from pathlib import Path

import attrs
import pytest
import trio
from rdflib import Literal, URIRef

from plastrond.jobfolders import JobFolder, read_rows
from plastrond.jobs import JobError
from plastrond.repository import RepositoryError
from tests.support.imports import COUNT_KEYS, DATA, FILES, corrupt, import_config, run_import

pytestmark = pytest.mark.integration

DCTERMS = "http://purl.org/dc/terms/"
TITLE = URIRef(DCTERMS + "title")
JOB = "http://archelon.example/import_jobs/7"
ITEM_ROW = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"
HEADER = "Identifier,Title,Object Type,Rights Statement,FILES"


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


def job_folder(jobs: Path, job_id: str = JOB) -> Path:
    return JobFolder(jobs, job_id).path


def latest_run(jobs: Path, job_id: str = JOB) -> Path:
    runs = sorted(p for p in job_folder(jobs, job_id).iterdir() if p.name.isdigit())
    return runs[-1]


def rows_csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# -- each model's sample ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "items", "pages", "files"),
    [("Item", 2, 2, 4), ("Issue", 2, 2, 3), ("Letter", 1, 1, 1), ("Poster", 1, 1, 1)],
)
async def test_each_models_sample_validates_imports_and_resumes(
    repo, target, jobs, model: str, items: int, pages: int, files: int
) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = (DATA / f"{model}.csv").read_bytes()
    args = {"model": model, "binaries_location": str(FILES), "container": target.uri}
    checked = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_success", checked.body["validation"]
    assert checked.count == {
        "total": items,
        "rows": items,
        "errors": 0,
        "valid": items,
        "invalid": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "files": files,
    }
    assert all(r["is_valid"] and r["failed"] == [] for r in checked.body["validation"])
    assert target.children() == []  # validate-only writes nothing to the repository

    done = await run_import(config, repo, body, job_id=JOB, **args)
    assert done.state == "import_complete"
    assert done.count["created"] == items and done.count["errors"] == 0
    created = target.items()
    assert len(created) == items
    walked = [target.walk_item(u) for u in created]
    assert sum(len(w.pages) for w in walked) == pages
    assert (
        sum(len(p.files) for w in walked for p in w.pages) + sum(len(w.item_files) for w in walked)
        == files
    )
    completed = read_rows(job_folder(jobs) / "completed.log.csv")
    assert sorted(r["uri"] for r in completed) == sorted(created)
    assert {r["status"] for r in completed} == {"created"}

    again = await run_import(config, repo, b"", job_id=JOB, resume="true")
    assert again.state == "import_complete"
    assert again.count["created"] == 0 and again.count["rows"] == items
    assert again.body["validation"] == []
    assert len(target.items()) == items


async def test_non_ascii_metadata_round_trips(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = "\ufeff" + rows_csv(
        f"u-1,Ünïcödé — ταυτότητα 東京,{ITEM_ROW},",
        header="Identifier,Title,Object Type,Rights Statement,FILES",
    )
    outcome = await run_import(
        config, repo, body.encode("utf-8"), job_id=JOB, model="Item", container=target.uri
    )
    assert outcome.state == "import_complete"
    (item,) = target.items()
    assert set(target.graph(item).objects(URIRef(item), TITLE)) == {
        Literal("Ünïcödé — ταυτότητα 東京")
    }
    (row,) = read_rows(job_folder(jobs) / "completed.log.csv")
    assert row["title"] == "Ünïcödé — ταυτότητα 東京"
    # source.csv is the CSV as received, BOM included
    assert (job_folder(jobs) / "source.csv").read_bytes().startswith(b"\xef\xbb\xbf")


# -- invalid rows ---------------------------------------------------------------------------


async def test_invalid_rows_are_reported_and_the_rest_imported(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(
        f"ok-1,Good,{ITEM_ROW},p1.jpg",
        f"bad-1,,{ITEM_ROW},",
        f"bad-2,Missing,{ITEM_ROW},p1.jpg;nope.tif",
        "bad-3,Short",
        "bad-4,Bad rights,http://purl.org/dc/dcmitype/Text,not a uri,",
    )
    args = {"model": "Item", "binaries_location": str(FILES), "container": target.uri}
    outcome = await run_import(config, repo, body, job_id=JOB, **args)
    assert outcome.state == "import_incomplete"
    assert outcome.count["valid"] == 1 and outcome.count["invalid"] == 4
    assert outcome.count["created"] == 1 and outcome.count["rows"] == 5
    reports = {r["line"]: r for r in outcome.body["validation"]}
    assert reports["source.csv:3"]["failed"] == [["title", "failed", "exactly", 1]]
    assert reports["source.csv:4"]["failed"] == [["FILES", "failed", "file_exists", "nope.tif"]]
    assert reports["source.csv:4"]["errors"] == ["Missing file: nope.tif"]
    assert reports["source.csv:5"]["errors"] == ["wrong number of columns: expected 5, found 2"]
    assert reports["source.csv:6"]["errors"] == ["Rights Statement: not a URI: 'not a uri'"]
    assert all(not reports[f"source.csv:{n}"]["is_valid"] for n in (3, 4, 5, 6))
    dropped = read_rows(latest_run(jobs) / "dropped-invalid.log.csv")
    assert {r["id"]: r["reason"] for r in dropped} == {
        "bad-1": "Validation failures: title is required",
        "bad-2": "Missing file: nope.tif",
        "bad-3": "wrong number of columns: expected 5, found 2",
        "bad-4": "Rights Statement: not a URI: 'not a uri'",
    }
    assert len(target.items()) == 1  # missing files: nothing of the row was written


async def test_blank_values_are_never_written_and_invalid_where_upstream_rejects_them(
    repo, target, jobs
) -> None:
    """Issue #24, item 1: a cell of spaces is a blank value; upstream's validators reject it as a
    handle and as a required identifier (the row is invalid, and an existing item's handle is
    not touched); in a free-text field it is left out, never written."""
    config = import_config(jobs, rest_url=repo.root)
    header = "Identifier,Title,Object Type,Rights Statement,Handle,Description,URI"
    first = rows_csv(f"h-0,Has a handle,{ITEM_ROW},hdl:1903.1/1,,", header=header)
    args = {"model": "Item", "container": target.uri}
    made = await run_import(config, repo, first, job_id=f"{JOB}-first", **args)
    assert made.state == "import_complete", made.body
    (existing,) = target.items()

    body = rows_csv(
        f"h-1,Spaces for a handle,{ITEM_ROW},   ,,",
        f"   ,Spaces for an identifier,{ITEM_ROW},,,",
        f"d-1,Spaces for a description,{ITEM_ROW},,   ,",
        f"h-0,Has a handle,{ITEM_ROW},  ,,{existing}",
        header=header,
    )
    checked = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_failed"
    assert [r["is_valid"] for r in checked.body["validation"]] == [False, False, True, False]
    done = await run_import(config, repo, body, job_id=JOB, **args)
    assert done.state == "import_incomplete"
    assert done.count["invalid"] == 3 and done.count["created"] == 1, done.count
    reasons = sorted(r["reason"] for r in read_rows(latest_run(jobs) / "dropped-invalid.log.csv"))
    assert reasons == [
        "Validation failures: handle is not a handle URI",
        "Validation failures: handle is not a handle URI",
        "Validation failures: identifier all values must be non-blank",
    ]
    (new,) = [uri for uri in target.items() if uri != existing]
    graph = target.graph(new)
    assert {str(t) for t in graph.objects(URIRef(new), TITLE)} == {"Spaces for a description"}
    assert [o for o in graph.objects() if isinstance(o, Literal) and not o.strip()] == []
    assert list(graph.objects(URIRef(new), URIRef(DCTERMS + "description"))) == []
    handle = Literal("hdl:1903.1/1", datatype=URIRef("http://vocab.lib.umd.edu/datatype#handle"))
    identifiers = target.graph(existing).objects(URIRef(existing), URIRef(DCTERMS + "identifier"))
    assert set(identifiers) == {Literal("h-0"), handle}


async def test_a_language_on_the_handle_column_is_a_row_problem_and_the_job_resumes(
    repo, target, jobs
) -> None:
    """Issue #24, item 3: `Handle [en]` no longer refuses the job (which left no job folder to
    resume): the rows with a value in the column are invalid, the others import."""
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(
        f"l-1,With a handle,{ITEM_ROW},hdl:1903.1/1",
        f"l-2,Without one,{ITEM_ROW},",
        header="Identifier,Title,Object Type,Rights Statement,Handle [en]",
    )
    args = {"model": "Item", "container": target.uri}
    checked = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_failed"
    bad, good = checked.body["validation"]
    assert not bad["is_valid"] and good["is_valid"]
    assert bad["errors"] == [
        "Handle [en]: a value in language 'en' cannot have the datatype "
        "http://vocab.lib.umd.edu/datatype#handle of field handle"
    ]
    assert (job_folder(jobs) / "config.yml").is_file()
    resumed = await run_import(config, repo, b"", job_id=JOB, resume="true")
    assert resumed.state == "import_incomplete"
    assert resumed.count["created"] == 1 and resumed.count["invalid"] == 1
    (item,) = target.items()
    assert {str(t) for t in target.graph(item).objects(URIRef(item), TITLE)} == {"Without one"}


async def test_an_unknown_column_fails_the_job_naming_it(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    with pytest.raises(JobError, match=r"source\.csv: unknown column 'Colour'"):
        await run_import(config, repo, "Title,Colour\nx,y\n", job_id=JOB, model="Item")


async def test_files_without_a_binaries_location_make_those_rows_invalid(
    repo, target, jobs
) -> None:
    """As upstream: the job runs, and the rows that name files are dropped as invalid (Archelon
    lists them for the user to fix), not a job error (issue #24, item 2)."""
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(
        f"a,A,{ITEM_ROW},p1.jpg",
        f"b,B,{ITEM_ROW},",
        header="Identifier,Title,Object Type,Rights Statement,ITEM_FILES",
    )
    args = {"model": "Item", "container": target.uri}
    checked = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_failed"
    assert checked.count["valid"] == 1 and checked.count["invalid"] == 1
    bad, good = checked.body["validation"]
    assert bad["line"] == "source.csv:2" and not bad["is_valid"]
    assert bad["failed"] == [["ITEM_FILES", "failed", "file_exists", "p1.jpg"]]
    assert bad["errors"] == ["Missing file: p1.jpg (no binaries-location)"]
    assert good["is_valid"]
    (dropped,) = read_rows(latest_run(jobs) / "dropped-invalid.log.csv")
    assert dropped["id"] == "a"
    assert dropped["reason"] == "Missing file: p1.jpg (no binaries-location)"

    done = await run_import(config, repo, body, job_id=JOB, **args)
    assert done.state == "import_incomplete"
    assert done.count["created"] == 1 and done.count["invalid"] == 1
    (item,) = target.items()
    assert {str(t) for t in target.graph(item).objects(URIRef(item), TITLE)} == {"B"}


# -- transactions ---------------------------------------------------------------------------


async def test_a_row_failing_mid_transaction_leaves_nothing(repo, target, jobs, tmp_path) -> None:
    allowed = tmp_path / "binaries"
    allowed.mkdir()
    archive = allowed / "batch.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good.jpg", b"g" * 4000)
        zf.writestr("bad.jpg", bytes(range(256)) * 40)
    corrupt(archive, "bad.jpg")
    config = import_config(jobs, rest_url=repo.root, allowed=[allowed])
    body = rows_csv(
        f"ok,Fine,{ITEM_ROW},good.jpg",
        f"broken,Broken,{ITEM_ROW},good.jpg;bad.jpg",
    )
    outcome = await run_import(
        config,
        repo,
        body,
        job_id=JOB,
        model="Item",
        binaries_location=f"zip:{archive}",
        container=target.uri,
    )
    assert outcome.state == "import_incomplete"
    assert outcome.count["valid"] == 2 and outcome.count["errors"] == 1
    assert outcome.count["created"] == 1
    (failed,) = read_rows(latest_run(jobs) / "dropped-failed.log.csv")
    assert failed["id"] == "broken"
    assert failed["reason"].startswith("Creating item failed: cannot read bad.jpg from the ZIP")
    # The item, its page and good.jpg were written before bad.jpg failed: all rolled back.
    (item,) = target.items()
    assert target.children() == [item]  # the good row's item, with its page and file inside
    (page,) = target.walk_item(item).pages
    assert [f.filename for f in page.files] == ["good.jpg"]
    pending = read_rows(job_folder(jobs) / ".pending.csv")
    states = [r["state"] for r in pending if r["id"] == "broken"]
    assert [s.split(" ")[0] for s in states] == ["begun", "rolled"]
    assert states[0].startswith(("begun fcrepo4 http", "begun fcrepo6 http"))  # its transaction


async def test_an_item_created_by_an_interrupted_run_is_not_created_again(
    repo, target, jobs
) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(f"a,A,{ITEM_ROW},", f"b,B,{ITEM_ROW},")
    args = {"model": "Item", "container": target.uri}
    first = await run_import(config, repo, body, job_id=JOB, **args)
    assert first.count["created"] == 2
    # As if the run had stopped between b's commit and its log line, and a's transaction
    # had never committed.
    folder = job_folder(jobs)
    completed = read_rows(folder / "completed.log.csv")
    b_uri = next(r["uri"] for r in completed if r["id"] == "b")
    a_uri = next(r["uri"] for r in completed if r["id"] == "a")
    target.client.delete(a_uri).raise_for_status()
    (folder / "completed.log.csv").write_text("id,timestamp,title,uri,status\r\n")
    before = set(target.items())

    again = await run_import(config, repo, body, job_id=JOB, **args)
    assert again.state == "import_complete"
    assert again.count["created"] == 1  # a again; b found, not recreated
    after = set(target.items())
    assert before <= after and len(after - before) == 1
    rows = {r["id"]: r for r in read_rows(folder / "completed.log.csv")}
    assert rows["b"]["uri"] == b_uri and rows["b"]["status"] == "created"
    assert rows["a"]["uri"] != a_uri


async def test_one_run_of_a_job_at_a_time(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    folder = JobFolder.open(jobs, JOB)
    with folder.locked(), pytest.raises(JobError, match="is already running"):
        await run_import(config, repo, rows_csv(f"a,A,{ITEM_ROW},"), job_id=JOB, model="Item")


# -- URI rows -------------------------------------------------------------------------------


async def test_uri_rows_write_only_the_difference(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    header = "Identifier,Title,Object Type,Rights Statement,Creator,URI"
    created = await run_import(
        config,
        repo,
        rows_csv(f"a,A,{ITEM_ROW},Ann,", f"b,B,{ITEM_ROW},Bob,", header=header),
        job_id=JOB,
        model="Item",
        container=target.uri,
    )
    assert created.count["created"] == 2
    uris = {r["id"]: r["uri"] for r in read_rows(job_folder(jobs) / "completed.log.csv")}
    stamp_b = target.last_modified(uris["b"])
    await trio.sleep(1.1)  # Last-Modified has a one-second resolution
    update = rows_csv(
        f"a,A changed,{ITEM_ROW},Ann,{uris['a']}",
        f"b,B,{ITEM_ROW},Bob,{uris['b']}",
        header=header,
    )
    outcome = await run_import(config, repo, update, job_id=f"{JOB}-update", model="Item")
    assert outcome.state == "import_complete"
    assert (outcome.count["updated"], outcome.count["unchanged"]) == (1, 1)
    assert set(target.graph(uris["a"]).objects(URIRef(uris["a"]), TITLE)) == {Literal("A changed")}
    assert target.last_modified(uris["b"]) == stamp_b  # untouched
    statuses = {
        r["id"]: r["status"]
        for r in read_rows(job_folder(jobs, f"{JOB}-update") / "completed.log.csv")
    }
    assert statuses == {"a": "modified", "b": "unchanged"}
    # The creator object (a hash URI) was kept, not replaced.
    creators = list(target.graph(uris["a"]).objects(URIRef(uris["a"]), URIRef(DCTERMS + "creator")))
    assert len(creators) == 1


async def test_a_uri_row_for_a_missing_resource_is_invalid(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    missing = f"{target.uri}/nothing-here"
    outcome = await run_import(
        config,
        repo,
        rows_csv(f"a,A,{ITEM_ROW},,{missing}", header=HEADER + ",URI"),
        job_id=JOB,
        model="Item",
    )
    (report,) = outcome.body["validation"]
    assert report["errors"] == [f"URI {missing}: no such resource in the repository"]


# -- selection and options --------------------------------------------------------------------


async def test_limit_percent_and_resume(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(*(f"r{n},Row {n},{ITEM_ROW}," for n in range(10)))
    args = {"model": "Item", "container": target.uri}
    first = await run_import(config, repo, body, job_id=JOB, limit="3", **args)
    assert first.state == "import_incomplete"
    assert first.count["created"] == 3 and first.count["total"] == 10
    second = await run_import(config, repo, body, job_id=JOB, percent="20", **args)
    assert second.count["created"] == 2  # 20% of 10, evenly spaced among the 7 left
    third = await run_import(config, repo, b"", job_id=JOB, resume="true")
    assert third.state == "import_complete"
    assert third.count["created"] == 5 and third.count["rows"] == 10
    assert len(target.items()) == 10
    assert third.progress[-1]["progress"] == 100


@pytest.mark.parametrize("structure", ["flat", "hierarchical"])
async def test_items_are_nested_whatever_the_structure(repo, target, jobs, structure) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(f"h,H,{ITEM_ROW},p1.tif;p1.jpg;p2.jpg", header=HEADER)
    outcome = await run_import(
        config,
        repo,
        body,
        job_id=JOB,
        model="Item",
        container=target.uri,
        structure=structure,
        access="umdaccess:Public",
        binaries_location=str(FILES),
    )
    assert outcome.state == "import_complete"
    (item,) = target.items()
    assert target.children() == [item]
    walked = target.walk_item(item)
    assert sorted(target.children(item)) == [f"{item}/m", f"{item}/x"]
    assert [(p.title, p.number) for p in walked.pages] == [("Page 1", 1), ("Page 2", 2)]
    assert [
        [(f.filename, f.mime_type, f.preservation_master) for f in p.files] for p in walked.pages
    ] == [
        [("p1.jpg", "image/jpeg", False), ("p1.tif", "image/tiff", True)],
        [("p2.jpg", "image/jpeg", False)],
    ]
    public = URIRef("http://vocab.lib.umd.edu/access#Public")
    assert public in set(walked.graph.objects(URIRef(item), None))
    page = walked.pages[0].uri
    assert public not in set(target.graph(page).objects(URIRef(page), None))  # item only
    config_yml = (job_folder(jobs) / "config.yml").read_text()
    assert f"structure: {structure}" in config_yml and "access: umdaccess:Public" in config_yml


async def test_progress_counts_are_integers(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(*(f"p{n},P {n},{ITEM_ROW}," for n in range(3)))
    outcome = await run_import(config, repo, body, job_id=JOB, model="Item", container=target.uri)
    for progress in outcome.progress:
        assert set(progress["count"]) == COUNT_KEYS
        assert all(isinstance(v, int) for v in progress["count"].values())
        assert {"started", "now", "elapsed"} <= set(progress["time"])
    assert [p["count"]["rows"] for p in outcome.progress] == [0, 1, 2, 3, 3]


async def test_a_missing_container_fails_the_job(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    with pytest.raises(JobError, match="the container for new items does not exist"):
        await run_import(
            config,
            repo,
            rows_csv(f"a,A,{ITEM_ROW},"),
            job_id=JOB,
            model="Item",
            container=f"{target.uri}/nowhere",
        )
    assert target.children() == []


async def test_an_unreadable_vocabulary_fails_the_job(repo, target, jobs, tmp_path) -> None:
    config = import_config(jobs, rest_url=repo.root)
    vocabularies = dict(config.content_models.vocabularies)
    vocabularies["http://vocab.lib.umd.edu/rightsStatement#"] = str(tmp_path / "missing.ttl")
    config = attrs.evolve(
        config, content_models=attrs.evolve(config.content_models, vocabularies=vocabularies)
    )
    body = rows_csv(*(f"v{n},V {n},{ITEM_ROW}," for n in range(6)))
    with pytest.raises(JobError) as info:
        await run_import(config, repo, body, job_id=JOB, model="Item", container=target.uri)
    assert str(info.value).startswith(
        "cannot validate: cannot read vocabulary http://vocab.lib.umd.edu/rightsStatement#"
    )
    assert info.value.details["count"]["created"] == 0
    assert target.children() == []


async def test_validate_only_needs_no_container_and_warns(repo, target, jobs) -> None:
    config = import_config(jobs, rest_url=repo.root)
    missing = f"{target.uri}/not-made-yet"
    outcome = await run_import(
        config,
        repo,
        rows_csv(f"a,A,{ITEM_ROW},p1.jpg"),
        job_id=JOB,
        model="Item",
        container=missing,
        validate_only="true",
        binaries_location=str(FILES),
    )
    assert outcome.state == "validate_success"
    assert outcome.count["valid"] == 1
    (warning,) = outcome.body["warnings"]
    assert warning.startswith(f"the container for new items does not exist: {missing}")
    assert not target.exists(missing)
    # the same job imported once the container is there
    target.client.put(missing, headers={"Content-Type": "text/turtle"}).raise_for_status()
    done = await run_import(
        config,
        repo,
        rows_csv(f"a,A,{ITEM_ROW},p1.jpg"),
        job_id=JOB,
        model="Item",
        container=missing,
        binaries_location=str(FILES),
    )
    assert done.state == "import_complete" and "warnings" not in done.body
    (item,) = [c for c in target.children(missing)]
    assert len(target.children(item)) == 2  # m and x


async def test_a_job_folder_of_the_flat_layout_resumes(repo, target, jobs) -> None:
    """A job begun by an earlier version (items and pages side by side in the container, its
    config.yml without `structure`) goes on: the rows it did stay done, its unsettled item is
    found, and the rest are made in the nested layout."""
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(f"a,A,{ITEM_ROW},", f"b,B,{ITEM_ROW},", f"c,C,{ITEM_ROW},p1.jpg")
    folder = JobFolder.open(jobs, JOB)
    old_a = f"{target.uri}/0f6c2b4e-aaaa-4aaa-8aaa-000000000001"
    old_b = f"{target.uri}/0f6c2b4e-bbbb-4bbb-8bbb-000000000002"
    for uri in (old_a, old_b):
        target.client.put(uri, headers={"Content-Type": "text/turtle"}).raise_for_status()
    folder.write_config(
        {
            "job_id": JOB,
            "model": "Item",
            "access": None,
            "member_of": None,
            "container": target.uri,
            "binaries_location": str(FILES),
        }
    )
    folder.write_source(body.encode("utf-8"))
    (folder.path / "completed.log.csv").write_text(
        f"id,timestamp,title,uri,status\r\na,2024-01-01T00:00:00,A,{old_a},created\r\n"
    )
    (folder.path / ".pending.csv").write_text(
        f"id,uri,state\r\na,{old_a},begun\r\nb,{old_b},begun\r\n"
    )
    outcome = await run_import(config, repo, b"", job_id=JOB, resume="true")
    assert outcome.state == "import_complete"
    assert outcome.count["created"] == 1 and outcome.count["rows"] == 3
    rows = {r["id"]: r for r in read_rows(job_folder(jobs) / "completed.log.csv")}
    assert rows["a"]["uri"] == old_a and rows["b"]["uri"] == old_b
    new_c = rows["c"]["uri"]
    assert new_c not in (old_a, old_b)
    assert len(target.walk_item(new_c).pages) == 1
    assert sorted(target.children()) == sorted([old_a, old_b, new_c])


# -- past every limit of the code: more new items than first pairtree segments ----------------

#: more rows than there are first pairtree segments (256): an import of 257 new items hung
BEYOND_SEGMENTS = 300


def many_rows(count: int) -> str:
    return rows_csv(*(f"many-{n},Item {n},{ITEM_ROW}," for n in range(1, count + 1)))


async def test_more_new_items_than_pairtree_segments_validate_and_import(
    repo, target, jobs
) -> None:
    config = import_config(jobs, rest_url=repo.root)
    body = many_rows(BEYOND_SEGMENTS)
    args = {"model": "Item", "container": target.uri}
    # (the old hang spun on the trio thread: pytest-timeout's 600 s ends it)
    checked = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_success"
    assert checked.count["valid"] == BEYOND_SEGMENTS

    done = await run_import(config, repo, body, job_id=JOB, **args)
    assert done.state == "import_complete"
    assert done.count["created"] == BEYOND_SEGMENTS
    logged = {r["id"]: r["uri"] for r in read_rows(job_folder(jobs) / "completed.log.csv")}
    assert len(logged) == BEYOND_SEGMENTS
    assert sorted(logged.values()) == target.children()


async def test_a_transaction_an_interrupted_run_left_open_is_ended_before_the_item_is_redone(
    repo, target, jobs
) -> None:
    """A run killed with an item's transaction open (or its commit on the wire) left it to the
    server: the next run ends that transaction before it calls the item rolled back, so that
    a commit still running cannot make a second copy of the item beside the one redone."""
    config = import_config(jobs, rest_url=repo.root)
    body = rows_csv(f"a,A,{ITEM_ROW},")
    args = {"model": "Item", "container": target.uri}
    first = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert first.state == "validate_success"
    # The item written in a transaction left open, as the killed run left it; its pending
    # entry names the transaction.
    uri = f"{target.uri}/ab/cd/ef/01/abcdef01-0000-4000-8000-000000000001"
    tx = await repo._begin()
    open_tx = repo._view(delegate=None, tx=tx)
    await open_tx.put_container(uri, None)
    pending = job_folder(jobs) / ".pending.csv"
    pending.write_text(f"id,uri,state\r\na,{uri},begun {tx.style} {tx.uri}\r\n")

    again = await run_import(config, repo, body, job_id=JOB, **args)
    assert again.state == "import_complete"
    assert again.count["created"] == 1
    (item,) = target.items()  # the item once, redone at a new URI
    assert item != uri and not target.exists(uri)
    states = [r["state"] for r in read_rows(pending) if r["uri"] == uri]
    assert states[-1] == "rolled back"
    # the transaction was ended: its commit can no longer make the old item
    with pytest.raises(RepositoryError):
        await repo._tx_control(tx, "commit")
    assert not target.exists(uri)

"""Hostile and unusual CSVs and refused requests against the import command and the real
Fedora (issue #18, items 5, 6 and 10): a row the parser cannot delimit is invalid with its line
number and never swallows the rows after it; a 1 MB cell is real data; a cell past the field
limit makes its row invalid, not the job failed; a job refused before it ran leaves no folder."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from rdflib import URIRef

from plastrond.jobfolders import JobFolder, list_job_ids, read_rows
from plastrond.jobfolders.csvlog import MAX_FIELD
from plastrond.jobs import JobError
from tests.support.export import export_config, run_export
from tests.support.imports import import_config, run_import

pytestmark = pytest.mark.integration

JOB = "http://archelon.example/import_jobs/18"
HEADER = "Identifier,Title,Object Type,Rights Statement"
KINDS = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"
TITLE = URIRef("http://purl.org/dc/terms/title")


def invalid_log(jobs: Path) -> list[dict[str, str]]:
    folder = JobFolder(jobs, JOB).path
    latest = sorted(p for p in folder.iterdir() if p.name.isdigit())[-1]
    return read_rows(latest / "dropped-invalid.log.csv")


# -- item 5: strict quoting -----------------------------------------------------------------------


async def test_unclosed_quote_is_an_invalid_row_and_the_next_row_is_its_own(
    repo, target, tmp_path
) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    body = f'{HEADER}\nq-1,"Unclosed title,{KINDS}\nq-2,Second,{KINDS}\n'
    args = {"model": "Item", "container": target.uri}
    checked = await run_import(config, repo, body, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_failed"
    assert checked.count["total"] == 2 and checked.count["rows"] == 2
    assert checked.count["valid"] == 1 and checked.count["invalid"] == 1
    bad, good = checked.body["validation"]
    assert bad["line"] == "source.csv:2" and not bad["is_valid"]
    assert "line 2" in bad["errors"][0] and "quotes" in bad["errors"][0]
    assert good["line"] == "source.csv:3" and good["is_valid"]

    done = await run_import(config, repo, body, job_id=JOB, **args)
    assert done.count["created"] == 1 and done.count["invalid"] == 1
    (item,) = target.items()
    assert {str(t) for t in target.graph(item).objects(URIRef(item), TITLE)} == {"Second"}
    (row,) = invalid_log(jobs)
    assert row["reason"].startswith("line 2: the CSV cannot be read here")


async def test_text_after_a_closing_quote_is_an_invalid_row(repo, target, tmp_path) -> None:
    config = import_config(tmp_path / "jobs", rest_url=repo.root)
    body = f'{HEADER}\nq-1,"Quoted" then more,{KINDS}\nq-2,"Fine, quoted",{KINDS}\n'
    checked = await run_import(
        config, repo, body, job_id=JOB, validate_only="true", model="Item", container=target.uri
    )
    assert checked.count["total"] == 2 and checked.count["invalid"] == 1
    assert [r["is_valid"] for r in checked.body["validation"]] == [False, True]


# -- item 10: large cells ---------------------------------------------------------------------


async def test_a_one_megabyte_cell_is_imported_and_round_trips(repo, target, tmp_path) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    long_title = "A long transcription, \u00e9t\u00e9 \u6771\u4eac. " * (1024 * 1024 // 30 + 1)
    body = f'{HEADER}\nbig-1,"{long_title}",{KINDS}\n'
    done = await run_import(config, repo, body, job_id=JOB, model="Item", container=target.uri)
    assert done.state == "import_complete", done.body
    (item,) = target.items()
    (title,) = target.graph(item).objects(URIRef(item), TITLE)
    assert str(title) == long_title.strip() and len(str(title)) > 1024 * 1024

    # exported as CSV, the cell comes back whole; imported again, nothing changes
    out = tmp_path / "exports"
    out.mkdir()
    exported = await run_export(
        export_config(repo.root, allowed=[out]),
        repo,
        [item],
        output_dest=f"{out}/big",
        format="csv",
    )
    assert exported.result.state == "export_complete", exported.body
    with zipfile.ZipFile(out / "big.zip") as bag:
        (name,) = [n for n in bag.namelist() if n.endswith("data/Item_metadata.csv")]
        exported_csv = bag.read(name).decode("utf-8")
    (row,) = csv.DictReader(io.StringIO(exported_csv.removeprefix("\ufeff")))
    assert row["URI"] == item and row["Title"] == long_title.strip()
    stamp = target.last_modified(item)
    again = await run_import(
        config, repo, exported_csv, job_id=f"{JOB}-again", model="Item", container=target.uri
    )
    assert again.state == "import_complete", again.count
    assert again.count["unchanged"] == 1 and again.count["updated"] == 0, again.count
    assert target.last_modified(item) == stamp


async def test_a_cell_past_the_field_limit_is_an_invalid_row(repo, target, tmp_path) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    huge = "x" * (MAX_FIELD + 1)
    body = f'{HEADER}\nhuge-1,"{huge}\nwith a line break",{KINDS}\nok-1,Fine,{KINDS}\n'
    done = await run_import(config, repo, body, job_id=JOB, model="Item", container=target.uri)
    assert done.count["total"] == 2
    assert done.count["invalid"] == 1 and done.count["created"] == 1
    (row,) = invalid_log(jobs)
    assert "line 2" in row["reason"] and "longer than" in row["reason"]
    assert len(target.items()) == 1


# -- item 6: no folder for a job that never ran -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "body", "error"),
    [
        ({"model": "Nonesuch"}, f"{HEADER}\nx,y,{KINDS}\n".encode(), "Nonesuch"),
        ({"model": "Item"}, b"Identifier,Title\n1,\xff\xfe broken\n", "not UTF-8"),
        ({"model": "Item"}, b"Identifier,Colour\n1,red\n", "unknown column"),
    ],
)
async def test_a_job_refused_early_leaves_no_folder(
    repo, target, tmp_path, args: dict[str, str], body: bytes, error: str
) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    with pytest.raises(JobError, match=error):
        await run_import(config, repo, body, job_id=JOB, container=target.uri, **args)
    assert list(jobs.iterdir()) == []
    assert list_job_ids(jobs) == []


async def test_a_folder_holding_only_a_lock_is_listed_as_upstream_lists_it(tmp_path) -> None:
    # What an older plastrond left for a job it refused: listed, as upstream lists every
    # folder (issue #24, item 4); `/jobs/<id>` says it is not a usable job.
    jobs = tmp_path / "jobs"
    folder = JobFolder.open(jobs, JOB)
    (folder.path / ".lock").touch()
    assert list_job_ids(jobs) == [JOB]

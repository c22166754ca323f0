"""Spreadsheets as staff send them (issue 25): a row pasted twice, a CSV saved by Excel in its
Windows code page, header labels with a doubled space or the wrong case. Each error is one line
that says where and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from plastrond.jobfolders import JobFolder, read_rows
from plastrond.jobs import JobError
from tests.support.imports import import_config, run_import

JOB = "http://archelon.example/import_jobs/25"
ITEM_ROW = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"
HEADER = "Identifier,Title,Object Type,Rights Statement"


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


# -- a row pasted twice ---------------------------------------------------------------------------


@pytest.mark.integration
async def test_a_pasted_duplicate_is_invalid_and_a_corrected_resume_adds_nothing(
    repo, target, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    args = {"model": "Item", "container": target.uri}
    pasted = csv_of(f"a,Alpha,{ITEM_ROW}", f"b,Beta,{ITEM_ROW}", f"b,Beta,{ITEM_ROW}")
    checked = await run_import(config, repo, pasted, job_id=JOB, validate_only="true", **args)
    assert checked.state == "validate_failed"
    reports = {r["line"]: r for r in checked.body["validation"]}
    problem = (
        "Identifier 'b' is on line 3 too: a row is known by its Identifier, so each row needs "
        "its own; delete this row if it repeats that one, or change its Identifier"
    )
    assert reports["source.csv:4"]["errors"] == [problem]
    assert reports["source.csv:3"]["is_valid"] and not reports["source.csv:4"]["is_valid"]

    first = await run_import(config, repo, pasted, job_id=JOB, **args)
    assert first.state == "import_incomplete"
    assert first.count["created"] == 2 and first.count["invalid"] == 1
    assert len(target.items()) == 2  # one item per identifier
    folder = JobFolder(jobs, JOB).path
    runs = sorted(p for p in folder.iterdir() if p.name.isdigit())
    (dropped,) = read_rows(runs[-1] / "dropped-invalid.log.csv")
    assert (dropped["id"], dropped["reason"]) == ("b #2", problem)

    # The duplicate deleted (the first of the two, as anyone might): the row left keeps its key
    corrected = csv_of(f"a,Alpha,{ITEM_ROW}", f"b,Beta,{ITEM_ROW}")
    again = await run_import(config, repo, corrected, job_id=JOB, resume="true", **args)
    assert again.state == "import_complete"
    assert again.count["created"] == 0
    assert len(target.items()) == 2
    assert sorted(r["id"] for r in read_rows(folder / "completed.log.csv")) == ["a", "b"]


# -- errors in the CSV itself (found before anything is written; each Fedora all the same) ------


@pytest.mark.integration
async def test_a_csv_saved_in_excels_windows_code_page_is_named_by_line_and_column(
    repo, tmp_path: Path
) -> None:
    # Excel on Windows, "CSV (Comma delimited)": cp1252, CRLF
    body = csv_of(f"a,Half ¼ inch,{ITEM_ROW}").encode("cp1252")
    config = import_config(tmp_path / "jobs", rest_url=repo.root)
    with pytest.raises(JobError) as caught:
        await run_import(config, repo, body, job_id=JOB, model="Item")
    assert str(caught.value) == (
        "source.csv: line 2, column 2 (Title): the CSV is not UTF-8 text (byte 0xBC, '¼' in "
        'Windows-1252): save it from Excel as "CSV UTF-8 (Comma delimited) (*.csv)", '
        'not "CSV (Comma delimited)"'
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("header", "label", "hint"),
    [
        (
            "Identifier,Title,Object  Type,Rights Statement",
            "Object  Type",
            "did you mean 'Object Type'? It differs only in spaces",
        ),
        (
            "identifier,Title,Object Type,Rights Statement",
            "identifier",
            "did you mean 'Identifier'? It differs only in case",
        ),
        (
            "Identifier,TITLE,Object Type,Rights Statement",
            "TITLE",
            "did you mean 'Title'? It differs only in case",
        ),
        (
            "Identifier,Title,Object Type,Rights Statement,files",
            "files",
            "did you mean 'FILES'? It differs only in case",
        ),
    ],
)
async def test_a_label_nearly_right_is_shown_as_written_with_the_label_meant(
    repo, tmp_path: Path, header: str, label: str, hint: str
) -> None:
    body = csv_of(f"a,A,{ITEM_ROW}" + ("," * header.endswith("files")), header=header)
    config = import_config(tmp_path / "jobs", rest_url=repo.root)
    with pytest.raises(JobError) as caught:
        await run_import(config, repo, body, job_id=JOB, model="Item")
    assert str(caught.value) == (
        f"source.csv: unknown column {label!r}: not a column of the Item model nor a system "
        f"column; {hint}"
    )

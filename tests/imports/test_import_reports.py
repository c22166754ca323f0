"""The row reports of an import run in-process against the real Fedora: every one in the run
folder's validation.jsonl, and in the completion only as many as MAX_COMPLETION_BYTES allows
(all of them while they fit, else the invalid rows), saying what was left out and where."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from plastrond.config import BrokerConfig, Destinations
from plastrond.jobfolders import JobFolder
from tests.support.imports import import_config, run_import

pytestmark = pytest.mark.integration

JOB = "http://archelon.example/import_jobs/reports"
HEADER = "Identifier,Title,Object Type,Rights Statement"
TYPE = "http://purl.org/dc/dcmitype/Text"
RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#InC"


def rows_csv(count: int, invalid: set[int]) -> str:
    """*count* metadata-only rows; those in *invalid* have no title (title is required)."""
    lines = [HEADER]
    for n in range(count):
        title = "" if n in invalid else f"Row {n}"
        lines.append(f"r{n},{title},{TYPE},{RIGHTS}")
    return "\n".join(lines) + "\n"


def with_completion_limit(config, limit: int):
    broker = BrokerConfig(
        servers=(),
        message_store_dir=Path("/nonexistent"),
        destinations=Destinations(jobs="/queue/x", job_status="/queue/y"),
        max_completion_bytes=limit,
    )
    return attrs.evolve(config, message_broker=broker)


def reports_file(jobs: Path) -> Path:
    folder = JobFolder(jobs, JOB).path
    (run,) = sorted(p for p in folder.iterdir() if p.name.isdigit())
    return run / "validation.jsonl"


async def test_past_the_completion_limit_only_invalid_rows_and_every_report_on_disk(
    repo, target, tmp_path
) -> None:
    jobs = tmp_path / "jobs"
    # 20 KiB of reports fit (MAX_COMPLETION_BYTES 40 KiB: half of it); 60 rows are more
    config = with_completion_limit(import_config(jobs, rest_url=repo.root), 40 * 1024)
    invalid = {7, 31, 52}
    checked = await run_import(
        config,
        repo,
        rows_csv(60, invalid),
        job_id=JOB,
        model="Item",
        container=target.uri,
        validate_only="true",
    )
    assert checked.state == "validate_failed"
    assert checked.count["valid"] == 57 and checked.count["invalid"] == 3
    lines = [f"source.csv:{n + 2}" for n in sorted(invalid)]
    reported = checked.body["validation"]
    assert [r["line"] for r in reported] == lines
    assert all(not r["is_valid"] and r["failed"] for r in reported)
    cut = checked.body["validation_cut"]
    path = reports_file(jobs)
    assert cut["reports"] == 60 and cut["kept"] == 3 and cut["only_invalid"] is True
    assert cut["file"] == str(path)
    on_disk = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["line"] for r in on_disk) == sorted(f"source.csv:{n + 2}" for n in range(60))
    assert {r["line"] for r in on_disk if not r["is_valid"]} == set(lines)
    assert all(r["passed"] for r in on_disk)  # the whole report, passed rules included
    assert len(json.dumps(checked.body)) < 40 * 1024


async def test_within_the_limit_the_completion_has_every_report(repo, target, tmp_path) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    checked = await run_import(
        config,
        repo,
        rows_csv(30, {4}),
        job_id=JOB,
        model="Item",
        container=target.uri,
        validate_only="true",
    )
    assert checked.state == "validate_failed"
    reported = checked.body["validation"]
    assert [r["line"] for r in reported] == [f"source.csv:{n + 2}" for n in range(30)]
    assert [r["is_valid"] for r in reported] == [n != 4 for n in range(30)]
    assert "validation_cut" not in checked.body
    on_disk = reports_file(jobs).read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["line"] for line in on_disk) == sorted(
        r["line"] for r in reported
    )

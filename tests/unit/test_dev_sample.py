"""The dev stack runs the sample import offline (issue 26): dev/plastrond.yml names a local copy
of every vocabulary the shipped models check, allows the sample's files, and the sample is a
valid set of Item rows whose files are there."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from plastrond.config import load_config
from plastrond.models.schema import load_models

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "dev" / "sample"


@pytest.fixture
def dev_config(monkeypatch):
    monkeypatch.setenv("PLASTROND_DEV_ROOT", str(REPO))
    monkeypatch.setenv("PLASTROND_DEV_STATE", str(REPO / ".services" / "dev"))
    return load_config(REPO / "dev" / "plastrond.yml")


def test_every_vocabulary_the_shipped_models_check_has_a_local_copy(dev_config):
    models = load_models()
    checked = set().union(*(model.vocabularies() for model in models.models.values()))
    local = dict(models.vocabularies) | dict(dev_config.content_models.vocabularies)
    assert checked - set(local) == set()
    for iri in checked:
        path = Path(local[iri])
        assert path.is_absolute() and path.is_file(), (iri, path)
        assert iri.encode() in path.read_bytes(), (iri, path)


def test_the_sample_files_are_an_allowed_binaries_location(dev_config):
    allowed = dev_config.commands.import_.allowed_binaries_dirs
    assert SAMPLE / "files" in allowed


def test_the_sample_has_pages_a_language_tag_and_a_multi_valued_field():
    with (SAMPLE / "items.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert 3 <= len(rows) <= 10
    pages = [[p for p in row["FILES"].split(";") if p] for row in rows]
    assert max(len(p) for p in pages) >= 2
    for name in (p for item in pages for p in item):
        data = (SAMPLE / "files" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 4096, name
    assert any(value.startswith("[@") for row in rows for value in row.values())
    assert any("|" in row["Alternate Title"] for row in rows)

"""The import's plan, without any I/O: settings over the stored config, which rows, where,
what earlier runs did."""

from __future__ import annotations

import attrs
import pytest
from rdflib import URIRef

from plastrond.imports.metadata import read_metadata
from plastrond.imports.plan import (
    ImportJobError,
    ImportOptions,
    Settings,
    plan_import,
    settle,
)
from plastrond.jobfolders import PendingItem
from plastrond.jobfolders.layout import CONFIG_FIELDS
from plastrond.models import load_models

MODELS = load_models()
ITEM = MODELS.get("Item")
CONTAINER = "http://repo.example/rest/pcdm"
RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#InC"
TEXT = "http://purl.org/dc/dcmitype/Text"
CSV = (
    "Identifier,Title,Object Type,Rights Statement,FILES,URI\n"
    f"a,A,{TEXT},{RIGHTS},a.jpg,\n"
    f"b,B,{TEXT},{RIGHTS},,\n"
    f"c,C,{TEXT},{RIGHTS},,{CONTAINER}/c\n"
    f"a,A again,{TEXT},{RIGHTS},,\n"
    f",Untitled id,{TEXT},{RIGHTS},,\n"
)
METADATA = read_metadata(CSV, ITEM, MODELS)


def plan(options: ImportOptions | None = None, **kwargs):
    options = options or ImportOptions(job_id="j", model="Item")
    settings = settle(options, {}, "/pcdm")
    kwargs.setdefault("done", ())
    return plan_import(options, settings, METADATA, MODELS, container=CONTAINER, **kwargs)


def test_every_row_is_named_and_the_done_ones_are_skipped() -> None:
    result = plan(done={"b"})
    assert [r.key for r in result.rows] == [
        "a",
        "b",
        "c",
        "a #2",  # the first row of an identifier keeps it, whatever follows (issue 25)
        "Untitled id",  # no identifier: known by its title
    ]
    assert [r.duplicate is not None for r in result.rows] == [False, False, False, True, False]
    assert result.rows[3].duplicate == (
        "Identifier 'a' is on line 2 too: a row is known by its Identifier, so each row needs "
        "its own; delete this row if it repeats that one, or change its Identifier"
    )
    assert [r.title for r in result.rows] == ["A", "B", "C", "A again", "Untitled id"]
    assert [r.is_update for r in result.rows] == [False, False, True, False, False]
    assert [r.key for r in result.todo] == ["a", "c", "a #2", "Untitled id"]
    assert (result.skipped, result.planned) == (1, 5)
    assert result.creates and result.container == CONTAINER
    assert result.todo[0].where == "source.csv:2"


def test_limit_and_percent() -> None:
    limited = plan(ImportOptions(job_id="j", model="Item", limit=2))
    assert [r.key for r in limited.todo] == ["a", "b"]
    only_updates = plan(ImportOptions(job_id="j", model="Item", limit=3), done={"a", "b"})
    assert [r.key for r in only_updates.todo] == ["c"] and not only_updates.creates
    share = plan(ImportOptions(job_id="j", model="Item", percent=40))
    assert len(share.todo) == 2


def test_a_log_of_keys_made_of_lines_still_counts_the_identifier_done() -> None:
    """Before issue 25 a duplicated identifier's rows were logged as `a (source.csv:2)`: a
    resume after the upgrade does not make the first row of `a` again."""
    resumed = plan(done={"a (source.csv:2)", "a (source.csv:5)"})
    assert [r.key for r in resumed.todo] == ["b", "c", "a #2", "Untitled id"]


def test_pending_items_are_kept_unless_validating() -> None:
    pending = [PendingItem(id="b", uri=f"{CONTAINER}/aa/bb/cc/dd/x")]
    assert plan(pending=pending).pending == tuple(pending)
    validating = ImportOptions(job_id="j", model="Item", validate_only=True)
    assert plan(validating, pending=pending).pending == ()


def test_access_and_member_of_are_checked() -> None:
    options = ImportOptions(
        job_id="j", model="Item", access="umdaccess:Public", member_of="http://repo.example/c"
    )
    assert plan(options).access == URIRef("http://vocab.lib.umd.edu/access#Public")
    with pytest.raises(ImportJobError, match="member-of is not an http"):
        plan(ImportOptions(job_id="j", model="Item", member_of="urn:x"))
    with pytest.raises(ImportJobError, match="argument access"):
        plan(ImportOptions(job_id="j", model="Item", access="nowhere:Public"))


def test_settings_come_from_the_stored_config_only_when_resuming() -> None:
    stored = {"model": "Issue", "container": "/elsewhere", "structure": "hierarchical"}
    resumed = settle(ImportOptions(job_id="j", resume=True), stored, "/pcdm")
    assert (resumed.model, resumed.container, resumed.structure) == (
        "Issue",
        "/elsewhere",
        "hierarchical",
    )
    fresh = settle(ImportOptions(job_id="j", model="Item"), stored, "/pcdm")
    assert (fresh.container, fresh.structure) == ("/pcdm", "flat")
    with pytest.raises(ImportJobError, match="missing required argument model"):
        settle(ImportOptions(job_id="j"), stored, "/pcdm")
    with pytest.raises(ImportJobError, match="structure must be flat or hierarchical"):
        settle(ImportOptions(job_id="j", model="Item", structure="deep"), {}, "/pcdm")


def test_settings_are_import_options_kept_in_config_yml() -> None:
    """Settings settles ImportOptions fields of the same names; config.yml holds the
    reference's keys always and the others when they say something, as before."""
    options = {field.name for field in attrs.fields(ImportOptions)}
    kept = [field.name for field in attrs.fields(Settings)]
    assert set(kept) <= options
    assert set(CONFIG_FIELDS) <= set(kept)
    settings = settle(ImportOptions(job_id="j", model="Item", publish=True), {}, "/pcdm")
    written = settings.config_fields()
    assert list(written.items()) == [
        ("job_id", "j"),
        ("model", "Item"),
        ("access", None),
        ("member_of", None),
        ("container", "/pcdm"),
        ("binaries_location", None),
        ("structure", "flat"),
        ("publish", "true"),
    ]
    assert settle(ImportOptions(job_id="j", resume=True), written, "/other") == settings
    named = settle(ImportOptions(job_id="j", model="Item", name="n"), {}, "/pcdm")
    assert named.config_fields()["name"] == "n" and "publish" not in named.config_fields()


def test_a_stored_structure_reads_as_the_argument_does() -> None:
    """The argument `structure` is read whatever its case; so is config.yml's (it was refused
    on resume unless lower-case)."""
    stored = {"model": "Item", "structure": " Hierarchical"}
    assert settle(ImportOptions(job_id="j", resume=True), stored, "/").structure == "hierarchical"

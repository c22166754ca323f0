"""What one run of an import job is to do, decided without any I/O.

    settings = settle(options, stored_config, relpath)              # ImportJobError
    plan = plan_import(options, settings, metadata, models, container=..., done=...,
                       pending=...)                                  # ImportJobError

`settle` puts the request's options over the job's stored config.yml (only when resuming);
`plan_import` checks the arguments that need the model (access, member-of), names every row
(`row_keys`), picks the rows to do (`select_rows`: within `limit`, not done before, thinned to
`percent`) and finds what an earlier run left unsettled. `plastrond.imports.run` reads the
inputs, hands them here, and then only does the rows.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

import attrs
from rdflib import URIRef

from ..jobfolders import PendingItem
from ..jobfolders.layout import CONFIG_FIELDS, SOURCE_FILE
from ..jobs.result import JobError
from ..models import ModelError, ModelSet
from ..parsing import parse_bool
from .items import FLAT, STRUCTURES
from .metadata import Header, MetadataFile, SourceRow, is_iri, row_key_text, split_cell

__all__ = [
    "RANGE",
    "ImportJobError",
    "ImportOptions",
    "ImportPlan",
    "PlannedRow",
    "Settings",
    "duplicates",
    "plan_import",
    "row_keys",
    "select_rows",
    "settle",
]


class ImportJobError(JobError):
    """The job cannot go on; one line. *details* are extra keys for the completion body."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, details=details)


#: ImportOptions metadata: the least and the largest value of a whole-number option
RANGE: Final = "plastrond.import.range"


@attrs.frozen
class ImportOptions:
    """An import request's arguments, checked (None: not given): the one list of them. Each
    field after `job_id` and `body` is the request argument of its name with `-` for `_`
    (`member_of`: `PlastronArg-member-of`); those that `Settings` also has are kept in the
    job folder's config.yml under their field's name, for a resume."""

    job_id: str
    body: bytes = b""
    model: str | None = None
    name: str | None = None
    access: str | None = None
    member_of: str | None = None
    container: str | None = None
    structure: str | None = None
    binaries_location: str | None = None
    validate_only: bool = False
    resume: bool = False
    limit: int | None = attrs.field(default=None, metadata={RANGE: (0, None)})
    percent: int | None = attrs.field(default=None, metadata={RANGE: (1, 100)})
    extract_text: str | None = None
    #: publish each new item right after its transaction commits (None: not given)
    publish: bool | None = None


@attrs.frozen
class Settings:
    """What the run works with: the request's options over the stored config.yml.

    Each field settles the `ImportOptions` field of its name and is the config.yml key of
    that name (`config_fields`), in the order the file has them; each has its settled type
    (the model is known, the container and structure have their defaults)."""

    job_id: str
    model: str
    access: str | None
    member_of: str | None
    container: str
    binaries_location: str | None
    structure: str
    name: str | None
    publish: bool = False

    def config_fields(self) -> dict[str, str | None]:
        """config.yml's keys: the reference's (`CONFIG_FIELDS`) always, the others when they
        say something; a yes is written `true`."""
        return {
            key: "true" if value is True else value
            for key, value in attrs.asdict(self).items()
            if key in CONFIG_FIELDS or value not in (None, False)
        }


def settle(options: ImportOptions, stored: Mapping[str, Any], relpath: str) -> Settings:
    """The request's options over the stored config.yml (only when resuming)."""
    base: Mapping[str, Any] = stored if options.resume else {}

    def pick(key: str) -> Any:
        given = getattr(options, key)
        if given is not None or base.get(key) is None:
            return given
        value = str(base[key])
        return parse_bool(value) if key == "publish" else value

    picked = {field.name: pick(field.name) for field in attrs.fields(Settings)}
    if picked["model"] is None:
        raise ImportJobError("missing required argument model (header PlastronArg-model)")
    written = picked["structure"] or FLAT
    structure = written.strip().lower()
    if structure not in STRUCTURES:
        raise ImportJobError(f"structure must be flat or hierarchical, not {written!r}")
    return Settings(
        **{
            **picked,
            "structure": structure,
            "container": picked["container"] or relpath,
            "publish": picked["publish"] is True,
        }
    )


@attrs.frozen
class PlannedRow:
    """A row of the CSV as the run knows it: the row, its id in the logs and its title."""

    source: SourceRow
    #: its id in the logs (see `row_keys`)
    key: str
    #: the first value of its title column, as written ("" without one)
    title: str
    #: whether it names an existing resource (a `URI` row) rather than a new item
    is_update: bool
    #: why it is invalid when an earlier row has its identifier (see `duplicates`)
    duplicate: str | None = None

    @property
    def where(self) -> str:
        return f"{SOURCE_FILE}:{self.source.line}"


@attrs.frozen
class ImportPlan:
    """What a run is to do."""

    settings: Settings
    header: Header
    #: every row of the CSV, in order
    rows: tuple[PlannedRow, ...]
    #: the rows to do in this run, in order
    todo: tuple[PlannedRow, ...]
    #: rows within the limit that earlier runs completed
    skipped: int
    #: new items an earlier run began and no log settles (validate-only: none)
    pending: tuple[PendingItem, ...]
    #: where new items go (an absolute URI, no trailing slash)
    container: str
    #: the access class the new items get
    access: URIRef | None
    validate_only: bool

    @property
    def planned(self) -> int:
        return self.skipped + len(self.todo)

    @property
    def creates(self) -> bool:
        """Whether a row to do makes a new item (so the container must exist)."""
        return any(not row.is_update for row in self.todo)

    def by_key(self) -> dict[str, PlannedRow]:
        return {row.key: row for row in self.rows}


def row_keys(header: Header, rows: Sequence[SourceRow]) -> dict[int, str]:
    """Each row's id in the logs (by row number): its identifier (see `Header.key_columns`);
    for the second and later rows with an identifier an earlier row has, `<identifier> #2`,
    `#3`...; for a row without one, its line (`source.csv:<line>`).

    The first row with an identifier keeps it whatever follows, so deleting a duplicate row
    changes no other row's key: a resume with the corrected CSV finds the row done (with keys
    made of lines, the row left over got a new key, and a third item)."""
    seen: collections.Counter[str] = collections.Counter()
    keys: dict[int, str] = {}
    for row in rows:
        text = row_key_text(header, row)
        seen[text] += 1
        if not text:
            keys[row.number] = f"{SOURCE_FILE}:{row.line}"
        elif seen[text] > 1:
            keys[row.number] = f"{text} #{seen[text]}"
        else:
            keys[row.number] = text
    return keys


def duplicates(header: Header, rows: Sequence[SourceRow]) -> dict[int, str]:
    """The problem of each row (by row number) whose identifier an earlier row has.

    Such a row is invalid: upstream Plastron knows a row by its identifier alone (its
    completed log, its resume) and imports only the first row of an identifier, skipping the
    others without a word, so its repositories hold one item per identifier and job; a pasted
    duplicate would otherwise become a second item that someone has to find and delete."""
    columns = header.key_columns()
    first: dict[str, int] = {}
    found: dict[int, str] = {}
    for row in rows:
        text = row_key_text(header, row)
        if not text:
            continue
        if text not in first:
            first[text] = row.line
            continue
        label = next(c.header for c in columns if text in split_cell(row.cell(c)))
        found[row.number] = (
            f"{label} {text!r} is on line {first[text]} too: a row is known by its "
            f"{label}, so each row needs its own; delete this row if it repeats that one, or "
            f"change its {label}"
        )
    return found


#: a key an earlier version gave a row whose identifier another row had: `<id> (source.csv:<line>)`
_LINE_KEY: Final = re.compile(r" \(" + re.escape(SOURCE_FILE) + r":\d+\)$")


def _done_keys(done: Collection[str]) -> set[str]:
    """The keys *done* (completed.log.csv's ids) says are done, with the identifier of each key
    an earlier version made of an identifier and a line (the first row of it is done)."""
    return set(done) | {_LINE_KEY.sub("", key) for key in done if _LINE_KEY.search(key)}


def select_rows(
    rows: Sequence[SourceRow],
    done: Callable[[SourceRow], bool],
    limit: int | None,
    percent: int | None,
) -> tuple[list[SourceRow], int]:
    """(the rows to do, how many rows within the limit were done before). `limit` counts rows
    from the top of the file, done or not; `percent` then keeps an evenly spaced share of the
    rest, as close as possible to that percentage of all the rows within the limit."""
    within = list(rows if limit is None else rows[:limit])
    todo = [row for row in within if not done(row)]
    skipped = len(within) - len(todo)
    if percent is not None and percent < 100 and todo:
        target = max(1, math.floor(percent / 100 * len(within) + 0.5))
        if target < len(todo):
            step = len(todo) / target
            todo = [todo[math.floor(i * step)] for i in range(target)]
    return todo, skipped


def row_title(header: Header, row: SourceRow) -> str:
    for column in header.plain.get("title", ()):
        values = split_cell(row.cell(column))
        if values:
            return values[0]
    return ""


def _access(text: str | None, models: ModelSet) -> URIRef | None:
    if text is None:
        return None
    try:
        access = models.expand(text)
    except ModelError as e:
        raise ImportJobError(f"argument access: {e}") from None
    if not is_iri(str(access)):
        raise ImportJobError(f"argument access is not a URI or CURIE: {text!r}")
    return access


def plan_import(
    options: ImportOptions,
    settings: Settings,
    metadata: MetadataFile,
    models: ModelSet,
    *,
    container: str,
    done: Collection[str],
    pending: Sequence[PendingItem] = (),
) -> ImportPlan:
    """The run's plan. *done* holds the ids completed.log.csv has, *pending* the new items
    earlier runs began (`JobFolder.read_pending`). ImportJobError when the job cannot run
    (a row naming files without a binaries location is only an invalid row, as upstream)."""
    header = metadata.header
    access = _access(settings.access, models)
    if settings.member_of is not None and not (
        settings.member_of.startswith(("http://", "https://")) and is_iri(settings.member_of)
    ):
        raise ImportJobError(f"argument member-of is not an http(s) URI: {settings.member_of!r}")
    keys = row_keys(header, metadata.rows)
    repeated = duplicates(header, metadata.rows)
    uri_column = header.system.get("URI")
    rows = tuple(
        PlannedRow(
            source=row,
            key=keys[row.number],
            title=row_title(header, row),
            is_update=bool(row.cell(uri_column).strip()),
            duplicate=repeated.get(row.number),
        )
        for row in metadata.rows
    )
    by_number = {row.source.number: row for row in rows}
    finished = _done_keys(done)
    selected, skipped = select_rows(
        metadata.rows, lambda row: keys[row.number] in finished, options.limit, options.percent
    )
    todo = tuple(by_number[row.number] for row in selected)
    return ImportPlan(
        settings=settings,
        header=header,
        rows=rows,
        todo=todo,
        skipped=skipped,
        pending=() if options.validate_only else tuple(pending),
        container=container,
        access=access,
        validate_only=options.validate_only,
    )

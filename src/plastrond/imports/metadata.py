"""The metadata CSV of an import, read through a content model (`import-export.md`).

`read_metadata(text, model, models)` reads the header and the data rows. The header must name
only the model's column labels (an embedded field's sub-field labels included), with an
optional language (`Title [Japanese]`) or datatype (`Date {EDTF}`), and the system columns;
anything else is a `MetadataError` that fails the job and names the column.

`read_row(header, row)` turns one row's cells into values (`RowData`), or raises `RowError`
listing every problem with its cells (the row is then invalid, the job goes on).
`apply_row(item, header, data)` writes those values into an `Item`: fields that have a column
get exactly the row's values, fields without one keep theirs, so that a row with a `URI`
changes only what its columns say.

Cell syntax: values are separated by `|`; in an embedded field's columns, objects (positions)
are separated by `;` and each object's values by `|`; `FILES` and `ITEM_FILES` separate entries
with `;`. A backslash makes the next character literal (`\\|`, `\\;`, `\\\\`). Values are
stripped of surrounding spaces, and empty values ignored; a value of white space only in a
plain column is a blank value (an empty literal), which the validation rejects where upstream's
does (a required field, a handle, a language code, a vocabulary: `Handle` of spaces makes the
row invalid, as upstream) and which is otherwise never written. A literal value may start with its
language, `[@ja]東京` (what upstream's export writes; `\\[@` keeps it text). The parallel columns
of an embedded field (`Creator`, `Creator URI`) describe one object per position; `INDEX`
(`creator[0]=#abc;creator[1]=#def`) says which hash URI each position has. A position without
one keeps the existing object whose values it repeats, else is a new object.

A `FILES` entry is `Label:<tag>path`: the page label (up to the first unescaped colon), usage
tags (`<preservation>`, `<ocr>`, `<metadata>`, case ignored), the path. Files are grouped into
pages by base name without extension; labels are on every group or on none, one per group.
`ITEM_FILES` entries take tags (a label is read and ignored, as upstream does). `PUBLISH` and
`HIDDEN` are read as nothing: they show the state on export (upstream's decision record 0004);
publishing is the job's `publish` argument.
"""

from __future__ import annotations

import csv
import posixpath
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs
from rdflib import Literal, URIRef

from ..errors import PlastronError
from ..jobfolders.csvlog import MAX_FIELD
from ..models import (
    USAGE_TYPES,
    ContentModel,
    Embedded,
    Field,
    Item,
    ModelError,
    ModelSet,
    Value,
)
from ..models.columns import IMPORT_COLUMNS
from ..parsing import parse_bool
from .names import difference, near_key

__all__ = [
    "USAGE_TAGS",
    "Column",
    "FileSpec",
    "Header",
    "MetadataError",
    "MetadataFile",
    "PageGroup",
    "RowData",
    "RowError",
    "SourceRow",
    "apply_row",
    "decode_csv",
    "first_text",
    "is_iri",
    "page_groups",
    "parse_file_spec",
    "read_metadata",
    "read_row",
    "row_key_text",
    "split_cell",
    "split_file_specs",
    "split_files",
    "split_positions",
    "split_tagged",
    "split_tagged_positions",
]

#: FILES / ITEM_FILES usage tag -> the rdf:type it gives the file (upstream files.py:28-32)
USAGE_TAGS: Final[Mapping[str, URIRef]] = USAGE_TYPES

_LANGUAGE_LABEL: Final = re.compile(r"(.+?)\s*\[([^\[\]]+)\]")
_DATATYPE_LABEL: Final = re.compile(r"(.+?)\s*\{([^{}]+)\}")
_LANGUAGE_TAG: Final = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_INLINE_LANGUAGE: Final = re.compile(
    r"\s*\[@([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)\](.*)", re.DOTALL
)
_USAGE_TAG: Final = re.compile(r"<([^<>]*)>")
_IRI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_INDEX_ENTRY: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]=(.+)")


class MetadataError(PlastronError):
    """The CSV cannot be imported at all (unknown column, no header, bad CSV); one line."""


class RowError(PlastronError):
    """A row's cells cannot be read; `problems` lists each one (one line each)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


#: an escape (a backslash and the character after it) or a cell separator, per separator
_CUTS = {sep: re.compile(r"\\.|" + re.escape(sep), re.DOTALL) for sep in "|;"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _split_raw(text: str, separator: str) -> list[str]:
    """*text* cut at each *separator* not escaped by a backslash; escapes are kept.

    (Linear in the cell's length with a few regex matches, not a Python step per character: a
    1 MB cell is real data.)"""
    if "\\" not in text:
        return text.split(separator)
    cuts = _CUTS.get(separator) or re.compile(r"\\.|" + re.escape(separator), re.DOTALL)
    pieces: list[str] = []
    start = 0
    for m in cuts.finditer(text):
        if m.group() == separator:
            pieces.append(text[start : m.start()])
            start = m.end()
    pieces.append(text[start:])
    return pieces


def _unescape(text: str) -> str:
    """*text* with each backslash escape replaced by the character it escapes (a backslash at
    the very end stays)."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(r"\1", text)


def split_cell(cell: str) -> list[str]:
    """The values of a cell: `|`-separated, unescaped, stripped, empty ones left out."""
    if "|" not in cell and "\\" not in cell:
        value = cell.strip()
        return [value] if value else []
    values = (_unescape(v).strip() for v in _split_raw(cell, "|"))
    return [v for v in values if v]


#: a value of a cell and the language its inline `[@xx]` gives it (None without one)
Tagged = tuple[str, str | None]


def split_tagged(cell: str, *, blanks: bool = False) -> list[Tagged]:
    """The values of a cell with their inline languages: `[@ja]東京|Tokyo` is
    `[("東京", "ja"), ("Tokyo", None)]`; an escaped `\\[@ja]` is text. An empty value is
    left out; one of white space only (`  `, `[@en] `) too, unless *blanks*: it is then `""`
    (upstream reads it as a value, and its validators judge it)."""
    found: list[Tagged] = []
    for raw in _split_raw(cell, "|"):
        written = raw
        lang = None
        m = _INLINE_LANGUAGE.match(raw)
        if m:
            lang, raw = m.group(1), m.group(2)
        value = _unescape(raw).strip()
        if value or (blanks and written):
            found.append((value, lang))
    return found


def split_positions(cell: str) -> list[list[str]]:
    """The objects of an embedded column: `;`-separated positions, each a list of values."""
    return [[v for v, _ in values] for values in split_tagged_positions(cell)]


def split_tagged_positions(cell: str) -> list[list[Tagged]]:
    """`split_positions` with each value's inline language."""
    if not cell.strip():
        return []
    return [split_tagged(piece) for piece in _split_raw(cell, ";")]


def split_files(cell: str) -> list[str]:
    """The paths of a FILES or ITEM_FILES cell (labels and tags left out)."""
    return [spec.path for spec in split_file_specs(cell)]


@attrs.frozen
class FileSpec:
    """One entry of FILES or ITEM_FILES: `Label:<tag>path`."""

    path: str
    label: str | None = None
    #: usage tags as written (lower case)
    tags: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        """The base name without extension: files with the same stem are one page."""
        return posixpath.splitext(posixpath.basename(self.path))[0]

    @property
    def types(self) -> tuple[URIRef, ...]:
        return tuple(USAGE_TAGS[t] for t in self.tags if t in USAGE_TAGS)


def parse_file_spec(raw: str) -> FileSpec | None:
    """One entry as written (escapes still in), or None when it names no path."""
    label: str | None = None
    pieces = _split_raw(raw, ":")
    if len(pieces) > 1:
        label = _unescape(pieces[0]).strip() or None
        raw = ":".join(pieces[1:])
    rest = raw.strip()
    tags: list[str] = []
    while (m := _USAGE_TAG.match(rest)) is not None:
        tags.append(m.group(1).strip().lower())
        rest = rest[m.end() :].lstrip()
    path = _unescape(rest).strip()
    if not path:
        return None
    return FileSpec(path=path, label=label, tags=tuple(tags))


def split_file_specs(cell: str) -> list[FileSpec]:
    """The entries of a FILES or ITEM_FILES cell: `;`-separated `Label:<tag>path`."""
    specs = (parse_file_spec(p) for p in _split_raw(cell, ";"))
    return [s for s in specs if s is not None]


@attrs.frozen
class PageGroup:
    """The files of one page, and its label (None: titled by the model's rule)."""

    stem: str
    label: str | None
    files: tuple[FileSpec, ...]


def page_groups(specs: Sequence[FileSpec]) -> list[PageGroup]:
    """FILES entries grouped into pages by stem, in order of first appearance (upstream's
    "rootname" grouping); ValueError when labels are on some groups only, or a group has two."""
    groups: dict[str, list[FileSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.stem, []).append(spec)
    result: list[PageGroup] = []
    for stem, files in groups.items():
        labels = list(dict.fromkeys(f.label for f in files if f.label))
        if len(labels) > 1:
            raise ValueError(
                f"FILES: the files of page {stem!r} have different labels: {', '.join(labels)}"
            )
        result.append(PageGroup(stem=stem, label=labels[0] if labels else None, files=tuple(files)))
    labelled = [g for g in result if g.label]
    if labelled and len(labelled) != len(result):
        bare = next(g.stem for g in result if not g.label)
        raise ValueError(f"FILES: labels must be on every page or on none ({bare!r} has none)")
    return result


def is_iri(value: str) -> bool:
    """Whether *value* is an absolute IRI that can be written in RDF as it is."""
    return _IRI.fullmatch(value) is not None


# --------------------------------------------------------------------------------------------
# The header
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Column:
    """One column of the CSV: a system column, or (part of) a field of the model."""

    index: int
    header: str
    system: str | None = None
    field: Field | None = None
    #: for an embedded field: the field of its class this column holds
    sub: Field | None = None
    lang: str | None = None
    datatype: URIRef | None = None

    @property
    def target(self) -> Field | None:
        """The field whose values the column holds (the class's field, for embedded ones)."""
        return self.sub if self.sub is not None else self.field

    def node(self, value: str, lang: str | None = None) -> Value:
        """*value* (with its inline language *lang*, if any) as an RDF term for this column;
        ValueError when it cannot be one. A blank value (`""`, from `split_tagged`) is an empty
        literal whatever the field's kind, for the validation to judge; it is never written."""
        target = self.target
        assert target is not None
        if target.kind == "literal" or not value:
            lang = lang or self.lang
            datatype = (self.datatype or target.datatype) if target.kind == "literal" else None
            if lang and datatype is not None:
                raise ValueError(
                    f"{self.header}: a value in language {lang!r} cannot have the datatype "
                    f"{datatype} of field {target.name}"
                )
            if lang:
                return Literal(value, lang=lang)
            return Literal(value, datatype=datatype)
        if lang:
            raise ValueError(f"{self.header}: [@{lang}]: field {target.name} holds URIs")
        if not is_iri(value):
            raise ValueError(f"{self.header}: not a URI: {value!r}")
        return URIRef(value)


@attrs.frozen
class Header:
    """The columns of a metadata CSV, matched to a model."""

    model: ContentModel
    columns: tuple[Column, ...]
    width: int
    #: plain (non-embedded) field name -> its columns
    plain: Mapping[str, tuple[Column, ...]]
    #: embedded field name -> class field name -> its columns
    embedded: Mapping[str, Mapping[str, tuple[Column, ...]]]
    system: Mapping[str, Column]

    def key_columns(self) -> tuple[Column, ...]:
        """The columns that identify a row for resuming, in the order they are tried: the
        model's `identifier` field, else its `title` (upstream's rule: an Issue is known by
        its Title; plain columns before those with a language or datatype)."""
        found: list[Column] = []
        for name in ("identifier", "title"):
            columns = self.plain.get(name, ())
            found.extend(sorted(columns, key=lambda c: (c.lang or "", str(c.datatype or ""))))
        return tuple(found)


def _labels(model: ContentModel) -> dict[str, list[tuple[Field, Field | None]]]:
    labels: dict[str, list[tuple[Field, Field | None]]] = {}
    for f in model.fields:
        if f.kind == "embedded" and f.embedded is not None:
            for sub_name, label in f.headers.items():
                labels.setdefault(label, []).append((f, f.embedded.field(sub_name)))
        elif f.header:
            labels.setdefault(f.header, []).append((f, None))
    return labels


def _column(
    index: int,
    header: str,
    model: ContentModel,
    models: ModelSet,
    labels: Mapping[str, list[tuple[Field, Field | None]]],
) -> Column:
    if header in IMPORT_COLUMNS:
        return Column(index=index, header=header, system=header)
    label, lang, datatype = header, None, None
    if header not in labels:
        m = _LANGUAGE_LABEL.fullmatch(header)
        d = _DATATYPE_LABEL.fullmatch(header)
        if m and m.group(1) in labels:
            label, name = m.group(1), m.group(2).strip()
            lang = models.column_languages.get(name, name)
            if not _LANGUAGE_TAG.fullmatch(lang):
                raise MetadataError(
                    f"column {header!r}: {name!r} is neither a known language name "
                    f"({', '.join(models.column_languages)}) nor a language code"
                )
        elif d and d.group(1) in labels:
            label, name = d.group(1), d.group(2).strip()
            datatype = models.column_datatypes.get(name)
            if datatype is None:
                try:
                    datatype = models.expand(name)
                except ModelError:
                    raise MetadataError(
                        f"column {header!r}: {name!r} is neither a known datatype name "
                        f"({', '.join(models.column_datatypes)}) nor a CURIE or URI"
                    ) from None
        else:
            raise MetadataError(
                f"unknown column {header!r}: not a column of the {model.name} model "
                f"nor a system column{_near_label(header, [*IMPORT_COLUMNS, *labels])}"
            )
    targets = labels[label]
    if len(targets) > 1:
        names = ", ".join(f.name + (f".{s.name}" if s else "") for f, s in targets)
        raise MetadataError(
            f"column {header!r} is ambiguous in the {model.name} model (fields {names})"
        )
    f, sub = targets[0]
    target = sub if sub is not None else f
    if (lang or datatype is not None) and target.kind != "literal":
        what = "language" if lang else "datatype"
        raise MetadataError(f"column {header!r}: field {target.name} holds URIs, not a {what}")
    # A language on a field with a datatype (`Handle [en]`) is kept: each value in the column
    # is then a row problem (`Column.node`), as the README says, and the job runs.
    return Column(index=index, header=header, field=f, sub=sub, lang=lang, datatype=datatype)


def _near_label(header: str, known: Iterable[str]) -> str:
    """A hint naming the label *header* probably means (equal but for case, spaces or
    character forms), or ""."""
    wanted = near_key(header)
    for label in known:
        if near_key(label) == wanted:
            return f"; did you mean {label!r}? It differs only in {difference(header, label)}"
    return ""


def parse_header(
    cells: Sequence[str], model: ContentModel, models: ModelSet, blank_ok: Iterable[int] = ()
) -> Header:
    """The header row matched to *model*; MetadataError naming the first bad column. Columns
    without a label are refused unless their index is in *blank_ok* (no cell holds a value)."""
    labels = _labels(model)
    columns: list[Column] = []
    seen: dict[str, int] = {}
    allowed_blank = set(blank_ok)
    for index, raw in enumerate(cells):
        header = raw.strip()
        if not header:
            if index in allowed_blank:
                continue
            raise MetadataError(f"column {index + 1} has no label but holds values")
        if header in seen:
            raise MetadataError(
                f"column {header!r} appears twice (columns {seen[header] + 1} and {index + 1})"
            )
        seen[header] = index
        columns.append(_column(index, header, model, models, labels))
    plain: dict[str, list[Column]] = {}
    embedded: dict[str, dict[str, list[Column]]] = {}
    system: dict[str, Column] = {}
    for c in columns:
        if c.system is not None:
            system[c.system] = c
        elif c.field is not None and c.sub is not None:
            embedded.setdefault(c.field.name, {}).setdefault(c.sub.name, []).append(c)
        elif c.field is not None:
            plain.setdefault(c.field.name, []).append(c)
    return Header(
        model=model,
        columns=tuple(columns),
        width=len(cells),
        plain={k: tuple(v) for k, v in plain.items()},
        embedded={k: {s: tuple(cs) for s, cs in v.items()} for k, v in embedded.items()},
        system=system,
    )


# --------------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------------


@attrs.frozen
class SourceRow:
    """One data row as read: its number among the data rows (1-based), the line of the file
    it starts on, and its cells."""

    number: int
    line: int
    cells: tuple[str, ...]
    #: why the row cannot be read at all (its quotes, a cell past the field limit); it is
    #: then invalid, and `cells` is empty
    problem: str | None = None

    def cell(self, column: Column | None) -> str:
        if column is None or column.index >= len(self.cells):
            return ""
        return self.cells[column.index]


@attrs.frozen
class MetadataFile:
    header: Header
    rows: tuple[SourceRow, ...]


class _Lines:
    """The physical lines of a text (each with its line break), as an iterator that can be
    moved: after a record that cannot be read, reading resumes at a chosen line."""

    def __init__(self, text: str) -> None:
        self.lines: list[str] = _LINE.findall(text)
        self.pos = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]

    def record_end(self, start: int) -> int:
        """The line after the record starting at line index *start*, by quote parity."""
        in_quotes = False
        for index in range(start, len(self.lines)):
            if self.lines[index].count('"') & 1:
                in_quotes = not in_quotes
            if not in_quotes:
                return index + 1
        return len(self.lines)


#: a physical line: what csv (newline="") treats as one: up to \r\n, \n or \r
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+\Z")


def _records(text: str) -> list[tuple[int, list[str] | str]]:
    """(starting line, cells) of every record of *text* that has a non-blank cell, or
    (starting line, why it cannot be read) for a record the parser cannot delimit.

    Quoting is strict: a quote left open, or text after a closing quote, makes that record
    unreadable, and reading goes on at the next line, so one bad quote never swallows the
    rows after it. A field longer than `MAX_FIELD` makes its record unreadable too (reading
    goes on after the whole record).
    """
    lines = _Lines(text)
    reader = csv.reader(lines, strict=True)
    records: list[tuple[int, list[str] | str]] = []
    while lines.pos < len(lines.lines):
        start = lines.pos
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "field limit" in str(e):
                problem = f"a cell is longer than {MAX_FIELD} characters"
                lines.pos = lines.record_end(start)
            else:
                problem = f"the CSV cannot be read here ({e}): check its quotes"
                lines.pos = start + 1
            records.append((start + 1, f"line {start + 1}: {problem}"))
            continue
        if cells and any(c.strip() for c in cells):
            records.append((start + 1, cells))
    return records


_BREAKS: Final = re.compile(r"\r\n|\n|\r")


def decode_csv(source: bytes) -> str:
    """*source* as text (UTF-8, a leading BOM dropped), or MetadataError naming the line and
    column of the first byte that is not UTF-8, and how to save the file so that it is (Excel's
    "CSV (Comma delimited)" writes the Windows code page, cp1252 in the West)."""
    try:
        return source.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        at = e.start + (3 if source.startswith(b"\xef\xbb\xbf") else 0)
    before = source[:at].decode("utf-8").removeprefix("\ufeff")
    line = len(_BREAKS.findall(before)) + 1
    where = f"line {line}"
    try:
        # the record the byte is in, read up to it (a stand-in character for the byte itself)
        records = list(csv.reader(_LINE.findall(before + "?")))
        column = len(records[-1])
        where += f", column {column}"
        if line > 1 and len(records) > 1 and column <= len(records[0]):
            where += f" ({records[0][column - 1].strip()})"
    except (csv.Error, IndexError):
        pass
    byte = source[at]
    try:
        seen = f", {bytes([byte]).decode('cp1252')!r} in Windows-1252"
    except UnicodeDecodeError:
        seen = ""
    raise MetadataError(
        f"{where}: the CSV is not UTF-8 text (byte 0x{byte:02X}{seen}): save it from Excel "
        'as "CSV UTF-8 (Comma delimited) (*.csv)", not "CSV (Comma delimited)"'
    )


def read_metadata(text: str, model: ContentModel, models: ModelSet) -> MetadataFile:
    """The header and data rows of *text* (a leading BOM is ignored). CPU-bound: run it in a
    worker thread for large files."""
    records = _records(text.removeprefix("\ufeff"))
    if not records:
        raise MetadataError("the CSV is empty: no header row")
    _, first = records[0]
    if isinstance(first, str):
        raise MetadataError(f"{first}: the header row cannot be read")
    header_cells = first
    data = records[1:]
    blank = [
        i
        for i, cell in enumerate(header_cells)
        if not cell.strip()
        and all(
            isinstance(cells, str) or i >= len(cells) or not cells[i].strip() for _, cells in data
        )
    ]
    header = parse_header(header_cells, model, models, blank)
    rows = tuple(
        SourceRow(number=n, line=line, cells=(), problem=cells)
        if isinstance(cells, str)
        else SourceRow(number=n, line=line, cells=tuple(cells))
        for n, (line, cells) in enumerate(data, 1)
    )
    return MetadataFile(header=header, rows=rows)


# --------------------------------------------------------------------------------------------
# One row
# --------------------------------------------------------------------------------------------

Position = dict[str, list[Value]]


@attrs.frozen
class RowData:
    """A row's values, ready to write into an item."""

    #: plain field name -> values (every plain field that has a column, maybe empty)
    plain: Mapping[str, list[Value]]
    #: embedded field name -> positions -> class field name -> values
    embedded: Mapping[str, list[Position]]
    #: embedded field name -> position -> the hash URI it is given (as written in INDEX)
    index: Mapping[str, Mapping[int, str]]
    uri: str | None = None
    #: the paths of FILES and ITEM_FILES
    files: tuple[str, ...] = ()
    item_files: tuple[str, ...] = ()
    create_pages: bool = True
    #: FILES and ITEM_FILES entries with their labels and tags (by default: the bare paths)
    file_specs: tuple[FileSpec, ...] = attrs.field(
        default=attrs.Factory(lambda self: tuple(FileSpec(p) for p in self.files), takes_self=True)
    )
    item_file_specs: tuple[FileSpec, ...] = attrs.field(
        default=attrs.Factory(
            lambda self: tuple(FileSpec(p) for p in self.item_files), takes_self=True
        )
    )

    @property
    def all_files(self) -> tuple[str, ...]:
        return self.files + self.item_files

    @property
    def pages(self) -> list[PageGroup]:
        """The pages the FILES make (none when CREATE_PAGES is false)."""
        return page_groups(self.file_specs) if self.create_pages else []

    @property
    def loose_files(self) -> tuple[FileSpec, ...]:
        """The files attached to the item itself: ITEM_FILES, and FILES too when CREATE_PAGES
        is false."""
        return self.item_file_specs if self.create_pages else self.file_specs + self.item_file_specs


def _check_path(column: str, path: str, problems: list[str]) -> str | None:
    normal = posixpath.normpath(path)
    if path.startswith("/") or "\0" in path or re.match(r"[A-Za-z]:[\\/]", path):
        problems.append(f"{column}: {path!r} is not a relative path")
        return None
    if normal == ".." or normal.startswith("../"):
        problems.append(f"{column}: {path!r} leads out of the binaries location")
        return None
    return normal


def _parse_index(cell: str, header: Header, problems: list[str]) -> dict[str, dict[int, str]]:
    index: dict[str, dict[int, str]] = {}
    for entry in (e.strip() for e in cell.split(";")):
        if not entry:
            continue
        m = _INDEX_ENTRY.fullmatch(entry)
        if m is None:
            problems.append(f"INDEX: {entry!r} is not of the form field[N]=#fragment")
            continue
        name, position, target = m.group(1), int(m.group(2)), m.group(3).strip()
        try:
            f = header.model.field(name)
        except KeyError:
            problems.append(f"INDEX: the {header.model.name} model has no field {name!r}")
            continue
        if f.kind != "embedded":
            problems.append(f"INDEX: field {name} holds no embedded objects")
            continue
        if not (target.startswith("#") and len(target) > 1) and not is_iri(target):
            problems.append(f"INDEX: {entry!r}: expected #fragment or a URI")
            continue
        if position in index.get(name, {}):
            problems.append(f"INDEX: {name}[{position}] is given twice")
            continue
        index.setdefault(name, {})[position] = target
    return index


def read_row(header: Header, row: SourceRow) -> RowData:
    """The values of *row*, or RowError with every problem found."""
    problems: list[str] = []
    plain: dict[str, list[Value]] = {}
    for name, columns in header.plain.items():
        values: list[Value] = []
        for column in columns:
            for text, lang in split_tagged(row.cell(column), blanks=True):
                try:
                    values.append(column.node(text, lang))
                except ValueError as e:
                    problems.append(str(e))
        plain[name] = values
    embedded: dict[str, list[Position]] = {}
    for name, subs in header.embedded.items():
        positions: list[Position] = []
        for sub_name, columns in subs.items():
            for column in columns:
                for n, texts in enumerate(split_tagged_positions(row.cell(column))):
                    while len(positions) <= n:
                        positions.append({})
                    slot = positions[n].setdefault(sub_name, [])
                    for text, lang in texts:
                        try:
                            slot.append(column.node(text, lang))
                        except ValueError as e:
                            problems.append(str(e))
        embedded[name] = positions
    index = _parse_index(row.cell(header.system.get("INDEX")), header, problems)
    uri = row.cell(header.system.get("URI")).strip() or None
    if uri is not None and not (uri.startswith(("http://", "https://")) and is_iri(uri)):
        problems.append(f"URI: not an http(s) URI: {uri!r}")
    files: dict[str, list[FileSpec]] = {}
    for column_name in ("FILES", "ITEM_FILES"):
        for spec in split_file_specs(row.cell(header.system.get(column_name))):
            checked = _check_path(column_name, spec.path, problems)
            unknown = [t for t in spec.tags if t not in USAGE_TAGS]
            if unknown:
                problems.append(
                    f"{column_name}: {spec.path}: unknown usage tag <{unknown[0]}> "
                    f"(known: {', '.join(f'<{t}>' for t in USAGE_TAGS)})"
                )
            if checked is not None:
                files.setdefault(column_name, []).append(attrs.evolve(spec, path=checked))
    try:
        page_groups(files.get("FILES", []))
    except ValueError as e:
        problems.append(str(e))
    create_pages = True
    flag = row.cell(header.system.get("CREATE_PAGES")).strip()
    if flag:
        parsed = parse_bool(flag)
        if parsed is None:
            problems.append(f"CREATE_PAGES: expected true or false, not {flag!r}")
        else:
            create_pages = parsed
    if problems:
        raise RowError(problems)
    return RowData(
        plain=plain,
        embedded=embedded,
        index=index,
        uri=uri,
        files=tuple(spec.path for spec in files.get("FILES", ())),
        item_files=tuple(spec.path for spec in files.get("ITEM_FILES", ())),
        file_specs=tuple(files.get("FILES", ())),
        item_file_specs=tuple(files.get("ITEM_FILES", ())),
        create_pages=create_pages,
    )


def row_key_text(header: Header, row: SourceRow) -> str:
    """The first value of the row's identifying column (see `Header.key_columns`), or ""."""
    for column in header.key_columns():
        values = split_cell(row.cell(column))
        if values:
            return values[0]
    return ""


# --------------------------------------------------------------------------------------------
# Writing a row into an item
# --------------------------------------------------------------------------------------------


def _resolve(item: Item, target: str) -> URIRef:
    return URIRef(f"{item.uri}{target}") if target.startswith("#") else URIRef(target)


def _same(obj: Embedded, position: Position, subs: Iterable[str]) -> bool:
    return all(set(obj.values.get(s, [])) == set(position.get(s, [])) for s in subs)


def _bare_match(value: Value, position: Position, f: Field) -> bool:
    """Whether a plain value of an embedded field (not an object) is what *position* shows:
    a lone literal in the first literal column, or a lone URI in the first URI column (as
    the CSV export writes such values)."""
    filled = {k: v for k, v in position.items() if v}
    if len(filled) != 1:
        return False
    ((name, values),) = filled.items()
    assert f.embedded is not None
    kind = "literal" if isinstance(value, Literal) else "uri"
    first = next((s for s in f.embedded.fields if s.name in f.headers and s.kind == kind), None)
    return first is not None and first.name == name and values == [value]


def _apply_embedded(
    item: Item,
    f: Field,
    subs: Sequence[str],
    positions: Sequence[Position],
    index: Mapping[int, str],
) -> None:
    assert f.embedded is not None
    current = item.values.get(f.name, [])
    objects = [v for v in current if isinstance(v, Embedded)]
    bare = [v for v in current if not isinstance(v, Embedded)]
    by_uri = {obj.uri: obj for obj in objects}
    claimed: set[int] = set()
    chosen: dict[int, Value] = {}
    used_uris: set[URIRef] = set()
    # Positions the INDEX names first, then the others by their values.
    for n, position in enumerate(positions):
        if n not in index or not any(position.values()):
            continue
        uri = _resolve(item, index[n])
        obj = by_uri.get(uri)
        if obj is None or id(obj) in claimed:
            obj = Embedded(uri=uri, cls=f.embedded, types=list(f.embedded_types))
        claimed.add(id(obj))
        used_uris.add(uri)
        for sub in subs:
            values = position.get(sub, [])
            if values:
                obj.values[sub] = list(values)
            else:
                obj.values.pop(sub, None)
        chosen[n] = obj
    for n, position in enumerate(positions):
        if n in chosen or not any(position.values()):
            continue
        match: Value | None = next(
            (
                o
                for o in objects
                if id(o) not in claimed and o.uri not in used_uris and _same(o, position, subs)
            ),
            None,
        )
        if match is not None:
            claimed.add(id(match))
        else:
            match = next(
                (b for b in bare if id(b) not in claimed and _bare_match(b, position, f)), None
            )
            if match is not None:
                claimed.add(id(match))
        if match is None:
            uri = URIRef(f"{item.uri}#{uuid.uuid4()}")
            obj = Embedded(uri=uri, cls=f.embedded, types=list(f.embedded_types))
            for sub in subs:
                if position.get(sub):
                    obj.values[sub] = list(position[sub])
            match = obj
        chosen[n] = match
    result = [chosen[n] for n in sorted(chosen)]
    if result:
        item.values[f.name] = result
    else:
        item.values.pop(f.name, None)


def apply_row(item: Item, header: Header, data: RowData) -> None:
    """Write *data* into *item*: each field with a column gets exactly the row's values (for
    an embedded field, the objects of the row's positions); fields without a column are left
    as they are. The item gets the model's rdf:types it lacks (as upstream's update does), so
    that an item written without `umd:Item` has it once a row updates it."""
    for t in header.model.types:
        if t not in item.types:
            item.types.append(t)
    for name, values in data.plain.items():
        if values:
            item.values[name] = list(values)
        else:
            item.values.pop(name, None)
    for name, subs in header.embedded.items():
        f = item.model.field(name)
        _apply_embedded(item, f, list(subs), data.embedded.get(name, []), data.index.get(name, {}))


def first_text(item: Item, name: str) -> str:
    """The first value of field *name* as text ("" when none, or no such field)."""
    if name not in item.model.field_names:
        return ""
    for value in item.values.get(name, []):
        if isinstance(value, Literal | URIRef):
            return str(value)
    return ""

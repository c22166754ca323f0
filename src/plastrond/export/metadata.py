"""The metadata files of an export: `metadata.ttl`, or one `<Model>_metadata.csv` per model.

Items finish in any order when they are fetched concurrently; each one's metadata is rendered
at once (`render`, in a worker thread), kept on disk in an `OrderedSpool`, and the files are
written at the end in the order of the request's URIs (`finish`). Memory holds three integers
per item, never the whole export.

The CSV follows `import-export.md` and upstream's export: the model's column labels in the
model's column order, a value's language written inline (`[@ja]東京`, as upstream writes it),
a column per datatype other than the field's own (`Date {EDTF}`) met among the values, right
after its plain column; embedded objects over parallel columns (objects separated by `;`,
values by `|`, both escaped with a backslash), `INDEX` with each position's hash URI; then the
system columns `URI`, `PUBLIC URI`, `CREATED`, `MODIFIED`, `INDEX`, `FILES`, `ITEM_FILES`,
`PUBLISH`, `HIDDEN` (`True`/`False`: whether the item has the access class). FILES entries are
`Label:<tag>path`: the page title, the usage tag a re-import needs to give the file its types.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

import attrs
from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from ..models import ContentModel, Embedded, Field, Item, ModelSet
from ..models.columns import SYSTEM_COLUMNS
from ..models.namespaces import FEDORA

__all__ = [
    "SYSTEM_COLUMNS",
    "CsvMetadata",
    "ExportedFile",
    "ItemRecord",
    "MetadataWriter",
    "OrderedSpool",
    "TurtleMetadata",
    "escape_value",
    "join_cell",
]

PUBLISHED: Final = URIRef("http://vocab.lib.umd.edu/access#Published")
HIDDEN: Final = URIRef("http://vocab.lib.umd.edu/access#Hidden")


@attrs.frozen
class ExportedFile:
    """One exported binary as FILES / ITEM_FILES name it: `Label:<tag>path`."""

    path: str
    #: the title of its page (FILES only)
    label: str | None = None
    #: usage tags (`preservation`, `ocr`, `metadata`)
    tags: Sequence[str] = ()

    def entry(self) -> str:
        label = "" if self.label is None else _escape_entry(self.label) + ":"
        tags = "".join(f"<{t}>" for t in self.tags)
        return f"{label}{tags}{_escape_entry(self.path)}"


def _escape_entry(text: str) -> str:
    escaped = escape_value(text, embedded=True).replace(":", "\\:")
    return "\\" + escaped if escaped.startswith("<") else escaped


@attrs.frozen
class ItemRecord:
    """What the metadata files say about one exported item."""

    uri: str
    graph: Graph
    #: FILES: the exported binaries of its pages, `<item dir>/<filename>`, in page order
    files: Sequence[str | ExportedFile] = ()
    #: ITEM_FILES: the exported binaries attached to the item itself
    item_files: Sequence[str | ExportedFile] = ()
    public_uri: str | None = None


class MetadataWriter(Protocol):
    content_type: str
    file_extension: str

    def render(self, record: ItemRecord) -> bytes:
        """The item's metadata as the spool keeps it (CPU-bound: call from a worker thread)."""
        ...

    def add(self, index: int, rendered: bytes) -> None:
        """Keep *rendered* as the metadata of the *index*-th URI (blocking file I/O)."""
        ...

    def finish(self, folder: Path) -> list[tuple[str, Path]]:
        """Write the metadata files into *folder*; their names in `data/` and their paths."""
        ...

    def close(self) -> None: ...


class OrderedSpool:
    """Byte blocks appended in any order to a scratch file, read back in index order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("w+b")
        self._size = 0
        self._index: list[tuple[int, int, int]] = []

    def __len__(self) -> int:
        return len(self._index)

    def add(self, index: int, data: bytes) -> None:
        self._file.seek(self._size)
        self._file.write(data)
        self._index.append((index, self._size, len(data)))
        self._size += len(data)

    def __iter__(self) -> Iterator[bytes]:
        self._file.flush()
        for _index, offset, length in sorted(self._index):
            self._file.seek(offset)
            yield self._file.read(length)

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Turtle
# --------------------------------------------------------------------------------------------

_PREFIX_LINE = re.compile(r"@prefix\s+([^:\s]*):\s*<([^>]*)>\s*\.\s*")


class TurtleMetadata:
    """`metadata.ttl`: every item's graph, one block per item, in request order.

    Each block is Turtle of its own; a prefix is declared once, before its first use, and again
    only when a later block binds it to another namespace (which Turtle allows anywhere).
    """

    content_type = "text/turtle"
    file_extension = ".ttl"
    filename = "metadata.ttl"

    def __init__(self, scratch: Path, prefixes: Mapping[str, str]) -> None:
        self.prefixes = dict(prefixes)
        self.spool = OrderedSpool(scratch / "metadata.ttl.spool")

    def render(self, record: ItemRecord) -> bytes:
        graph = Graph(bind_namespaces="core")
        for prefix, namespace in self.prefixes.items():
            graph.bind(prefix, namespace, override=True, replace=True)
        for triple in record.graph:
            graph.add(triple)
        text: str = graph.serialize(format="turtle")
        return text.encode("utf-8")

    def add(self, index: int, rendered: bytes) -> None:
        self.spool.add(index, rendered)

    def finish(self, folder: Path) -> list[tuple[str, Path]]:
        path = folder / self.filename
        declared: dict[str, str] = {}
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for block in self.spool:
                prefixes, body = _split_prefixes(block.decode("utf-8"))
                new = [(p, ns) for p, ns in prefixes if declared.get(p) != ns]
                for prefix, namespace in new:
                    declared[prefix] = namespace
                    out.write(f"@prefix {prefix}: <{namespace}> .\n")
                if new:
                    out.write("\n")
                out.write(body.strip("\n") + "\n\n")
        return [(self.filename, path)]

    def close(self) -> None:
        self.spool.close()


def _split_prefixes(text: str) -> tuple[list[tuple[str, str]], str]:
    prefixes: list[tuple[str, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _PREFIX_LINE.fullmatch(line)
        if m:
            prefixes.append((m.group(1), m.group(2)))
        elif line.strip():
            break
        i += 1
    return prefixes, "\n".join(lines[i:])


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def escape_value(value: str, *, embedded: bool = False) -> str:
    """*value* as one value of a cell: `\\`, `|` (and `;` in embedded columns) escaped."""
    value = value.replace("\\", "\\\\").replace("|", "\\|")
    return value.replace(";", "\\;") if embedded else value


def join_cell(values: Sequence[str]) -> str:
    return "|".join(escape_value(v) for v in values)


def _files_cell(files: Sequence[str | ExportedFile]) -> str:
    return ";".join(
        f.entry() if isinstance(f, ExportedFile) else escape_value(f, embedded=True) for f in files
    )


def _value_text(value: Literal | URIRef, *, embedded: bool = False) -> str:
    """A value as the CSV writes it, escaped: a literal's language inline (`[@ja]東京`), and
    a value that would read as an inline language escaped (`\\[@x]`)."""
    text = escape_value(str(value), embedded=embedded)
    if isinstance(value, Literal) and value.language:
        return f"[@{value.language}]{text}"
    if text.lstrip().startswith("[@"):
        return "\\" + text.lstrip()
    return text


@attrs.frozen
class _Column:
    """One CSV column: a label, and optionally the language or datatype it is for."""

    label: str
    suffix: str = ""

    @property
    def header(self) -> str:
        return f"{self.label} {self.suffix}" if self.suffix else self.label


class CsvMetadata:
    """One CSV per content model, the model told from each item's rdf:types."""

    content_type = "text/csv"
    file_extension = ".csv"
    #: the export reads each binary's description for its FILES usage tags
    wants_file_types = True

    def __init__(self, scratch: Path, models: ModelSet) -> None:
        self.models = models
        self.spool = OrderedSpool(scratch / "metadata.csv.spool")
        self._datatypes = {str(uri): name for name, uri in models.column_datatypes.items()}
        # The longest namespace first, so that a CURIE uses the most specific prefix.
        self._prefixes = sorted(
            ((ns, p) for p, ns in models.prefixes.items()), key=lambda pair: -len(pair[0])
        )

    # -- one item ---------------------------------------------------------------------------

    def render(self, record: ItemRecord) -> bytes:
        model, row = self.row(record)
        return json.dumps({"model": model.name, "row": row}, ensure_ascii=False).encode("utf-8")

    def row(self, record: ItemRecord) -> tuple[ContentModel, dict[str, str]]:
        """The item's model and its row: column header -> cell text (empty cells left out)."""
        subject = URIRef(record.uri)
        types = list(record.graph.objects(subject, URIRef(_RDF_TYPE)))
        model = self.models.detect(types)
        item = Item.from_graph(record.graph, record.uri, model)
        row: dict[str, str] = {}
        index: list[str] = []
        for f in model.fields:
            values = item.values.get(f.name, [])
            if f.kind == "embedded":
                self._embedded(f, values, row, index)
            elif f.header:
                cells: dict[str, list[str]] = {}
                for value in values:
                    if isinstance(value, Literal | URIRef):
                        column = self._column(f.header, f, value)
                        cells.setdefault(column.header, []).append(_value_text(value))
                for header, texts in cells.items():
                    _put(row, header, "|".join(texts))
        system = {
            "URI": record.uri,
            "PUBLIC URI": record.public_uri or "",
            "CREATED": _text(record.graph.value(subject, FEDORA.created)),
            "MODIFIED": _text(record.graph.value(subject, FEDORA.lastModified)),
            "INDEX": ";".join(index),
            "FILES": _files_cell(record.files),
            "ITEM_FILES": _files_cell(record.item_files),
            "PUBLISH": str(PUBLISHED in types),
            "HIDDEN": str(HIDDEN in types),
        }
        row.update({k: v for k, v in system.items() if v})
        return model, row

    def _embedded(
        self, f: Field, values: Sequence[object], row: dict[str, str], index: list[str]
    ) -> None:
        assert f.embedded is not None
        labels = f.headers
        # In the order the model lists the column labels.
        sub_fields = [f.embedded.field(name) for name in labels]
        if not sub_fields or not values:
            return
        first_literal = next((s for s in sub_fields if s.kind == "literal"), sub_fields[0])
        first_uri = next((s for s in sub_fields if s.kind == "uri"), None)
        # position -> column header -> the object's values in that column
        positions: list[dict[str, list[str]]] = []
        columns: list[str] = []
        for n, value in enumerate(values):
            cells: dict[str, list[str]] = {}
            if isinstance(value, Embedded):
                if isinstance(value.uri, URIRef) and "#" in value.uri:
                    index.append(f"{f.name}[{n}]=#{value.uri.split('#', 1)[1]}")
                for sub in sub_fields:
                    for v in value.values.get(sub.name, []):
                        if isinstance(v, Literal | URIRef):
                            header = self._column(labels[sub.name], sub, v).header
                            cells.setdefault(header, []).append(_value_text(v, embedded=True))
            elif isinstance(value, Literal):
                # A bare literal where an object was expected: shown as its label.
                header = self._column(labels[first_literal.name], first_literal, value).header
                cells.setdefault(header, []).append(_value_text(value, embedded=True))
            elif isinstance(value, URIRef) and first_uri is not None:
                cells.setdefault(labels[first_uri.name], []).append(
                    _value_text(value, embedded=True)
                )
            for header in cells:
                if header not in columns:
                    columns.append(header)
            positions.append(cells)
        for header in columns:
            cell = ";".join("|".join(cells.get(header, [])) for cells in positions)
            _put(row, header, cell)

    def _column(self, label: str, f: Field, value: Literal | URIRef) -> _Column:
        """The column of *value*: the plain one (languages are written inline), or one for a
        datatype that is not the field's own."""
        if (
            isinstance(value, Literal)
            and not value.language
            and value.datatype is not None
            and value.datatype != f.datatype
        ):
            return _Column(label, "{" + self._datatype_name(value.datatype) + "}")
        return _Column(label)

    def _datatype_name(self, datatype: URIRef) -> str:
        name = self._datatypes.get(str(datatype))
        if name is not None:
            return name
        for namespace, prefix in self._prefixes:
            local = str(datatype)[len(namespace) :]
            if str(datatype).startswith(namespace) and local and re.fullmatch(r"[\w.-]+", local):
                return f"{prefix}:{local}"
        return str(datatype)

    # -- the files --------------------------------------------------------------------------

    def add(self, index: int, rendered: bytes) -> None:
        self.spool.add(index, rendered)

    def finish(self, folder: Path) -> list[tuple[str, Path]]:
        # First pass: which models have rows, and the columns each one needs.
        seen: dict[str, set[str]] = {}
        for block in self.spool:
            entry = json.loads(block)
            seen.setdefault(entry["model"], set()).update(entry["row"])
        files: list[tuple[str, Path]] = []
        writers: dict[str, tuple[io.TextIOWrapper, csv.DictWriter[str]]] = {}
        try:
            for name, used in seen.items():
                headers = self.headers(self.models.get(name), used)
                path = folder / f"{name}_metadata.csv"
                out = path.open("w", encoding="utf-8", newline="")
                writer = csv.DictWriter(out, headers, extrasaction="ignore")
                writer.writeheader()
                writers[name] = (out, writer)
                files.append((path.name, path))
            for block in self.spool:
                entry = json.loads(block)
                writers[entry["model"]][1].writerow(entry["row"])
        finally:
            for out, _writer in writers.values():
                out.close()
        return files

    def headers(self, model: ContentModel, used: set[str]) -> list[str]:
        """Every column of *model*'s CSV: each label, its language and datatype variants found
        among the rows (*used*) sorted after it, then the system columns."""
        headers: list[str] = []
        for label in model.columns:
            if label in headers:
                continue
            headers.append(label)
            headers.extend(sorted(h for h in used if _variant_of(h, label)))
        headers.extend(SYSTEM_COLUMNS)
        return headers

    def close(self) -> None:
        self.spool.close()


_RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _variant_of(header: str, label: str) -> bool:
    if not header.startswith(label + " ") or len(header) <= len(label) + 2:
        return False
    rest = header[len(label) + 1 :]
    return (rest[0], rest[-1]) in (("[", "]"), ("{", "}"))


def _put(row: dict[str, str], header: str, cell: str) -> None:
    if not cell.strip(";"):
        return
    row[header] = f"{row[header]}|{cell}" if header in row else cell


def _text(node: Node | None) -> str:
    return "" if node is None else str(node)

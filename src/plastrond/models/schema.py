"""Content models as data: the YAML files, read into immutable values.

`load_models(extra_dir)` reads the models shipped in `data/content-models.yml`, then every
`*.yml` / `*.yaml` file in *extra_dir* (name order). A later file may add prefixes, embedded
classes, vocabulary copies and models, or replace any of them by name. Any problem is a
`ModelError` whose message names the file and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from rdflib import URIRef

from ..errors import PlastronError
from ..yamlfile import read_yaml

__all__ = [
    "DATA_DIR",
    "KINDS",
    "RULES",
    "ContentModel",
    "EmbeddedClass",
    "Field",
    "ModelError",
    "ModelSet",
    "Rule",
    "UnknownModel",
    "load_models",
    "models_signature",
]

#: where the shipped models and vocabulary copies live
DATA_DIR: Final = Path(__file__).resolve().parent / "data"
SHIPPED: Final = DATA_DIR / "content-models.yml"

KINDS: Final = ("literal", "uri", "embedded")
#: rule name -> the type of its argument
RULES: Final[Mapping[str, type]] = {
    "required": bool,
    "exactly": int,
    "max_values": int,
    "from_vocabulary": str,
    "value_pattern": str,
    "edtf": bool,
    "iso639": bool,
    "handle": bool,
}
_FIELD_KEYS: Final = frozenset(
    {"predicate", "kind", "datatype", "class", "class_type", "header", "headers", "rules"}
)
_CLASS_KEYS: Final = frozenset({"types", "fields", "extends", "checked"})
_MODEL_KEYS: Final = frozenset({"types", "detect", "fields", "column_order"})
_TOP_KEYS: Final = frozenset(
    {
        "prefixes",
        "classes",
        "models",
        "default_model",
        "vocabularies",
        "column_languages",
        "column_datatypes",
        "detection",
    }
)
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ModelError(PlastronError):
    """A content model file is wrong; the message names the file and the key."""


class UnknownModel(ModelError):
    """No content model has the name asked for."""


@attrs.frozen
class Rule:
    """One validation rule of a field: its name (a key of `RULES`) and its argument."""

    name: str
    argument: bool | int | str


@attrs.frozen
class Field:
    """One field of a model or embedded class."""

    name: str
    predicate: URIRef
    kind: str
    datatype: URIRef | None = None
    #: for kind "embedded": the class of the objects, and the rdf:types they get
    embedded: EmbeddedClass | None = None
    embedded_types: tuple[URIRef, ...] = ()
    #: the CSV column label; for embedded fields, one label per field of the class
    header: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    rules: tuple[Rule, ...] = ()

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


@attrs.frozen
class EmbeddedClass:
    """The shape of an embedded (hash-URI) object, such as a creator with a label."""

    name: str
    types: tuple[URIRef, ...]
    fields: tuple[Field, ...]
    #: whether validation applies the rules of its fields to each object (`checked: false`:
    #: the rules are declared only, as upstream declares its embedded classes' rules and never
    #: checks them)
    checked: bool = True

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@attrs.frozen
class ContentModel:
    """A content model: the rdf:types of its resources and their fields."""

    name: str
    types: tuple[URIRef, ...]
    detect: tuple[URIRef, ...]
    fields: tuple[Field, ...]
    #: other keys of the model's definition (e.g. `page_title_rule`), as written
    notes: Mapping[str, Any] = attrs.field(factory=dict)
    #: the file that defined it
    source: str = ""
    #: the CSV column labels in export order (`column_order`, else field order)
    column_order: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Every CSV column label of the model, in field order (an embedded field's labels in
        the order its `headers` lists them)."""
        found: list[str] = []
        for f in self.fields:
            names = f.headers.values() if f.kind == "embedded" else [f.header] if f.header else []
            found.extend(n for n in names if n not in found)
        return tuple(found)

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV column labels in export order."""
        return self.column_order or self.labels

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def vocabularies(self) -> frozenset[str]:
        """The vocabulary IRIs its `from_vocabulary` rules name (those of embedded classes
        whose rules are checked included)."""
        found: set[str] = set()
        pending: list[Field] = list(self.fields)
        seen: set[str] = set()
        while pending:
            f = pending.pop()
            rule = f.rule("from_vocabulary")
            if rule is not None:
                found.add(str(rule.argument))
            if f.embedded is not None and f.embedded.checked and f.embedded.name not in seen:
                seen.add(f.embedded.name)
                pending.extend(f.embedded.fields)
        return frozenset(found)


@attrs.frozen
class ModelSet:
    """Every content model known, with what the model files declare besides."""

    models: Mapping[str, ContentModel]
    classes: Mapping[str, EmbeddedClass]
    prefixes: Mapping[str, str]
    default_model: str
    #: vocabulary IRI -> where a copy is (an absolute file path or a URL)
    vocabularies: Mapping[str, str]
    column_languages: Mapping[str, str]
    column_datatypes: Mapping[str, URIRef]
    #: (rdf:type, model name) in the order they are checked when exporting
    detection: tuple[tuple[URIRef, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def get(self, name: str) -> ContentModel:
        """The model called *name* (case-insensitive), or `UnknownModel`."""
        wanted = name.strip()
        model = self.models.get(wanted)
        if model is None:
            model = next((m for n, m in self.models.items() if n.lower() == wanted.lower()), None)
        if model is None:
            known = ", ".join(self.models)
            raise UnknownModel(f"unknown content model {name!r} (known: {known})")
        return model

    def detect(self, types: Iterable[object]) -> ContentModel:
        """The model of a resource with these rdf:types: the first row of `detection` whose
        type it has (upstream's order: umd:Issue, umd:Item, bibo:Image, bibo:Issue,
        bibo:Letter), else the default model."""
        present = {str(t) for t in types}
        for rdf_type, name in self.detection:
            if str(rdf_type) in present and name in self.models:
                return self.models[name]
        return self.models[self.default_model]

    def expand(self, name: str) -> URIRef:
        """A CURIE (`dcterms:title`), `<IRI>` or plain absolute IRI as a URIRef."""
        return URIRef(_expand(name.strip(), self.prefixes, "a term"))


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def model_files(extra_dir: Path | None) -> list[Path]:
    """The files `load_models` reads, in order."""
    files = [SHIPPED]
    if extra_dir is not None:
        try:
            entries = sorted(extra_dir.iterdir())
        except FileNotFoundError:
            raise ModelError(f"{extra_dir}: content model folder not found") from None
        except NotADirectoryError:
            raise ModelError(f"{extra_dir}: not a folder of content model files") from None
        except PermissionError:
            raise ModelError(f"{extra_dir}: permission denied reading the folder") from None
        files += [p for p in entries if p.suffix in (".yml", ".yaml") and p.is_file()]
    return files


def models_signature(extra_dir: Path | None) -> tuple[tuple[str, int, int], ...]:
    """What changes when a model file changes (name, size, mtime), to know when to reload."""
    result = []
    for path in model_files(extra_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        result.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(result)


def load_models(extra_dir: str | os.PathLike[str] | None = None) -> ModelSet:
    """Read the shipped models and those in *extra_dir* (blocking: call it in a thread)."""
    documents = [
        (path, _read(path))
        for path in model_files(Path(extra_dir) if extra_dir is not None else None)
    ]
    prefixes: dict[str, str] = {}
    vocabularies: dict[str, str] = {}
    languages: dict[str, str] = {}
    datatypes_raw: list[tuple[Path, str, str]] = []
    class_defs: dict[str, tuple[Path, Any]] = {}
    model_defs: dict[str, tuple[Path, Any]] = {}
    default_model: tuple[Path, str] | None = None
    detection_raw: list[tuple[Path, list[tuple[str, str]]]] = []
    for path, doc in documents:
        for key in doc:
            if key not in _TOP_KEYS:
                raise ModelError(
                    f"{path}: unknown key {key!r} (expected one of {_known(_TOP_KEYS)})"
                )
        for prefix, iri in _mapping(doc, "prefixes", path).items():
            if not isinstance(iri, str) or not iri.startswith(("http://", "https://", "urn:")):
                raise ModelError(f"{path}: prefixes.{prefix}: expected an IRI, got {iri!r}")
            prefixes[str(prefix)] = iri
        for iri, location in _mapping(doc, "vocabularies", path).items():
            if not isinstance(location, str) or not location.strip():
                raise ModelError(f"{path}: vocabularies.{iri}: expected a file or URL")
            vocabularies[str(iri)] = _locate(location.strip(), path)
        for label, code in _mapping(doc, "column_languages", path).items():
            languages[str(label)] = str(code)
        for label, datatype in _mapping(doc, "column_datatypes", path).items():
            datatypes_raw.append((path, str(label), str(datatype)))
        for name, definition in _mapping(doc, "classes", path).items():
            class_defs[str(name)] = (path, definition)
        for name, definition in _mapping(doc, "models", path).items():
            model_defs[str(name)] = (path, definition)
        if "default_model" in doc:
            default_model = (path, str(doc["default_model"]))
        detection_raw.append((path, _detection_rows(doc.get("detection"), path)))

    classes: dict[str, EmbeddedClass] = {}
    for name in class_defs:
        _build_class(name, class_defs, classes, prefixes, ())
    models: dict[str, ContentModel] = {}
    for name, (path, definition) in model_defs.items():
        models[name] = _build_model(name, definition, path, classes, prefixes)
    if not models:
        raise ModelError(f"{SHIPPED}: no content models defined")
    if default_model is None:
        default = next(iter(models))
    else:
        where, default = default_model
        if default not in models:
            raise ModelError(f"{where}: default_model: no model named {default!r}")
    datatypes = {
        label: URIRef(_expand(value, prefixes, f"{path}: column_datatypes.{label}"))
        for path, label, value in datatypes_raw
    }
    detection: list[tuple[URIRef, str]] = []
    # A later file's rows are checked first, so that a model it adds can claim a type.
    for path, rows in reversed(detection_raw):
        for n, (rdf_type, name) in enumerate(rows):
            if name not in models:
                raise ModelError(f"{path}: detection[{n}]: no model named {name!r}")
            detection.append((URIRef(_expand(rdf_type, prefixes, f"{path}: detection")), name))
    # Models that name `detect` types of their own come after the table.
    for model in models.values():
        detection.extend((t, model.name) for t in model.detect)
    return ModelSet(
        models=models,
        classes=classes,
        prefixes=prefixes,
        default_model=default,
        vocabularies=vocabularies,
        column_languages=languages,
        column_datatypes=datatypes,
        detection=tuple(detection),
    )


def _detection_rows(value: Any, path: Path) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ModelError(f"{path}: detection: expected a list of {{type: CURIE, model: Name}}")
    rows = []
    for n, row in enumerate(value):
        if (
            not isinstance(row, dict)
            or set(row) != {"type", "model"}
            or not all(isinstance(v, str) for v in row.values())
        ):
            raise ModelError(f"{path}: detection[{n}]: expected {{type: CURIE, model: Name}}")
        rows.append((row["type"], row["model"]))
    return rows


def _read(path: Path) -> Mapping[str, Any]:
    data = read_yaml(path, "content model file", ModelError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a mapping at the top level")
    return data


def _mapping(doc: Mapping[str, Any], key: str, path: Path) -> Mapping[Any, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelError(f"{path}: {key}: expected a mapping")
    return value


def _known(keys: Iterable[str]) -> str:
    return ", ".join(sorted(keys))


def _locate(location: str, path: Path) -> str:
    if location.startswith(("http://", "https://")):
        return location
    file = Path(location)
    return str(file if file.is_absolute() else (path.parent / file).resolve())


def _expand(name: str, prefixes: Mapping[str, str], where: str) -> str:
    if name.startswith("<") and name.endswith(">"):
        return name[1:-1]
    if name.startswith(("http://", "https://", "urn:")):
        return name
    prefix, sep, local = name.partition(":")
    if not sep:
        raise ModelError(f"{where}: expected a CURIE or IRI, got {name!r}")
    try:
        return prefixes[prefix] + local
    except KeyError:
        raise ModelError(f"{where}: unknown prefix {prefix!r} in {name!r}") from None


def _terms(value: Any, prefixes: Mapping[str, str], where: str) -> tuple[URIRef, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise ModelError(f"{where}: expected a CURIE or a list of them")
    return tuple(URIRef(_expand(v, prefixes, where)) for v in items)


def _build_class(
    name: str,
    defs: Mapping[str, tuple[Path, Any]],
    built: dict[str, EmbeddedClass],
    prefixes: Mapping[str, str],
    chain: tuple[str, ...],
) -> EmbeddedClass:
    if name in built:
        return built[name]
    path, definition = defs[name]
    where = f"{path}: classes.{name}"
    if name in chain:
        raise ModelError(f"{where}: extends itself ({' -> '.join((*chain, name))})")
    if not isinstance(definition, dict):
        raise ModelError(f"{where}: expected a mapping")
    _check_keys(definition, _CLASS_KEYS, where)
    types: tuple[URIRef, ...] = ()
    fields: dict[str, Field] = {}
    checked = True
    parent = definition.get("extends")
    if parent is not None:
        if parent not in defs:
            raise ModelError(f"{where}.extends: no class named {parent!r}")
        base = _build_class(str(parent), defs, built, prefixes, (*chain, name))
        types = base.types
        fields = {f.name: f for f in base.fields}
        checked = base.checked
    types = _terms(definition.get("types"), prefixes, f"{where}.types") or types
    if "checked" in definition:
        checked = definition["checked"]
        if not isinstance(checked, bool):
            raise ModelError(f"{where}.checked: expected true or false, not {checked!r}")
    for field in _build_fields(definition.get("fields"), where, _Scope(built, prefixes, defs)):
        fields[field.name] = field
    result = EmbeddedClass(name=name, types=types, fields=tuple(fields.values()), checked=checked)
    built[name] = result
    return result


def _named_mapping(what: str, name: str, definition: Any, where: str) -> dict[str, Any]:
    """The definition of the model or field *name*, checked: a good name, a mapping."""
    if not _NAME.fullmatch(name):
        raise ModelError(f"{where}: a {what} name is letters, digits and underscores")
    if not isinstance(definition, dict):
        raise ModelError(f"{where}: expected a mapping")
    return definition


def _build_model(
    name: str,
    definition: Any,
    path: Path,
    classes: Mapping[str, EmbeddedClass],
    prefixes: Mapping[str, str],
) -> ContentModel:
    where = f"{path}: models.{name}"
    definition = _named_mapping("model", name, definition, where)
    types = _terms(definition.get("types"), prefixes, f"{where}.types")
    detect = _terms(definition.get("detect"), prefixes, f"{where}.detect")
    fields = _build_fields(definition.get("fields"), where, _Scope(classes, prefixes))
    notes = {k: v for k, v in definition.items() if k not in _MODEL_KEYS}
    model = ContentModel(
        name=name, types=types, detect=detect, fields=fields, notes=notes, source=str(path)
    )
    order = definition.get("column_order")
    if order is None:
        return model
    if not isinstance(order, list) or not all(isinstance(c, str) for c in order):
        raise ModelError(f"{where}.column_order: expected a list of column labels")
    labels = set(model.labels)
    unknown = [c for c in order if c not in labels]
    if unknown:
        raise ModelError(f"{where}.column_order: {unknown[0]!r} is no column of the model")
    missing = [c for c in model.labels if c not in order]
    if missing or len(set(order)) != len(order):
        what = f"lacks {missing[0]!r}" if missing else "names a column twice"
        raise ModelError(f"{where}.column_order: {what}")
    return attrs.evolve(model, column_order=tuple(order))


@attrs.frozen
class _Scope:
    """What a field definition may name: the classes built so far, the prefixes, and (while
    classes are built) every class definition, to tell a class that embeds a class."""

    classes: Mapping[str, EmbeddedClass]
    prefixes: Mapping[str, str]
    class_defs: Mapping[str, tuple[Path, Any]] | None = None


def _build_fields(value: Any, where: str, scope: _Scope) -> tuple[Field, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ModelError(f"{where}.fields: expected a mapping of field names")
    fields = [_build_field(str(n), d, f"{where}.fields.{n}", scope) for n, d in value.items()]
    _check_predicates(fields, where)
    return tuple(fields)


def _build_field(name: str, definition: Any, where: str, scope: _Scope) -> Field:
    classes, prefixes, class_defs = scope.classes, scope.prefixes, scope.class_defs
    definition = _named_mapping("field", name, definition, where)
    _check_keys(definition, _FIELD_KEYS, where)
    predicate = definition.get("predicate")
    if not isinstance(predicate, str):
        raise ModelError(f"{where}: missing predicate")
    kind = definition.get("kind", "literal")
    if kind not in KINDS:
        raise ModelError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    datatype = None
    if definition.get("datatype") is not None:
        if kind != "literal":
            raise ModelError(f"{where}.datatype: only literal fields have a datatype")
        datatype = URIRef(_expand(str(definition["datatype"]), prefixes, f"{where}.datatype"))
    embedded = None
    embedded_types: tuple[URIRef, ...] = ()
    if kind == "embedded":
        class_name = definition.get("class")
        if not isinstance(class_name, str):
            raise ModelError(f"{where}: an embedded field names its class")
        embedded = classes.get(class_name)
        if embedded is None and class_defs is not None and class_name in class_defs:
            raise ModelError(f"{where}.class: classes cannot embed other classes")
        if embedded is None:
            raise ModelError(f"{where}.class: no class named {class_name!r}")
        embedded_types = embedded.types + tuple(
            t
            for t in _terms(definition.get("class_type"), prefixes, f"{where}.class_type")
            if t not in embedded.types
        )
    elif "class" in definition or "class_type" in definition:
        raise ModelError(f"{where}: only embedded fields have a class")
    header = definition.get("header")
    headers = definition.get("headers") or {}
    if header is not None and not isinstance(header, str):
        raise ModelError(f"{where}.header: expected a column label")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ModelError(f"{where}.headers: expected field name -> column label")
    if embedded is not None:
        for sub in headers:
            if sub not in {f.name for f in embedded.fields}:
                raise ModelError(f"{where}.headers: class {embedded.name} has no field {sub!r}")
    return Field(
        name=name,
        predicate=URIRef(_expand(predicate, prefixes, f"{where}.predicate")),
        kind=kind,
        datatype=datatype,
        embedded=embedded,
        embedded_types=embedded_types,
        header=header,
        headers={str(k): v for k, v in headers.items()},
        rules=_build_rules(definition.get("rules"), f"{where}.rules"),
    )


def _build_rules(value: Any, where: str) -> tuple[Rule, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ModelError(f"{where}: expected a mapping of rule names")
    rules = []
    for name, argument in value.items():
        expected = RULES.get(name)
        if expected is None:
            raise ModelError(f"{where}: unknown rule {name!r} (known: {_known(RULES)})")
        if expected is int:
            if isinstance(argument, bool) or not isinstance(argument, int) or argument < 0:
                raise ModelError(f"{where}.{name}: expected a whole number, got {argument!r}")
        elif expected is bool:
            if not isinstance(argument, bool):
                raise ModelError(f"{where}.{name}: expected true or false, got {argument!r}")
            if not argument:
                continue  # a rule switched off
        elif not isinstance(argument, str) or not argument:
            raise ModelError(f"{where}.{name}: expected a string, got {argument!r}")
        if name == "value_pattern":
            try:
                re.compile(str(argument))
            except re.error as e:
                raise ModelError(f"{where}.value_pattern: not a regular expression: {e}") from None
        if name == "from_vocabulary" and not str(argument).startswith(("http://", "https://")):
            raise ModelError(f"{where}.from_vocabulary: expected an http(s) IRI")
        rules.append(Rule(name=name, argument=argument))
    return tuple(rules)


def _check_keys(definition: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in definition:
        if key not in allowed:
            raise ModelError(f"{where}: unknown key {key!r} (expected one of {_known(allowed)})")


def _check_predicates(fields: list[Field], where: str) -> None:
    """Fields that share a predicate must be told apart: by kind, or by datatype."""
    seen: dict[tuple[URIRef, str, URIRef | None], str] = {}
    for f in fields:
        key = (f.predicate, f.kind, f.datatype)
        if key in seen:
            raise ModelError(
                f"{where}.fields.{f.name}: shares predicate {f.predicate} with {seen[key]}; "
                "give one of them a datatype"
            )
        seen[key] = f.name

"""What a new Fedora 4.7 is primed with covers every term plastrond writes.

Each test writes items the way the import does (a CSV read as the import reads it, every
column of every model filled, planned with pages, files and proxies) or publishes, and checks
every predicate, rdf:type and literal datatype of what would be written against the prime
(`plastrond.priming.terms`): a model, a column or a piece of structure that writes a term
the prime misses fails here.
"""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path

import attrs
import trio
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from plastrond.config import ContentModelsConfig
from plastrond.imports.items import plan_item
from plastrond.imports.metadata import apply_row, read_metadata, read_row
from plastrond.models import ContentModel, Item, ModelSet, load_models
from plastrond.priming import terms
from plastrond.publication import HIDDEN, PUBLISHED
from plastrond.repository import prime_graph_pairs
from tests.support.imports import DATA, import_config

CONTAINER = "http://repo.example/rest/pcdm"
ITEM = f"{CONTAINER}/ab/cd/ef/01/abcdef01-0000"


def prime_of(tmp_path: Path, models_dir: Path | None = None) -> Graph:
    config = import_config(tmp_path)
    if models_dir is not None:
        config = attrs.evolve(config, content_models=ContentModelsConfig(dir=models_dir))
    graph = trio.run(terms, config)
    assert graph is not None
    return graph


def every_column(model: ContentModel) -> str:
    """A CSV of one row with a value in every column of *model* (and FILES, ITEM_FILES)."""
    header: list[str] = []
    row: list[str] = []
    for f in model.fields:
        pairs = (
            [(label, f.embedded.field(sub)) for sub, label in f.headers.items()]
            if f.kind == "embedded" and f.embedded is not None
            else [(f.header, f)]
            if f.header
            else []
        )
        for label, target in pairs:
            if label in header:
                continue
            header.append(label)
            row.append("http://example.org/v" if target.kind == "uri" else "v")
    header += ["FILES", "ITEM_FILES"]
    row += ["p1.tif;p1.jpg;p2.jpg<ocr>", "notes.txt<metadata>"]
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    return out.getvalue()


def imported(text: str, model: ContentModel, models: ModelSet) -> Graph:
    """Every triple the import would write for the rows of *text* (as `write_item` does)."""
    metadata = read_metadata(text, model, models)
    written = Graph()
    for n, source in enumerate(metadata.rows):
        item = Item.new(f"{ITEM}{n}", model)
        data = read_row(metadata.header, source)
        apply_row(item, metadata.header, data)
        plan = plan_item(item, data, access=PUBLISHED, member_of=f"{CONTAINER}/collection")
        parts = [plan.graph, plan.links]
        for page in plan.pages:
            parts += [page.graph, plan.page_links(page), *(f.graph for f in page.files)]
        parts += [f.graph for f in plan.item_files]
        for proxy in plan.proxies:
            parts += [proxy.graph, plan.proxy_links(proxy)]
        for part in parts:
            for triple in part:
                written.add(triple)
    return written


def missing(written: Graph, prime: Graph) -> list[str]:
    """The terms of *written* that *prime* lacks: predicates, rdf:types, literal datatypes."""
    pairs = prime_graph_pairs(prime)
    predicates = {p for p, _ in pairs}
    datatypes = {o.datatype for _, o in pairs if isinstance(o, Literal) and o.datatype}
    found = set()
    for _, p, o in written:
        if p not in predicates:
            found.add(f"predicate {p}")
        if p == RDF.type and (p, o) not in pairs:
            found.add(f"type {o}")
        if isinstance(o, Literal) and o.datatype is not None and o.datatype not in datatypes:
            found.add(f"datatype {o.datatype}")
    return sorted(found)


def test_the_shipped_models_every_column_filled_are_primed(tmp_path: Path) -> None:
    models = load_models()
    prime = prime_of(tmp_path)
    for model in models.models.values():
        written = imported(every_column(model), model, models)
        assert len(written) > 20, model.name
        assert missing(written, prime) == [], model.name


def test_the_test_csvs_with_languages_and_datatypes_are_primed(tmp_path: Path) -> None:
    models = load_models()
    prime = prime_of(tmp_path)
    for name in ("Item", "Issue", "Letter", "Poster"):
        model = models.get(name)
        text = (DATA / f"{name}.csv").read_text(encoding="utf-8")
        header, _, rest = text.partition("\n")
        text = f"{header},Title [Japanese],Date {{EDTF}}\n" + "".join(
            f"{line},[@ja-Latn]Tokyo,1950~\n" for line in rest.splitlines() if line
        )
        written = imported(text, model, models)
        assert missing(written, prime) == [], name
    primed = {
        o.language.lower()
        for _, o in prime_graph_pairs(prime)
        if isinstance(o, Literal) and o.language
    }
    assert {"ja", "ja-latn"} <= primed  # the column languages of content-models.yml


def test_publication_is_primed(tmp_path: Path) -> None:
    from plastrond.publication import _sparql

    prime = prime_of(tmp_path)
    update = _sparql(ITEM, [PUBLISHED, HIDDEN], [], "hdl:1903.1/5")
    written = Graph()
    written.update(update.replace(f"<{ITEM}>", "<http://repo.example/x>"))
    assert len(written) == 3
    assert missing(written, prime) == []


def test_a_model_added_to_the_folder_is_primed_with_its_own_terms(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "10-map.yml").write_text(
        textwrap.dedent(
            """\
            prefixes:
              ex: http://example.org/ns#
            classes:
              person:
                extends: labeled_thing
                types: [ex:Person]
                fields:
                  born: {predicate: ex:born, kind: literal, datatype: ex:year}
            models:
              Map:
                types: [pcdm:Object, ex:Map]
                detect: [ex:Map]
                fields:
                  title: {predicate: dcterms:title, kind: literal, header: Title}
                  maker: {predicate: ex:maker, kind: embedded, class: person,
                          headers: {label: Maker, born: Maker Born}}
                  scale: {predicate: ex:scale, kind: literal, header: Scale}
            """
        ),
        encoding="utf-8",
    )
    before = prime_of(tmp_path / "a")
    after = prime_of(tmp_path / "b", folder)
    models = load_models(folder)
    model = models.get("Map")
    written = imported(every_column(model), model, models)
    ex = "http://example.org/ns#"
    assert set(missing(written, before)) >= {
        f"predicate {ex}maker",
        f"predicate {ex}born",
        f"predicate {ex}scale",
        f"type {ex}Map",
        f"type {ex}Person",
    }
    assert missing(written, after) == []
    assert (URIRef(""), RDF.type, URIRef(ex + "Person")) in after

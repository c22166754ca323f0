"""Validation rules, one by one, and vocabularies fetched from a loopback HTTP server."""

from __future__ import annotations

import json
import textwrap

import pytest
import trio
from rdflib import Literal, URIRef

from plastrond.models import (
    Item,
    Outcome,
    VocabularyCache,
    VocabularyError,
    check,
    is_handle,
    is_iso639,
    load_models,
    validate,
)

MODELS = load_models()
URI = "http://repo.example/rest/item"
DCMITYPE = "http://purl.org/dc/dcmitype/"
RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#"
FORM = "http://vocab.lib.umd.edu/form#"
COLLECTION = "http://vocab.lib.umd.edu/collection#"
TERMS = {
    DCMITYPE: frozenset({DCMITYPE + "Text", DCMITYPE + "Image"}),
    RIGHTS: frozenset({RIGHTS + "InC", RIGHTS + "NoC-US"}),
    FORM: frozenset({FORM + "letters", FORM + "pool_reports"}),
    COLLECTION: frozenset({COLLECTION + "0051-MDHC"}),
}


def valid_item() -> Item:
    item = Item.new(URI, MODELS.get("Item"))
    item.add("object_type", DCMITYPE + "Text")
    item.add("identifier", "umd-1")
    item.add("rights", RIGHTS + "InC")
    item.add("title", "A title", lang="en")
    item.add("date", "1945-03~")
    item.add("language", "en")
    item.add("handle", "hdl:1903.1/123")
    item.embed("creator", "c1", label="Jane Doe")
    return item


def outcome(result, field: str, rule: str) -> Outcome:
    (found,) = [o for o in result.outcomes if o.field == field and o.rule == rule]
    return found


def test_a_valid_item_passes_every_rule():
    result = check(valid_item(), TERMS)
    assert result.is_valid, result.reasons()
    assert result.failed() == [] and result.reasons() == []
    assert outcome(result, "title", "exactly") == Outcome("title", "passed", "exactly", 1)
    # one outcome per rule of each field, in the model's order
    assert [o.field for o in result.outcomes][:4] == [
        "object_type",
        "object_type",
        "identifier",
        "rights",
    ]


def test_reasons_are_in_the_form_archelon_parses():
    item = valid_item()
    item.values["title"] = []
    item.add("date", "1950")
    result = check(item, TERMS)
    assert not result.is_valid
    assert result.reasons() == [
        "('title', 'failed', 'exactly', '1')",
        "('date', 'failed', 'max_values', '1')",
    ]
    assert outcome(result, "date", "edtf").reason() == "('date', 'passed', 'edtf', 'true')"
    assert outcome(result, "title", "exactly").as_list() == ["title", "failed", "exactly", 1]


@pytest.mark.parametrize(
    ("values", "passed"), [([], False), (["   "], False), (["id"], True), (["a", "b"], True)]
)
def test_required(values, passed):
    item = valid_item()
    item.values["identifier"] = [Literal(v) for v in values]
    assert outcome(check(item, TERMS), "identifier", "required").passed is passed


@pytest.mark.parametrize(("count", "passed"), [(0, False), (1, True), (2, False)])
def test_exactly(count, passed):
    item = valid_item()
    item.values["title"] = [Literal(f"t{i}") for i in range(count)]
    assert outcome(check(item, TERMS), "title", "exactly").passed is passed


@pytest.mark.parametrize(("count", "passed"), [(0, True), (1, True), (2, False)])
def test_max_values(count, passed):
    item = valid_item()
    item.values["description"] = [Literal(f"d{i}") for i in range(count)]
    assert outcome(check(item, TERMS), "description", "max_values").passed is passed


@pytest.mark.parametrize(
    ("values", "passed"),
    [
        ([], True),
        ([FORM + "letters"], True),
        ([FORM + "letters", FORM + "pool_reports"], True),
        ([FORM + "letters", FORM + "nope"], False),
        (["http://elsewhere.example/letters"], False),
    ],
)
def test_from_vocabulary(values, passed):
    item = valid_item()
    item.values["format"] = [URIRef(v) for v in values]
    result = check(item, TERMS)
    assert outcome(result, "format", "from_vocabulary") == Outcome(
        "format", "passed" if passed else "failed", "from_vocabulary", FORM
    )


@pytest.mark.parametrize(
    ("value", "passed"),
    [("1862-04-12", True), ("1862-4-12", False), ("1862-04", False), ("x1862-04-12", False)],
)
def test_value_pattern(value, passed):
    item = Item.new(URI, MODELS.get("Issue"))
    item.add("date", value)
    assert outcome(check(item), "date", "value_pattern").passed is passed


@pytest.mark.parametrize(
    ("value", "passed"),
    [
        ("1945", True),
        ("1945-03-12/1945-04", True),
        ("194X", True),
        ("March 1945", False),
        ("1945-02-30", False),
    ],
)
def test_edtf(value, passed):
    item = valid_item()
    item.values["date"] = [Literal(value)]
    assert outcome(check(item, TERMS), "date", "edtf").passed is passed


@pytest.mark.parametrize(
    ("value", "passed"),
    [
        ("en", True),
        ("eng", True),
        ("ja", True),
        ("ger", True),  # ISO 639-2/B
        ("deu", True),  # ISO 639-2/T
        ("ase", True),  # ISO 639-3 (American Sign Language)
        ("und", True),
        ("qab", True),  # local use
        ("EN", False),
        ("english", False),
        ("xx", False),
        ("en-US", False),
        ("", False),  # a blank is no language code (upstream's Language.match rejects it)
    ],
)
def test_iso639(value, passed):
    item = valid_item()
    item.values["language"] = [Literal(value)]
    assert outcome(check(item, TERMS), "language", "iso639").passed is passed
    if value:
        assert is_iso639(value) is passed


@pytest.mark.parametrize(
    ("value", "passed"),
    [
        ("hdl:1903.1/123", True),
        ("1903.1/123", False),  # upstream: a handle URI starts with hdl:
        ("hdl:1903.1/abc-def_1", True),
        ("hdl:10.1000/182", True),
        ("hdl:1903.1", False),
        ("1903.1/", False),
        ("/123", False),
        ("hdl:1903.1/12 3", True),  # upstream checks the start only
        ("https://hdl.handle.net/1903.1/123", False),
    ],
)
def test_handle(value, passed):
    assert is_handle(value) is passed
    item = valid_item()
    item.values["handle"] = [Literal(value, datatype=MODELS.get("Item").field("handle").datatype)]
    assert outcome(check(item, TERMS), "handle", "handle").passed is passed


# -- blank values (issue #24, item 1): invalid where upstream's validators reject them --------

HANDLE_TYPE = MODELS.get("Item").field("handle").datatype


@pytest.mark.parametrize(
    ("field", "blank", "rule", "message"),
    [
        ("identifier", Literal(""), "required", "all values must be non-blank"),
        ("title", Literal("  ", lang="en"), "exactly", "all values must be non-blank"),
        ("handle", Literal("", datatype=HANDLE_TYPE), "handle", "is not a handle URI"),
        ("handle", Literal("   ", datatype=HANDLE_TYPE), "handle", "is not a handle URI"),
        ("language", Literal(" "), "iso639", "is not an ISO 639 language code"),
        (
            "rights",  # exactly 1, and a vocabulary
            Literal(""),
            "from_vocabulary",
            f"all values must be non-blank; is not from {RIGHTS}",
        ),
    ],
)
def test_a_blank_value_fails_where_upstream_rejects_it(field, blank, rule, message):
    item = valid_item()
    item.values[field].append(blank)  # beside a good value: upstream rejects it all the same
    result = check(item, TERMS)
    assert not outcome(result, field, rule).passed
    assert result.messages() == {field: message}


@pytest.mark.parametrize(
    ("field", "blank"),
    [("description", Literal("")), ("description", Literal(" ", lang="en")), ("date", Literal(""))],
)
def test_a_blank_value_passes_elsewhere_and_is_never_written(field, blank):
    item = valid_item()
    item.values[field] = [blank]  # a free-text field; EDTF lets a blank pass upstream
    assert check(item, TERMS).is_valid
    item.drop_blanks()
    assert item.values[field] == []
    assert all(str(o).strip() for _, _, o in item.to_graph())


def test_a_blank_value_already_stored_is_kept_when_asked():
    item = valid_item()
    stored = Literal(" ")
    item.values["description"] = [stored]
    item.drop_blanks(keep=item.to_graph())
    assert item.values["description"] == [stored]


def test_the_shipped_embedded_rules_are_declared_not_checked_as_upstream():
    """Upstream 4.8.1 never validates embedded objects: a creator with two labels (`Doe|Roe`
    in one Creator cell), a Creator URI with no label, two same_as, all pass; the rules stay
    declared on the class (test_models_upstream.py)."""
    item = valid_item()
    item.embed("creator", "c2", label=["Doe", "Roe"])
    item.embed("creator", "c3", same_as="http://id.loc.gov/authorities/names/n1")
    item.embed("contributor", "c4", label="X", same_as=["http://a.example/", "http://b.example/"])
    result = check(item, TERMS)
    assert result.is_valid, result.reasons()
    assert not any("." in o.field for o in result.outcomes)
    creator = MODELS.get("Item").field("creator").embedded
    assert creator is not None and not creator.checked
    assert creator.field("label").rule("max_values") is not None
    letter = Item.new(URI, MODELS.get("Letter"))
    result = check(letter)
    assert "('part_of', 'failed', 'exactly', '1')" in result.reasons()
    assert not any(o.field.startswith("part_of.") for o in result.outcomes)


def test_a_checked_class_has_its_rules_applied_to_each_object(tmp_path):
    (tmp_path / "checked.yml").write_text(
        textwrap.dedent(
            """\
            classes:
              strict_agent:
                extends: labeled_thing
                checked: true
            models:
              Strict:
                types: [pcdm:Object]
                fields:
                  creator:
                    predicate: dcterms:creator
                    kind: embedded
                    class: strict_agent
                    headers: {label: Creator, same_as: Creator URI}
            """
        ),
        encoding="utf-8",
    )
    model = load_models(tmp_path).get("Strict")
    item = Item.new(URI, model)
    item.embed("creator", "c1", label="Jane Doe")
    result = check(item)
    assert result.is_valid and outcome(result, "creator.label", "required").passed
    item.embed("creator", "c2", same_as="http://id.loc.gov/authorities/names/n1")
    item.embed("creator", "c3", label=["Doe", "Roe"])
    result = check(item)
    assert "('creator.label', 'failed', 'required', 'true')" in result.reasons()
    assert "('creator.label', 'failed', 'max_values', '1')" in result.reasons()
    assert result.messages()["creator.label"] == "is required; is not repeatable"


def test_a_missing_vocabulary_is_not_silently_passed():
    item = valid_item()
    with pytest.raises(KeyError):
        check(item, {})


# --------------------------------------------------------------------------------------------
# Vocabularies over HTTP
# --------------------------------------------------------------------------------------------

FORM_TTL = textwrap.dedent(
    """\
    @prefix form: <http://vocab.lib.umd.edu/form#> .
    @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
    form:letters rdfs:label "Letters" .
    form:pool_reports rdfs:label "Pool reports" .
    """
)
RIGHTS_JSONLD = json.dumps(
    {
        "@context": {"rdfs": "http://www.w3.org/2000/01/rdf-schema#"},
        "@graph": [
            {"@id": RIGHTS + "InC", "rdfs:label": "In Copyright"},
            {"@id": RIGHTS + "NoC-US", "rdfs:label": "No Copyright - United States"},
        ],
    }
)
COLLECTION_RDFXML = textwrap.dedent(
    """\
    <?xml version="1.0"?>
    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
             xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">
      <rdf:Description rdf:about="http://vocab.lib.umd.edu/collection#0051-MDHC">
        <rdfs:label>Maryland History</rdfs:label>
      </rdf:Description>
    </rdf:RDF>
    """
)


def served(server) -> dict[str, str]:
    return {
        FORM: server.serve("/form", FORM_TTL, "text/turtle; charset=utf-8"),
        RIGHTS: server.serve("/rights", RIGHTS_JSONLD, "application/ld+json"),
        COLLECTION: server.serve("/collection", COLLECTION_RDFXML, "application/rdf+xml"),
    }


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
async def test_vocabularies_are_fetched_in_several_formats_and_cached(vocabulary_server):
    sources = {**MODELS.vocabularies, **served(vocabulary_server)}
    cache = VocabularyCache(sources)
    assert await cache.terms(FORM) == {FORM + "letters", FORM + "pool_reports"}
    assert await cache.terms(RIGHTS) == {RIGHTS + "InC", RIGHTS + "NoC-US"}
    assert await cache.terms(COLLECTION) == {COLLECTION + "0051-MDHC"}
    # the DCMI types come from the copy shipped with the models
    assert DCMITYPE + "StillImage" in await cache.terms(DCMITYPE)
    item = valid_item()
    item.add("format", FORM + "letters")
    item.add("archival_collection", COLLECTION + "0051-MDHC")
    result = await validate(item, cache)
    assert result.is_valid, result.reasons()
    item.values["rights"] = [URIRef(RIGHTS + "Unknown")]
    result = await validate(item, cache)
    assert result.reasons() == [f"('rights', 'failed', 'from_vocabulary', '{RIGHTS}')"]
    assert vocabulary_server.requests == {"/form": 1, "/rights": 1, "/collection": 1}


async def test_concurrent_lookups_share_one_fetch_and_the_cache_expires(vocabulary_server):
    now = [0.0]
    cache = VocabularyCache(served(vocabulary_server), ttl=60, clock=lambda: now[0])
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(cache.terms, FORM)
    assert vocabulary_server.requests["/form"] == 1
    now[0] = 59.0
    await cache.terms(FORM)
    assert vocabulary_server.requests["/form"] == 1
    now[0] = 61.0
    await cache.terms(FORM)
    assert vocabulary_server.requests["/form"] == 2


async def test_redirects_are_followed_and_the_fragment_dropped(vocabulary_server):
    vocabulary_server.serve("/form-v2", FORM_TTL)
    vocabulary_server.serve("/form", "", status=308, location="/form-v2")
    iri = vocabulary_server.url("/form#")
    cache = VocabularyCache()
    assert cache.source_of(iri) == vocabulary_server.url("/form")
    assert FORM + "letters" in await cache.terms(iri)
    assert vocabulary_server.requests == {"/form": 1, "/form-v2": 1}


async def test_unreadable_vocabularies_are_errors_retried_later(vocabulary_server):
    now = [0.0]
    sources = {
        FORM: vocabulary_server.url("/missing"),
        RIGHTS: vocabulary_server.serve("/html", "<html>oops</html>", "text/html"),
        COLLECTION: vocabulary_server.serve("/empty", "", "text/turtle"),
        DCMITYPE: "http://127.0.0.1:9/unreachable",
    }
    cache = VocabularyCache(sources, failure_ttl=30, timeout=5, clock=lambda: now[0])
    with pytest.raises(VocabularyError) as caught:
        await cache.terms(FORM)
    assert str(caught.value).startswith(f"cannot read vocabulary {FORM} from {sources[FORM]}:")
    assert "404" in str(caught.value)
    with pytest.raises(VocabularyError, match="cannot read vocabulary"):
        await cache.terms(RIGHTS)
    with pytest.raises(VocabularyError, match="describes no terms"):
        await cache.terms(COLLECTION)
    with pytest.raises(VocabularyError, match="ConnectError"):
        await cache.terms(DCMITYPE)
    with pytest.raises(VocabularyError):
        await cache.terms(FORM)
    assert vocabulary_server.requests["/missing"] == 1  # the failure is remembered a while
    vocabulary_server.serve("/missing", FORM_TTL)
    now[0] = 31.0
    assert FORM + "letters" in await cache.terms(FORM)
    # validation only fetches the vocabularies of fields that have values
    item = valid_item()
    item.values["rights"] = []
    item.values["object_type"] = []
    result = await validate(item, VocabularyCache({DCMITYPE: sources[DCMITYPE]}))
    assert "('rights', 'failed', 'exactly', '1')" in result.reasons()
    item.add("rights", RIGHTS + "InC")
    with pytest.raises(VocabularyError):
        await validate(item, cache)


async def test_local_files_are_vocabularies_too(tmp_path):
    path = tmp_path / "form.ttl"
    path.write_text(FORM_TTL)
    cache = VocabularyCache({FORM: str(path), RIGHTS: str(tmp_path / "none.ttl")})
    assert FORM + "pool_reports" in await cache.terms(FORM)
    with pytest.raises(VocabularyError, match=r"none\.ttl"):
        await cache.terms(RIGHTS)


# -- upstream 4.8.1's rules and words ---------------------------------------------------------


@pytest.mark.parametrize(
    ("titles", "passed"),
    [
        ([Literal("A")], True),
        ([Literal("A"), Literal("B", lang="ja")], True),  # upstream: one value per language
        ([Literal("A", lang="en"), Literal("B", lang="ja"), Literal("C")], True),
        ([Literal("A"), Literal("B")], False),
        ([Literal("A", lang="ja"), Literal("B", lang="ja")], False),
        ([], False),
    ],
)
def test_a_single_valued_literal_holds_one_value_per_language(titles, passed):
    item = valid_item()
    item.values["title"] = list(titles)
    item.values["description"] = list(titles)
    result = check(item, TERMS)
    assert outcome(result, "title", "exactly").passed is passed
    assert outcome(result, "description", "max_values").passed is (passed or not titles)


def test_uri_fields_have_no_language_exception():
    item = valid_item()
    item.add("format", FORM + "letters")
    item.add("format", FORM + "pool_reports")
    assert not outcome(check(item, TERMS), "format", "max_values").passed


def test_per_field_messages_in_upstreams_words():
    item = valid_item()
    item.values.pop("title")
    item.values["rights"] = [URIRef(RIGHTS + "nope")]
    item.add("date", "1945")
    item.values["handle"] = [
        Literal("1903.1/1", datatype=MODELS.get("Item").field("handle").datatype)
    ]
    item.add("language", "zz")
    result = check(item, TERMS)
    assert result.messages() == {
        "title": "is required",
        "rights": f"is not from {RIGHTS}",
        "date": "is not repeatable",
        "handle": "is not a handle URI",
        "language": "is not an ISO 639 language code",
    }
    assert result.summary().startswith(f"rights is not from {RIGHTS}; title is required; ")
    # the four-part form older Archelon parses is kept
    assert "('title', 'failed', 'exactly', '1')" in result.reasons()
    assert check(valid_item(), TERMS).messages() == {}


def test_language_names_are_iso639_as_upstream_accepts_them():
    assert is_iso639("English") and is_iso639("fre") and is_iso639("fra")
    assert not is_iso639("EN") and not is_iso639("zz") and not is_iso639("ja-latn")


async def test_issues_need_a_rights_statement_and_new_vocabularies_are_checked():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "imports" / "data" / "vocabularies"
    sources = {
        "http://vocab.lib.umd.edu/" + name + "#": str(folder / f"{name}.ttl")
        for name in ("rightsStatement", "set", "termsOfUse")
    }
    cache = VocabularyCache(sources)
    issue = Item.new(URI, MODELS.get("Issue"))
    for name, value in [("title", "T"), ("date", "1950-05-01"), ("volume", "41")]:
        issue.add(name, value)
    issue.add("issue", "120")
    issue.add("edition", "1")
    result = await validate(issue, cache)
    assert result.messages() == {"rights": "is required"}
    issue.add("rights", RIGHTS + "InC")
    issue.add("presentation_set", "http://vocab.lib.umd.edu/set#test")
    issue.add("terms_of_use", "http://vocab.lib.umd.edu/termsOfUse#test")
    assert (await validate(issue, cache)).is_valid
    issue.values["terms_of_use"] = [URIRef("http://vocab.lib.umd.edu/termsOfUse#other")]
    issue.values["presentation_set"] = [URIRef("http://vocab.lib.umd.edu/set#other")]
    assert (await validate(issue, cache)).messages() == {
        "terms_of_use": "is not from http://vocab.lib.umd.edu/termsOfUse#",
        "presentation_set": "is not from http://vocab.lib.umd.edu/set#",
    }
    assert cache.loads == 3  # each vocabulary read once, then cached


async def test_validation_errors_per_field_for_patch_resources():
    from pathlib import Path

    from plastrond.models import validation_errors

    folder = Path(__file__).resolve().parents[1] / "imports" / "data" / "vocabularies"
    cache = VocabularyCache({**MODELS.vocabularies, RIGHTS: str(folder / "rightsStatement.ttl")})
    assert await validation_errors(valid_item(), cache) == {}
    item = valid_item()
    item.values.pop("title")
    item.values["object_type"] = [URIRef(DCMITYPE + "Nope")]
    assert await validation_errors(item, cache) == {
        "title": "is required",
        "object_type": f"is not from {DCMITYPE}",
    }

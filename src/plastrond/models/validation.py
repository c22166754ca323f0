"""Validating an item against its content model's rules.

Each rule of each field gives one `Outcome`: (field, "passed" | "failed", rule, argument), the
four parts the STOMP update reports and older Archelon parses, plus a `message` for people
(`is required`, `is not repeatable`, `is not from <vocabulary>`, ...: upstream Plastron's
words), which `ValidationResult.messages()` gives per field for `PATCH /resources`.

Rules about how many values a field has (`required`, `exactly`, `max_values`) count the
non-blank values; for a literal field, `exactly` and `max_values` count the values of each
language tag (an untagged value is a tag of its own), so that a single-valued title may have
one value per language, as upstream allows. Rules about each value (`from_vocabulary`,
`value_pattern`, `edtf`, `iso639`, `handle`) pass when there is no value.

A blank value (`plastrond.literals.is_blank`: a literal of nothing but white space) fails where
upstream's validators reject it: a required field (`required`, `exactly` N >= 1: `all values
must be non-blank`, upstream's words), and every rule about each value but `edtf` (a blank is
no handle, language code, vocabulary term, and matches a pattern only if the pattern says
so; upstream's EDTF check lets a blank pass). Elsewhere it passes here and is left out when
the resource is written (`Item.drop_blanks`, `plastrond.literals.drop_added_blanks`).

The rules of an embedded class whose rules are checked (`checked`, the default for a class a
models file adds) apply to each embedded object and are reported as `<field>.<class field>`
(e.g. `creator.label`), failed when any object fails. The shipped classes (`labeled_thing`,
`letter_authority`, `place`) are `checked: false`: upstream 4.8.1 declares their rules and
never checks them, and the items it wrote (a creator with two labels, `Doe|Roe`; a Creator URI
with no label) must import, save and export again as they are.

`check(item, terms)` is pure (vocabularies given as IRI -> terms); `validate(item, cache)`
fetches the vocabularies the model needs first (a `VocabularyError` when one cannot be read).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs
import trio
from rdflib import Literal

from plastrond.literals import is_blank

from .edtf import is_edtf
from .mapping import Embedded, Item, Value
from .schema import Field, Rule
from .vocabulary import VocabularyCache

__all__ = [
    "FAILED",
    "PASSED",
    "Outcome",
    "ValidationResult",
    "check",
    "is_handle",
    "is_iso639",
    "message_of",
    "prepare",
    "validate",
    "validation_errors",
]

PASSED: Final = "passed"
FAILED: Final = "failed"

_HANDLE: Final = re.compile(r"hdl:[^/]+/.*", re.DOTALL)
#: ISO 639-2 reserves qaa..qtz for local use
_LOCAL_USE: Final = re.compile(r"q[a-t][a-z]")


def is_handle(value: str) -> bool:
    """A handle URI as upstream checks it: `hdl:`, a prefix without slashes, a slash, the rest
    (`hdl:1903.1/123`; `1903.1/123` is not one)."""
    return _HANDLE.fullmatch(value) is not None


@functools.cache
def _iso639_codes() -> frozenset[str]:
    from iso639 import ALL_LANGUAGES  # reads its tables on import (about 0.2 s)

    codes: set[str] = set()
    for language in ALL_LANGUAGES:
        if language.retire_date is not None:
            continue
        for code in (language.part1, language.part2b, language.part2t, language.part3):
            if code:
                codes.add(code)
    return frozenset(codes)


@functools.cache
def _iso639_names() -> frozenset[str]:
    from iso639 import ALL_LANGUAGES

    return frozenset(language.name for language in ALL_LANGUAGES if language.name)


def is_iso639(value: str) -> bool:
    """An ISO 639-1, 639-2 (B or T) or 639-3 code in use, in lower case (`en`, `ger`, `deu`,
    `ase`), a 639-2 local-use code (`qaa`-`qtz`), or a language's reference name (`English`),
    which upstream's check (python-iso639 `Language.match`) accepts too."""
    return (
        value in _iso639_codes()
        or _LOCAL_USE.fullmatch(value) is not None
        or value in _iso639_names()
    )


@attrs.frozen
class Outcome:
    """The result of one rule for one field."""

    field: str
    status: str
    rule: str
    argument: bool | int | str
    #: what is wrong, for people (`is required`); "" when the rule passed
    message: str = attrs.field(default="", eq=False)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def as_list(self) -> list[bool | int | str]:
        return [self.field, self.status, self.rule, self.argument]

    def reason(self) -> str:
        """`('<field>', '<status>', '<rule>', '<argument>')`, the form Archelon parses."""
        return f"('{self.field}', '{self.status}', '{self.rule}', '{_text(self.argument)}')"


def _text(argument: bool | int | str) -> str:
    if isinstance(argument, bool):
        return "true" if argument else "false"
    return str(argument)


@attrs.frozen
class ValidationResult:
    outcomes: tuple[Outcome, ...]

    @property
    def is_valid(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def passed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.passed]

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    def reasons(self) -> list[str]:
        """The failed outcomes as strings, for a completion's `invalid` stats."""
        return [o.reason() for o in self.failed()]

    def messages(self) -> dict[str, str]:
        """Field name -> what is wrong with it (`is required`; several joined by `; `), for
        `PATCH /resources`' `validation_errors`; empty when the item is valid."""
        found: dict[str, list[str]] = {}
        for o in self.failed():
            texts = found.setdefault(o.field, [])
            if o.message not in texts:
                texts.append(o.message)
        return {name: "; ".join(texts) for name, texts in found.items()}

    def summary(self) -> str:
        """`<field> <message>; ...` for the failed rules (upstream's import wording after
        `Validation failures: `)."""
        return "; ".join(f"{name} {text}" for name, text in self.messages().items())


def _present(values: Iterable[Value]) -> list[Value]:
    """The values that count: all but the blank ones."""
    return [v for v in values if not is_blank(v)]


def _has_blank(values: Iterable[Value]) -> bool:
    return any(is_blank(v) for v in values)


Terms = Mapping[str, frozenset[str]]
Check = Callable[[list[Value], Rule, Terms], bool]


def _each(test: Callable[[str], bool], *, blank: bool = False) -> Check:
    """A rule about each value (embedded objects aside); a blank value passes it when *blank*
    says so (upstream's EDTF check), else fails it without being tested."""

    def run(values: list[Value], rule: Rule, terms: Terms) -> bool:
        return all(
            blank if is_blank(v) else test(str(v)) for v in values if not isinstance(v, Embedded)
        )

    return run


def _from_vocabulary(values: list[Value], rule: Rule, terms: Mapping[str, frozenset[str]]) -> bool:
    plain = [str(v) for v in values if not isinstance(v, Embedded)]
    if not plain:
        return True
    if _has_blank(values):  # no vocabulary has a blank term: not fetched for it
        return False
    vocabulary = terms[str(rule.argument)]
    return all(v in vocabulary for v in plain)


def _value_pattern(values: list[Value], rule: Rule, terms: Mapping[str, frozenset[str]]) -> bool:
    pattern = _compiled(str(rule.argument))
    return all(pattern.search(str(v)) for v in values if not isinstance(v, Embedded))


def _required(values: list[Value], rule: Rule, terms: Terms) -> bool:
    return len(_present(values)) >= 1 and not _has_blank(values)


def _exactly(values: list[Value], rule: Rule, terms: Terms) -> bool:
    present = _present(values)
    if int(rule.argument) >= 1 and _has_blank(values):
        return False
    return _count(present, _literal(present)) == rule.argument


def _max_values(values: list[Value], rule: Rule, terms: Terms) -> bool:
    present = _present(values)
    return _count(present, _literal(present)) <= int(rule.argument)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _count(values: list[Value], literal: bool) -> int:
    """How many values count against `exactly` / `max_values`: for a literal field, the most
    values that share one language tag (untagged values share the tag "none")."""
    if not literal:
        return len(values)
    per_language: dict[str | None, int] = {}
    for v in values:
        lang = v.language.lower() if isinstance(v, Literal) and v.language else None
        per_language[lang] = per_language.get(lang, 0) + 1
    return max(per_language.values(), default=0)


_CHECKS: Final[Mapping[str, Check]] = {
    "required": _required,
    "exactly": _exactly,
    "max_values": _max_values,
    "from_vocabulary": _from_vocabulary,
    "value_pattern": _value_pattern,
    "edtf": _each(is_edtf, blank=True),
    "iso639": _each(is_iso639),
    "handle": _each(is_handle),
}


def _literal(values: list[Value]) -> bool:
    return bool(values) and all(isinstance(v, Literal) for v in values)


_VALUE_MESSAGES: Final[Mapping[str, str]] = {
    "edtf": "is not a valid EDTF date",
    "iso639": "is not an ISO 639 language code",
    "handle": "is not a handle URI",
}


def message_of(rule: Rule, values: list[Value]) -> str:
    """Upstream's words for a failed *rule* with these values."""
    n = rule.argument
    if rule.name in ("required", "exactly") and _has_blank(values):
        return "all values must be non-blank"
    values = _present(values)
    if rule.name == "required" or (rule.name == "exactly" and not values):
        return "is required"
    if rule.name in ("exactly", "max_values"):
        if n == 1:
            return "is not repeatable"
        return f"has more than {n} values" if rule.name == "max_values" else f"needs {n} values"
    if rule.name == "from_vocabulary":
        return f"is not from {n}"
    if rule.name == "value_pattern":
        return f"does not match {n}"
    return _VALUE_MESSAGES.get(rule.name, f"fails {rule.name}")


def check(item: Item, terms: Mapping[str, frozenset[str]] | None = None) -> ValidationResult:
    """Every rule of the item's model applied to the item. *terms* holds the vocabularies of
    the model's `from_vocabulary` rules (IRI -> terms); a missing one raises KeyError."""
    terms = terms or {}
    outcomes: list[Outcome] = []
    for f in item.model.fields:
        values = item.values.get(f.name, [])
        outcomes.extend(_outcomes(f.name, f, [values], terms))
        if f.embedded is not None and f.embedded.checked:
            objects = [v for v in values if isinstance(v, Embedded)]
            for sub in f.embedded.fields:
                per_object = [obj.values.get(sub.name, []) for obj in objects]
                if per_object:
                    outcomes.extend(_outcomes(f"{f.name}.{sub.name}", sub, per_object, terms))
    return ValidationResult(tuple(outcomes))


def _outcomes(
    name: str, f: Field, groups: list[list[Value]], terms: Mapping[str, frozenset[str]]
) -> Iterable[Outcome]:
    for rule in f.rules:
        test = _CHECKS[rule.name]
        bad = next((values for values in groups if not test(values, rule, terms)), None)
        if bad is None:
            yield Outcome(name, PASSED, rule.name, rule.argument)
        else:
            yield Outcome(name, FAILED, rule.name, rule.argument, message_of(rule, bad))


def _needs(item: Item) -> tuple[bool, set[str]]:
    """Whether checking *item* needs the language tables, and which vocabularies."""
    languages = False
    vocabularies: set[str] = set()

    def visit(f: Field, values: list[Value]) -> None:
        nonlocal languages
        if not any(not isinstance(v, Embedded) for v in values):
            return
        for rule in f.rules:
            if rule.name == "iso639":
                languages = True
            elif rule.name == "from_vocabulary":
                vocabularies.add(str(rule.argument))

    for f in item.model.fields:
        values = _present(item.values.get(f.name, []))
        visit(f, values)
        if f.embedded is not None and f.embedded.checked:
            for obj in (v for v in values if isinstance(v, Embedded)):
                for sub in f.embedded.fields:
                    visit(sub, _present(obj.values.get(sub.name, [])))
    return languages, vocabularies


async def prepare(item: Item, vocabularies: VocabularyCache) -> dict[str, frozenset[str]]:
    """What checking *item* needs: the vocabularies its values must be terms of (fetched), and
    the language code tables (loaded in a worker thread, once)."""
    languages, needed = _needs(item)
    if languages and _iso639_codes.cache_info().currsize == 0:
        await trio.to_thread.run_sync(_iso639_codes)
    return {iri: await vocabularies.terms(iri) for iri in sorted(needed)}


async def validation_errors(item: Item, vocabularies: VocabularyCache) -> dict[str, str]:
    """Field name -> what is wrong with it (`{"title": "is required"}`), empty when *item* is
    valid: `PATCH /resources`' `validation_errors`. A vocabulary that cannot be read raises
    `VocabularyError`."""
    return (await validate(item, vocabularies)).messages()


async def validate(item: Item, vocabularies: VocabularyCache) -> ValidationResult:
    """`check` the item, after fetching what it needs (see `prepare`); a vocabulary that cannot
    be read raises `VocabularyError`."""
    return check(item, await prepare(item, vocabularies))

"""Validating an item against its content model's rules.

Each rule of each field gives one `Outcome`: (field, "passed" | "failed", rule, argument).
Rules about how many values a field has (`required`, `exactly`, `max_values`) count the
non-blank values; rules about each value (`from_vocabulary`, `value_pattern`, `edtf`,
`iso639`, `handle`) pass when there is no value. The rules of an embedded class apply to each
embedded object and are reported as `<field>.<class field>` (e.g. `creator.label`), failed when
any object fails.

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
    "prepare",
    "validate",
]

PASSED: Final = "passed"
FAILED: Final = "failed"

_HANDLE: Final = re.compile(r"(?:hdl:)?[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*/[^\s]+")
#: ISO 639-2 reserves qaa..qtz for local use
_LOCAL_USE: Final = re.compile(r"q[a-t][a-z]")


def is_handle(value: str) -> bool:
    """`hdl:<prefix>/<suffix>` or `<prefix>/<suffix>`: a prefix of dot-separated segments
    (such as `1903.1`), a slash, a suffix without spaces."""
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


def is_iso639(value: str) -> bool:
    """An ISO 639-1, 639-2 (B or T) or 639-3 code in use, in lower case (`en`, `ger`, `deu`,
    `ase`), or a 639-2 local-use code (`qaa`-`qtz`)."""
    return value in _iso639_codes() or _LOCAL_USE.fullmatch(value) is not None


@attrs.frozen
class Outcome:
    """The result of one rule for one field."""

    field: str
    status: str
    rule: str
    argument: bool | int | str

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


def _present(values: Iterable[Value]) -> list[Value]:
    return [v for v in values if isinstance(v, Embedded) or str(v).strip()]


Terms = Mapping[str, frozenset[str]]
Check = Callable[[list[Value], Rule, Terms], bool]


def _each(test: Callable[[str], bool]) -> Check:
    def run(values: list[Value], rule: Rule, terms: Terms) -> bool:
        return all(test(str(v)) for v in values if not isinstance(v, Embedded))

    return run


def _from_vocabulary(values: list[Value], rule: Rule, terms: Mapping[str, frozenset[str]]) -> bool:
    plain = [str(v) for v in values if not isinstance(v, Embedded)]
    if not plain:
        return True
    vocabulary = terms[str(rule.argument)]
    return all(v in vocabulary for v in plain)


def _value_pattern(values: list[Value], rule: Rule, terms: Mapping[str, frozenset[str]]) -> bool:
    pattern = _compiled(str(rule.argument))
    return all(pattern.search(str(v)) for v in values if not isinstance(v, Embedded))


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_CHECKS: Final[Mapping[str, Check]] = {
    "required": lambda values, rule, terms: len(values) >= 1,
    "exactly": lambda values, rule, terms: len(values) == rule.argument,
    "max_values": lambda values, rule, terms: len(values) <= int(rule.argument),
    "from_vocabulary": _from_vocabulary,
    "value_pattern": _value_pattern,
    "edtf": _each(is_edtf),
    "iso639": _each(is_iso639),
    "handle": _each(is_handle),
}


def check(item: Item, terms: Mapping[str, frozenset[str]] | None = None) -> ValidationResult:
    """Every rule of the item's model applied to the item. *terms* holds the vocabularies of
    the model's `from_vocabulary` rules (IRI -> terms); a missing one raises KeyError."""
    terms = terms or {}
    outcomes: list[Outcome] = []
    for f in item.model.fields:
        values = _present(item.values.get(f.name, []))
        outcomes.extend(_outcomes(f.name, f, [values], terms))
        if f.embedded is not None:
            objects = [v for v in values if isinstance(v, Embedded)]
            for sub in f.embedded.fields:
                per_object = [_present(obj.values.get(sub.name, [])) for obj in objects]
                if per_object:
                    outcomes.extend(_outcomes(f"{f.name}.{sub.name}", sub, per_object, terms))
    return ValidationResult(tuple(outcomes))


def _outcomes(
    name: str, f: Field, groups: list[list[Value]], terms: Mapping[str, frozenset[str]]
) -> Iterable[Outcome]:
    for rule in f.rules:
        test = _CHECKS[rule.name]
        ok = all(test(values, rule, terms) for values in groups)
        yield Outcome(name, PASSED if ok else FAILED, rule.name, rule.argument)


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
        if f.embedded is not None:
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


async def validate(item: Item, vocabularies: VocabularyCache) -> ValidationResult:
    """`check` the item, after fetching what it needs (see `prepare`); a vocabulary that cannot
    be read raises `VocabularyError`."""
    return check(item, await prepare(item, vocabularies))

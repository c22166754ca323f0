"""A job's config.yml: parsed in one place for the writer and the reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import yaml

from .layout import CONFIG_FIELDS, CONFIG_FILE

__all__ = ["MAX_CONFIG_BYTES", "RESERVED_KEYS", "config_fields", "dump_config", "parse_config"]

#: config.yml is a handful of lines; anything much larger is not one
MAX_CONFIG_BYTES: Final = 1 << 20
#: keys of a job's description that a config.yml key never overrides
RESERVED_KEYS: Final = frozenset({"@id", "runs", "completed", "dropped", "total"})

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

JsonScalar = str | int | float | bool | None


def parse_config(data: bytes) -> dict[Any, Any] | str:
    """config.yml's mapping, or why it is unusable (a few words naming the file): not UTF-8,
    not valid YAML (with the line), empty, or not a mapping."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return f"{CONFIG_FILE} is not UTF-8 text"
    try:
        parsed = yaml.load(text, Loader=_YAML_LOADER)  # a safe loader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"{CONFIG_FILE} is not valid YAML{where}"
    if parsed is None:
        return f"{CONFIG_FILE} is empty"
    if not isinstance(parsed, dict):
        return f"{CONFIG_FILE} is not a mapping of keys"
    return parsed


def dump_config(fields: Mapping[str, str | None]) -> bytes:
    return yaml.safe_dump(dict(fields), sort_keys=False, allow_unicode=True).encode("utf-8")


def _plain(value: Any) -> JsonScalar:
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def config_fields(raw: Mapping[Any, Any], job_id: str) -> dict[str, JsonScalar]:
    """The job's description fields from its config.yml: the reference's six keys always
    (None when absent, strings otherwise), then any other key whose value is a plain scalar.

    The old daemon wrote an absent value as the string "None"; that reads as None.
    """
    fields: dict[str, JsonScalar] = dict.fromkeys(CONFIG_FIELDS)
    for key, value in raw.items():
        if not isinstance(key, str) or key in RESERVED_KEYS:
            continue
        plain = None if value == "None" else value
        if key in CONFIG_FIELDS:
            fields[key] = None if plain is None else str(_plain(plain))
        elif plain is None or isinstance(plain, str | int | float | bool | dt.date):
            fields[key] = _plain(plain)
    if fields["job_id"] is None:
        fields["job_id"] = job_id
    return fields

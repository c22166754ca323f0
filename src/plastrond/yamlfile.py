"""Reading a YAML file a person wrote (the configuration, a content model), with one-line
errors that name the file, and the line where YAML knows it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["read_yaml"]


def read_yaml(path: Path, what: str, error: Callable[[str], Exception]) -> Any:
    """The data of the YAML file at *path*, None when it holds none.

    *what* names the file in the messages ("configuration file"); *error* makes the exception
    raised from one line (`ConfigError`, `ModelError`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except PermissionError:
        raise error(f"{path}: permission denied reading the {what}") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = e.problem or e.context or "invalid YAML"
        raise error(f"{path}{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as e:
        raise error(f"{path}: YAML syntax error: {e}") from None

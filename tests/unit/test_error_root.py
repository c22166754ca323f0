"""One root for the daemon's exceptions (PlastronError), with the repository client's and the
codec's trees beside it; and failure_of, the one reader of exception groups."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import plastrond
import stompframe
from plastrond.errors import PlastronError, failure_of
from plastrond.repository import RepositoryError


def _exception_classes(package):  # type: ignore[no-untyped-def]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue  # (runs the command line)
        module = importlib.import_module(info.name)
        for _, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                yield value


def test_every_public_exception_of_the_daemon_is_a_plastron_error():
    strays = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in _exception_classes(plastrond)
        if not cls.__name__.startswith("_")
        and not cls.__module__.startswith("plastrond.repository")
        and not issubclass(cls, PlastronError)
    ]
    assert strays == []


def test_the_repository_and_codec_trees_stand_beside_it():
    assert not issubclass(RepositoryError, PlastronError)
    assert all(
        issubclass(cls, stompframe.StompError) and not issubclass(cls, PlastronError)
        for cls in _exception_classes(stompframe)
    )


class Row(PlastronError):
    pass


def _group(*errors: BaseException) -> BaseExceptionGroup[BaseException]:
    return BaseExceptionGroup("nursery", [BaseExceptionGroup("inner", list(errors))])


@pytest.mark.parametrize(
    ("error", "kinds", "expected"),
    [
        (Row("a"), (), "a"),
        (KeyError("k"), (Row,), None),
        (_group(Row("a")), (), "a"),
        (_group(Row("a"), Row("b")), (Row,), "a"),
        (_group(Row("a"), Row("b")), (), None),
        (_group(Row("a"), KeyError("k")), (Row,), None),
    ],
)
def test_failure_of(error, kinds, expected):
    found = failure_of(error, *kinds)
    assert (None if found is None else str(found).strip("'")) == expected

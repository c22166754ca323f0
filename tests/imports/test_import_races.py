"""Which failures of an item's transaction are Fedora 4.7's concurrency failures, tried again
(the failures themselves are seen against the real 4.7.5 in test_import_layout.py, at 4 items
at once; which of them happens in one run is up to the server's timing)."""

from __future__ import annotations

import pytest

from plastrond.imports.run import _commit_conflict, _fedora47_race
from plastrond.repository import RepositoryHTTPError, TransactionError

URI = "http://127.0.0.1:8090/rest/c/ab/cd/ef/01/abcdef01-x"


@pytest.mark.parametrize(
    ("method", "status", "reason", "retried"),
    [
        ("PUT", 400, "Node type 'ns009:Issue' already exists", True),
        (
            "PUT",
            500,
            "javax.jcr.nodetype.ConstraintViolationException: Cannot find a definition for a "
            "child named '{}8a' on the node at '/c'",
            True,
        ),
        ("PUT", 409, "Checksum Mismatch of urn:sha256:6fd5 and urn:sha256:4b2c", True),
        ("PATCH", 400, "Node type 'ns001:Page' already exists", True),
        (
            "PUT",
            500,
            'org.modeshape.jcr.value.ValueFormatException: Error converting "ns001:Object" from '
            "String to a Name; at org.modeshape.jcr.value.basic.NameValueFactory.create",
            True,
        ),
        ("PATCH", 400, "6a28746317f1e7mode:namespaces-http://pcdm.org/use#", True),
        ("PUT", 400, 'No type exists with name ""ns001:Object""', True),
        (
            "PATCH",
            500,
            'javax.jcr.NamespaceException: There is no namespace with prefix ""ns001""',
            True,
        ),
        (
            "PUT",
            400,
            'No item exists at path ns001:alternative relative to /c/ab/cd in workspace "default"',
            True,
        ),
        (
            "PUT",
            500,
            'java.lang.NullPointerException: Cannot invoke "String.trim()" because the return '
            'value of "java.util.Map$Entry.getKey()" is null',
            True,
        ),
        ("PUT", 400, "javax.jcr.PathNotFoundException: No node exists at path '/c/x'", False),
        ("PUT", 409, "Conflict: the resource exists", False),
        ("POST", 409, "Checksum Mismatch", False),  # never a commit
    ],
)
def test_only_writes_failing_as_4_7_races_are_tried_again(
    method: str, status: int, reason: str, retried: bool
) -> None:
    error = RepositoryHTTPError(method, URI, status, reason)
    assert _fedora47_race(error) is retried
    assert _fedora47_race(ExceptionGroup("one", [error])) is retried


def test_a_failed_commit_is_never_tried_again() -> None:
    cause = RepositoryHTTPError("PUT", URI, 400, "Node type 'ns009:Issue' already exists")
    commit = TransactionError("commit of transaction tx:1 failed")
    commit.__cause__ = cause
    assert not _fedora47_race(commit)


def test_a_commit_refused_as_a_conflict_is_one_to_check() -> None:
    """Fedora 6.1.0 under load refuses a commit with 409 (its containment index timed out
    locking the container's row) and rolls it back: tried again once the item is known not
    to exist (ImportRun._try_again asks the repository)."""
    refused = TransactionError("commit of transaction tx:1 failed")
    refused.__cause__ = RepositoryHTTPError(
        "PUT", "http://127.0.0.1:8080/rest/fcr:tx/1", 409, "Failed to commit transaction 1"
    )
    assert _commit_conflict(refused)
    assert _commit_conflict(ExceptionGroup("one", [refused]))
    gone = TransactionError("commit of transaction tx:1 failed")
    gone.__cause__ = RepositoryHTTPError("PUT", "http://127.0.0.1:8080/rest/fcr:tx/1", 410, "")
    assert not _commit_conflict(gone)
    assert not _commit_conflict(RepositoryHTTPError("PUT", URI, 409, "Conflict"))

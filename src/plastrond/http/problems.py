"""RFC 9457 problem documents, the form of every error the http mode answers.

Each carries `type`, `title`, `status` and `detail`, and the same text under `details` too,
which is the key Archelon's metadata editor reads (http-api.md, "Errors"). Routes raise
`Problem`; the app's error handlers answer `Problem.response()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from quart import Response

from ..errors import PlastronError
from .detail import dumps

__all__ = ["PROBLEM_JSON", "Problem"]

PROBLEM_JSON = "application/problem+json"


class Problem(PlastronError):
    """An error answered as a problem document: HTTP *status* and a one-line *detail*;
    *title* defaults to the status phrase; *extra* members are added to the document."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        *,
        title: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = " ".join(detail.split())
        self.headers = headers or {}
        self.title = title
        self.extra: Mapping[str, Any] = extra or {}

    def response(self) -> Response:
        """The problem document, as the response to send."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title or HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "details": self.detail,
        }
        for key, value in self.extra.items():
            body.setdefault(key, value)
        return Response(dumps(body), self.status, self.headers, content_type=PROBLEM_JSON)

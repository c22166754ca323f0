"""What the routes that change the repository (`/inbox`, `/resources`) share: the daemon's
repository client (timeouts, retries of reads only, no delegation: Archelon sends no user),
the content models and vocabularies, the request limits and the optional bearer token."""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

import attrs
from quart import request

from .problems import Problem

if TYPE_CHECKING:
    from ..config import Config
    from ..models import ModelSet, VocabularyCache
    from ..publication import Handles
    from ..repository import RepositoryClient

__all__ = ["Backend"]

log = logging.getLogger("plastrond.http")


@attrs.define
class Backend:
    config: Config
    repository: RepositoryClient
    #: the handle service, when PUBLICATION_WORKFLOW names one
    handles: Handles | None = None

    @property
    def root(self) -> str:
        return self.repository.root

    def authorize(self) -> None:
        """401 unless the request carries the configured bearer token (none configured:
        every request may)."""
        token = self.config.http_server.auth_token
        if not token:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8"), token.encode("utf-8")
        ):
            raise Problem(
                401,
                "this route needs Authorization: Bearer <the HTTP_SERVER.AUTH_TOKEN>",
                {"WWW-Authenticate": 'Bearer realm="plastrond"'},
            )

    def local_uri(self, uri: str) -> str:
        """*uri* as the repository client names it: a URI under `ORIGIN` (when the
        configuration has one) is taken to mean the same path under `REST_ENDPOINT`."""
        repo = self.config.repository
        origin = getattr(repo, "origin", None)
        if isinstance(origin, str) and origin:
            origin = origin.rstrip("/")
            if uri == origin or uri.startswith(origin + "/"):
                return repo.rest_endpoint + uri[len(origin) :]
        return uri

    async def models(self) -> ModelSet:
        from ..models import current_models

        return await current_models(self.config.content_models.dir)

    def vocabularies(self, models: ModelSet) -> VocabularyCache:
        from ..models import shared_cache

        settings = self.config.content_models
        sources = {**models.vocabularies, **settings.vocabularies}
        return shared_cache(
            sources, ttl=settings.vocabulary_cache_seconds, timeout=settings.vocabulary_timeout
        )

    def client_name(self) -> str:
        """Who sent the request, for the log line of a change."""
        addr = request.remote_addr or "unknown address"
        agent = request.headers.get("User-Agent")
        return f"{addr} ({agent})" if agent else addr

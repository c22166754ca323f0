"""The Fedora repository client (Fedora 4.7 and 6.x), trio-native, streaming, transactional.

```
from plastrond.repository import RepositoryClient

async with RepositoryClient(config.repository) as repo:
    info = await repo.head(uri)                        # types, describedby, ETag
    resource = await repo.get_graph(uri, containment=False)
    created = await repo.create_container(parent, graph, slug="item")
    await repo.create_binary(created.uri, Path("page.tif"), filename="page.tif",
                             mime_type="image/tiff")
    async with repo.on_behalf_of(user).transaction() as tx:
        await tx.update(created.uri, sparql)
```

Everything that fails raises a `RepositoryError`: `RepositoryHTTPError` (with `method`, `uri`,
`status`, `reason`; `ResourceNotFound`, `ResourceGone`, `PreconditionFailed`,
`ChecksumMismatch`, `ConcurrentUpdate`), `RepositoryConnectionError` or `TransactionError`
(`TransactionNotBegun` when none could begin: nothing was written in one).

`RepositoryClient(config, prime=terms)` primes a Fedora 4.7 (ModeShape) before its first write
with the terms `await terms()` returns (`prime`: every namespace and node type registered once,
one at a time, so that concurrent first writes do not race); `fedora47_race` and `retry_races`
are the one rule for the concurrency failures of 4.7 that remain.

The User-Agent tells UMD's indexing pipeline what a change is (`_agents`): `DAEMON_AGENT` by
default, `RepositoryClient(config, user_agent=HTTP_AGENT)` in the http mode, and
`repo.labelled("import")` for the import command's view.
"""

from ._agents import DAEMON_AGENT, HTTP_AGENT, PURPOSES, labelled
from ._auth import BearerAuth, JWTAuth, decode_jwt_secret
from ._client import RepositoryClient
from ._errors import (
    ChecksumMismatch,
    ConcurrentUpdate,
    PreconditionFailed,
    RepositoryConnectionError,
    RepositoryError,
    RepositoryHTTPError,
    ResourceGone,
    ResourceNotFound,
    TransactionError,
    TransactionNotBegun,
)
from ._headers import DIGESTS, content_disposition, filename_of, parse_digest_header
from ._prime import PrimeError, needs_priming, prime, prime_graph_pairs
from ._races import RACE_ATTEMPTS, RACE_BACKOFF, RACES, fedora47_race, race_answer, retry_races
from ._resources import BinaryStream, GraphResource, ResourceInfo, WriteResult
from ._retry import RetryPolicy
from ._transaction import FCREPO4, FCREPO6, Transaction
from ._uris import Link, UriMap, names_resource, parse_links

__all__ = [
    "DAEMON_AGENT",
    "DIGESTS",
    "FCREPO4",
    "FCREPO6",
    "HTTP_AGENT",
    "PURPOSES",
    "RACES",
    "RACE_ATTEMPTS",
    "RACE_BACKOFF",
    "BearerAuth",
    "BinaryStream",
    "ChecksumMismatch",
    "ConcurrentUpdate",
    "GraphResource",
    "JWTAuth",
    "Link",
    "PreconditionFailed",
    "PrimeError",
    "RepositoryClient",
    "RepositoryConnectionError",
    "RepositoryError",
    "RepositoryHTTPError",
    "ResourceGone",
    "ResourceInfo",
    "ResourceNotFound",
    "RetryPolicy",
    "Transaction",
    "TransactionError",
    "TransactionNotBegun",
    "UriMap",
    "WriteResult",
    "content_disposition",
    "decode_jwt_secret",
    "fedora47_race",
    "filename_of",
    "labelled",
    "names_resource",
    "needs_priming",
    "parse_digest_header",
    "parse_links",
    "prime",
    "prime_graph_pairs",
    "race_answer",
    "retry_races",
]

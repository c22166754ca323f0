"""The User-Agent of plastrond's repository requests, which UMD's indexing pipeline reads.

Fedora puts the User-Agent of a change on the event it emits (`org.fcrepo.jms.userAgent`),
and UMD's Camel routes (umd-fcrepo-messaging, `activemq/conf/camel/`) act on it:

- `routes.xml`: a create event whose User-Agent contains `(import)` becomes an `import`
  event, and the Solrizer route then indexes only the top-level resource (an item at its
  pairtree path), Solrizer adding its pages, files and proxies itself: one Solr add per item.
- `solr.xml`: a User-Agent that starts with `plastrond-http` makes Solrizer read Fedora
  without its cache (`plastron-cache-enabled=no`), so an edit or a publish from Archelon is
  indexed from what was just written.
- `solr.xml`: a User-Agent that contains `(attach)` is not indexed at all; plastrond never
  says it (`labelled` refuses every purpose but those in `PURPOSES`).

Which request's User-Agent an event carries: on Fedora 6.1 the events of a transaction are
emitted at its commit with the User-Agent of the request that began it; on Fedora 4.7 with
that of the last request to a resource inside it. Outside a transaction, each request's own.
"""

from __future__ import annotations

from plastrond import __version__

__all__ = ["DAEMON_AGENT", "HTTP_AGENT", "PURPOSES", "labelled"]

#: the stomp daemon's commands (and the CLI)
DAEMON_AGENT = f"plastrond/{__version__}"
#: the http mode (`POST /inbox`, `PATCH /resources`): read without Solrizer's cache
HTTP_AGENT = f"plastrond-http/{__version__}"
#: what a client may say it does, in parentheses after its name, and why
PURPOSES = {
    "import": "routes.xml makes its creations import events: Solr indexes each item once",
}


def labelled(agent: str, purpose: str) -> str:
    """*agent* saying it does *purpose*: `plastrond/0.1.0 (import)`. Only a purpose of
    `PURPOSES` (never `attach`: UMD's Solr route drops such changes from the index)."""
    if purpose not in PURPOSES:
        raise ValueError(
            f"not a User-Agent purpose plastrond says: {purpose!r} "
            f"(one of {', '.join(sorted(PURPOSES))})"
        )
    base = agent.split(" (", 1)[0]
    return f"{base} ({purpose})"

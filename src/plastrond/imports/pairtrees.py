"""Where new items go under a container: pairtree paths made before the items' transactions.

Fedora 4.7 (ModeShape) makes the pairtree nodes of a path (`<container>/d4/de/77/1a`) itself,
inside the transaction that first writes below them. When two transactions (two items of one
job, two jobs, two replicas) make the same node at once, both commits succeed and ModeShape
keeps two children of one name (`d4` and `d4[2]`): everything below the second, the item with
its pages and files, is unreachable at its URI for good. Nothing in the answers says so.

So no item's transaction makes a pairtree node here. `Pairtrees` makes a path first, outside
any transaction and one at a time (a placeholder resource written below it, then deleted with
its tombstone: the pairtree nodes stay; a process killed between the two leaves an empty
member), checks that it answers, and then gives up to
`ITEMS_PER_PATH` new items URIs below it (`<container>/d4/de/77/1a/d4de771a-<random>`: a UUID
whose first 8 digits are the path's, 90 random bits after them). Should two processes make
the same node at the very same moment despite this, the check finds the path missing and a
new one is made. A transaction then only adds the item below a node that exists.

Fedora 6 keeps no pairtree nodes (the intermediate paths are "ghosts"): there every item gets
a path of its own, as upstream's layout has it, and nothing is made beforehand.

The placeholder's creation and deletion are two events on the repository's message topic, one
per `ITEMS_PER_PATH` new items; the indexing routes find nothing to index at its URI.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Final

import trio

from ..errors import PlastronError
from ..repository import FCREPO6, RepositoryClient, RepositoryError
from .items import new_item_uri, pairtree

__all__ = ["ITEMS_PER_PATH", "PairtreeError", "Pairtrees"]

log = logging.getLogger(__name__)

#: how many new items share one pairtree path made beforehand (their leaf node holds that many
#: children; a path costs four requests, a quarter of a request per item)
ITEMS_PER_PATH: Final = 16

#: how many times a path is made before the job gives up (each failure is a path that vanished
#: in a race, or a server that refuses the placeholder)
_ATTEMPTS: Final = 5


class PairtreeError(PlastronError):
    """No pairtree path could be made for new items (the one-line reason is the message)."""


class Pairtrees:
    """The URIs of new items under one container (see the module)."""

    def __init__(
        self,
        repository: RepositoryClient,
        container: str,
        *,
        items_per_path: int = ITEMS_PER_PATH,
    ) -> None:
        self.repository = repository
        self.container = container.rstrip("/")
        self.items_per_path = max(1, items_per_path)
        self._lock = trio.Lock()
        self._style: str | None = None
        self._prefix: str | None = None
        self._left = 0
        #: paths made by this object (for the tests and the log)
        self.made = 0

    async def new_item_uri(self) -> str:
        """A URI for a new item, below a pairtree path that exists (on Fedora 4.7)."""
        async with self._lock:
            if self._style is None:
                self._style = await self._server_style()
            if self._style == FCREPO6:
                return new_item_uri(self.container)
            if self._prefix is None or self._left <= 0:
                self._prefix = await self._make_path()
                self._left = self.items_per_path
            self._left -= 1
            identifier = self._prefix + str(uuid.uuid4())[8:]
            return f"{self.container}/{pairtree(identifier)}"

    async def ensure(self, item_uri: str) -> None:
        """Make the pairtree path of *item_uri* again if it does not answer (an item whose
        path was lost is written again at the same URI)."""
        async with self._lock:
            if self._style == FCREPO6:
                return
            leaf = item_uri.rsplit("/", 1)[0]
            if leaf == self.container or await self._answers(leaf):
                return
            await self._place(leaf)

    async def _server_style(self) -> str:
        try:
            return await self.repository.server_style(self.container)
        except RepositoryError as e:
            raise PairtreeError(f"cannot tell which Fedora {self.container} is on: {e}") from None

    async def _make_path(self) -> str:
        problem = ""
        for _ in range(_ATTEMPTS):
            prefix = secrets.token_hex(4)
            leaf = f"{self.container}/{pairtree(prefix)}"  # .../d4/de/77/1a/d4de771a
            leaf = leaf.rsplit("/", 1)[0]
            try:
                if await self._answers(leaf) or await self._place(leaf):
                    self.made += 1
                    return prefix
                problem = f"{leaf} was made and does not answer"
            except RepositoryError as e:
                problem = str(e)
            log.info("pairtree path under %s: %s; another one", self.container, problem)
        raise PairtreeError(
            f"cannot make a pairtree path for new items under {self.container}: {problem}"
        )

    async def _place(self, leaf: str) -> bool:
        """Write a placeholder below *leaf* (outside any transaction), delete it and its
        tombstone, and say whether *leaf* now answers."""
        placeholder = f"{leaf}/{uuid.uuid4()}"
        await self.repository.put_container(placeholder, None)
        await self.repository.delete(placeholder, purge=True)
        return await self._answers(leaf)

    async def _answers(self, uri: str) -> bool:
        return await self.repository.exists(uri)

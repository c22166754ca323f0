"""One export, from a list of URIs to a committed ZIP.

```
run = ExportRun(repository, lambda scratch: TurtleMetadata(scratch, prefixes), options, log)
await run.execute(uris, destination)        # report(run.progress()) as the counts change
```

Items are read concurrently (at most `max_concurrent_items` at once, and at most twice that many
requests in flight). An item's binaries are streamed from the repository into scratch files,
hashed on the way; only once the whole item has been read are its files and its metadata added
to the bag, one item at a time, in a worker thread. So an item that fails halfway leaves nothing
in the bag: it is counted in `errors`, and the export goes on. Whatever fails in writing the ZIP
itself (the disk, the SFTP connection) ends the job, and the partial file is removed.

Memory stays flat whatever the sizes: a binary passes through in 1 MiB chunks; the scratch
files of an item are deleted once it is in the bag, and an item holds its slot until then, so
at most `max_concurrent_items` items' binaries sit on the scratch disk at once.
"""

from __future__ import annotations

import email.utils
import logging
import posixpath
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import unquote, urlsplit

import attrs
import httpx
import rdflib.exceptions
import trio
from rdflib import Graph, Literal, URIRef

from .. import __version__, metrics
from ..errors import PlastronError, describe, failure_of
from ..jobs.items import ItemCounts, Items
from ..jobs.protocol import Report
from ..jobs.result import JobError
from ..models import usage_tags
from ..models.namespaces import DCTERMS, FABIO, IANA, ORE, PCDM, RDF
from ..public_urls import PublicUrlError, public_url
from ..repository import RepositoryClient, RepositoryError, parse_links
from .bag import BagZipWriter, Digester
from .destinations import TOUCH_SECONDS, Destination, DestinationError, Sink
from .metadata import ExportedFile, ItemRecord, MetadataWriter

__all__ = [
    "ExportError",
    "ExportOptions",
    "ExportRun",
    "ItemFailure",
    "file_title",
    "item_folder_name",
    "item_folder_names",
    "mime_matches",
    "safe_filename",
    "uuid_of",
]

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
#: characters never kept in a file or folder name: separators, controls, what Windows refuses,
#: and `%` (bagit-python reads `%25` in a manifest literally, against RFC 8493)
_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|%]')
#: what is taken off both ends of a name: spaces (an import strips them) and dots
_ENDS: Final = re.compile(r"^[\s.]+|[\s.]+$")
#: what the client's Latin-1 `filename` fallback replaces with `_`
_NOT_LATIN1: Final = re.compile(r'[^\x20-\x7e\xa0-\xff]|["\\]')
#: the longest name (UTF-8 bytes) a binary takes in the bag: what file systems allow for one
MAX_NAME_BYTES: Final = 255


class ExportError(JobError):
    """The export as a whole failed (the ZIP could not be written); one line."""


class ItemFailure(PlastronError):
    """One item could not be exported; it is counted as an error and skipped."""


class _Abandoned(Exception):
    """The ZIP failed earlier: nothing more goes into it."""


@attrs.frozen
class ExportOptions:
    export_binaries: bool = False
    #: MIME types of the binaries to export (`type/*` allowed); empty: every binary
    binary_types: tuple[str, ...] = ()
    #: public URI template with `{uuid}`, for the CSV's `PUBLIC URI` (the request's)
    uri_template: str | None = None
    #: otherwise PUBLICATION_WORKFLOW.PUBLIC_URL_PATTERN (plastrond.public_urls fields)
    public_url_pattern: str | None = None
    max_concurrent_items: int = 4
    #: extra `bag-info.txt` tags
    bag_info: Mapping[str, str] = attrs.field(factory=dict)
    #: where scratch files go (default: the system's temporary folder)
    scratch_dir: Path | None = None


def _counts(total: int = 0) -> ItemCounts:
    """An export's counts (protocol.md): `exported` and `errors` (items skipped), which
    together are the items finished."""
    return ItemCounts(("exported", "errors"), total=total, done=("exported", "errors"))


@attrs.frozen
class _Binary:
    """A binary read from the repository into a scratch file, waiting to go into the bag."""

    uri: str
    filename: str
    path: Path
    size: int
    digests: Mapping[str, str]
    mtime: float | None
    mime_type: str | None
    on_page: bool
    description_uri: str | None = None
    #: the number (from 0) of its page
    page: int = 0
    #: the title of its page (FILES labels), and its usage tags
    label: str | None = None
    tags: tuple[str, ...] = ()


@attrs.frozen
class _Prepared:
    metadata: bytes
    #: (name below data/, binary)
    binaries: Sequence[tuple[str, _Binary]]


class ExportRun:
    def __init__(
        self,
        repository: RepositoryClient,
        make_writer: Callable[[Path], MetadataWriter],
        options: ExportOptions,
        log: logging.Logger,
        report: Report | None = None,
    ) -> None:
        self.repository = repository
        self.make_writer = make_writer
        self._writer: MetadataWriter | None = None
        self.options = options
        self.log = log
        #: the counts, the progress (given to *report* as each item ends) and the item slots
        self.items = Items(_counts(), report)
        n = max(1, options.max_concurrent_items)
        # With one item at a time, everything is sequential; else each item may have a
        # couple of requests (pages, binaries) in flight.
        self._requests = trio.CapacityLimiter(1 if n == 1 else 2 * n)
        #: the bag and the metadata spool: one writer thread at a time
        self._lane = trio.CapacityLimiter(1)
        self._cpu = trio.CapacityLimiter(1)
        self._folders: list[str] = []
        self._scratch: Path | None = None
        #: the bag being written (aborted in the clean-up unless the file was committed)
        self._bag: BagZipWriter | None = None
        #: the scope of the item tasks, cancelled when the ZIP cannot be written
        self._items_scope = trio.CancelScope()
        self._broken = False
        #: bytes of binaries read from the repository
        self.download_bytes = 0

    @property
    def writer(self) -> MetadataWriter:
        assert self._writer is not None, "the export has not started"
        return self._writer

    @property
    def counts(self) -> ItemCounts:
        return self.items.counts

    def progress(self) -> dict[str, Any]:
        return self.items.progress()

    # -- the whole export -------------------------------------------------------------------

    async def execute(self, uris: Sequence[str], destination: Destination) -> None:
        """Export *uris* into a bag written to *destination*. Raises `DestinationError` when
        the destination cannot be opened, `ExportError` when writing it fails."""
        self.items.counts = _counts(len(uris))
        self._folders = item_folder_names(uris)
        self.items.tell()
        base = self.options.scratch_dir
        scratch = Path(
            await trio.to_thread.run_sync(
                lambda: tempfile.mkdtemp(prefix="plastrond-export-", dir=base)
            )
        )
        self._scratch = scratch
        self._writer = self.make_writer(scratch)
        sink: Sink | None = None
        committed = False
        try:
            sink = await trio.to_thread.run_sync(destination.open, limiter=self._lane)
            self.log.info("export: writing %s", destination.describe())
            for path in sink.swept:
                self.log.info("export: removed %s, left by an export that was cut short", path)
            try:
                async with trio.open_nursery() as keeper:
                    keeper.start_soon(self._keep_fresh, sink)
                    try:
                        await self._write(uris, destination, sink, scratch)
                        committed = True
                    finally:
                        keeper.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                # the keeper raises nothing: what failed is the writing's, raised as it was
                raise failure_of(group) or group from None
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._cleanup, sink, self._bag, scratch, committed)
            if sink is not None and sink.left:
                self.log.warning(
                    "export: cannot remove %s, the part of the ZIP written so far; the next "
                    "export to %s removes it",
                    sink.left,
                    destination.describe(),
                )

    async def _write(
        self, uris: Sequence[str], destination: Destination, sink: Sink, scratch: Path
    ) -> None:
        bag: BagZipWriter = await self._in_lane(
            BagZipWriter,
            sink.stream,
            destination.bag_name,
            scratch_dir=scratch,
            software_agent=f"plastrond {__version__}",
            what="start the bag",
        )
        self._bag = bag
        with self._items_scope:
            await self.items.for_each(
                enumerate(uris),
                lambda item: self._item(*item, bag),
                self.options.max_concurrent_items,
            )
        files = await self._in_lane(self.writer.finish, scratch, what="write the metadata")
        await self._in_lane(self._close_bag, bag, files, what="finish the bag")
        await self._in_lane(sink.commit, what="finish the file")

    async def _keep_fresh(self, sink: Sink) -> None:
        """Touch the part every `TOUCH_SECONDS` while the export runs, so that another export
        to the same destination does not take it for one left behind (`destinations`)."""
        while True:
            await trio.sleep(TOUCH_SECONDS)
            await trio.to_thread.run_sync(sink.touch, abandon_on_cancel=True)

    def _close_bag(self, bag: BagZipWriter, files: Sequence[tuple[str, Path]]) -> None:
        for name, path in files:
            bag.add_file(name, path, mime_type=self.writer.content_type)
        info = {**self.options.bag_info}
        bag.close(info)

    def _cleanup(
        self, sink: Sink | None, bag: BagZipWriter | None, scratch: Path, committed: bool
    ) -> None:
        if not committed:
            if bag is not None:
                bag.abort()
            if sink is not None:
                sink.abort()
        if self._writer is not None:
            self._writer.close()
        shutil.rmtree(scratch, ignore_errors=True)

    async def _in_lane(self, func: Callable[..., Any], *args: Any, what: str, **kw: Any) -> Any:
        """Run the blocking *func* in the writer thread; a failure ends the export at once
        (the items still running are cancelled: the ZIP can take nothing more)."""

        def call() -> Any:
            # Checked in the thread: another call may have failed since this one was queued.
            if self._broken:
                raise _Abandoned
            try:
                return func(*args, **kw)
            except BaseException:
                self._broken = True
                raise

        try:
            return await trio.to_thread.run_sync(call, limiter=self._lane)
        except _Abandoned:
            raise
        except DestinationError as e:
            self._items_scope.cancel()
            raise ExportError(str(e)) from e
        except (OSError, EOFError, ValueError, RuntimeError) as e:
            self._items_scope.cancel()
            raise ExportError(f"cannot {what}: {describe(e, filename=True)}") from e
        except Exception as e:
            # paramiko's SSHException and its kin derive from Exception alone
            if type(e).__module__.startswith("paramiko"):
                self._items_scope.cancel()
                raise ExportError(f"cannot {what}: SFTP: {e}") from e
            raise

    # -- one item ---------------------------------------------------------------------------

    async def _item(self, index: int, uri: str, bag: BagZipWriter) -> None:
        folder = self._item_scratch(index)
        # Once in the bag, the item's scratch files are gone (removed in the same thread call).
        clean = not self.options.export_binaries
        try:
            try:
                prepared = await self._prepare(index, uri, folder)
            except ItemFailure as e:
                self.counts.add("errors")
                metrics.EXPORT_ITEMS.labels("failed").inc()
                self.log.warning("export: item %d (%s) skipped: %s", index + 1, uri, e)
                return
            try:
                await self._in_lane(
                    self._add_to_bag, index, prepared, folder, bag, what=f"add {uri}"
                )
            except _Abandoned:
                return  # the export is ending: another item could not be written
            clean = True
            self.counts.add("exported")
            metrics.EXPORT_ITEMS.labels("exported").inc()
            self.log.debug("export: item %d (%s) done", index + 1, uri)
        finally:
            if not clean:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(shutil.rmtree, folder, True)

    def _add_to_bag(self, index: int, prepared: _Prepared, folder: Path, bag: BagZipWriter) -> None:
        for name, binary in prepared.binaries:
            bag.add_file(
                name,
                binary.path,
                mtime=binary.mtime,
                digests=binary.digests,
                mime_type=binary.mime_type,
            )
            binary.path.unlink(missing_ok=True)
        self.writer.add(index, prepared.metadata)
        if self.options.export_binaries:
            shutil.rmtree(folder, ignore_errors=True)

    def _item_scratch(self, index: int) -> Path:
        assert self._scratch is not None
        return self._scratch / f"item-{index}"

    async def _prepare(self, index: int, uri: str, folder: Path) -> _Prepared:
        if not self.repository.contains(uri):
            raise ItemFailure("not a resource of this repository")
        graph = await self._graph(uri)
        subject = URIRef(uri)
        if (subject, None, None) not in graph:
            raise ItemFailure("the repository has no description of it")
        item_dir = self._folders[index]
        binaries: list[tuple[str, _Binary]] = []
        if self.options.export_binaries:
            downloaded = await self._binaries(uri, graph, folder)
            taken: set[str] = set()
            stems: dict[str, int] = {}
            for binary in downloaded:
                if binary.on_page:
                    name = _page_file_name(binary.filename, binary.page, taken, stems)
                else:
                    name = _unique(binary.filename, taken)
                binaries.append((f"{item_dir}/{name}", binary))
        record = ItemRecord(
            uri=uri,
            graph=graph,
            files=[ExportedFile(name, b.label, b.tags) for name, b in binaries if b.on_page],
            item_files=[ExportedFile(name, None, b.tags) for name, b in binaries if not b.on_page],
            public_uri=self._public_uri(uri),
        )
        try:
            metadata = await trio.to_thread.run_sync(self.writer.render, record, limiter=self._cpu)
        except (ValueError, KeyError, rdflib.exceptions.Error) as e:
            raise ItemFailure(f"cannot describe it: {e}") from e
        return _Prepared(metadata=metadata, binaries=binaries)

    def _public_uri(self, uri: str) -> str | None:
        template = self.options.uri_template
        if template:
            return template.replace("{uuid}", uuid_of(uri) or _last_segment(uri))
        pattern = self.options.public_url_pattern
        if not pattern:
            return None
        try:
            return public_url(pattern, uri, self.repository.root)
        except PublicUrlError as e:
            raise ItemFailure(str(e)) from e

    async def _graph(self, uri: str, *, server_managed: bool = True) -> Graph:
        """The description of *uri*; without the server-managed triples (the creation dates,
        digests, LDP and Fedora types... less for Fedora to write and for us to read) where
        only what the import wrote is read: pages, proxies, binaries' descriptions."""
        async with self._requests:
            try:
                resource = await self.repository.get_graph(
                    uri, containment=False, server_managed=server_managed
                )
            except RepositoryError as e:
                raise ItemFailure(str(e)) from e
            except (ValueError, rdflib.exceptions.Error) as e:
                raise ItemFailure(f"GET {uri}: not an RDF description ({e})") from e
        return resource.graph

    # -- pages and binaries -----------------------------------------------------------------

    async def _binaries(self, uri: str, graph: Graph, folder: Path) -> list[_Binary]:
        subject = URIRef(uri)
        pages = await self._pages(subject, graph)
        plan: list[tuple[str, bool, str | None]] = []
        page_of: list[int] = []
        for n, page_graph, page_uri in pages:
            title = page_graph.value(page_uri, DCTERMS.title)
            label = str(title) if title is not None and str(title).strip() else f"Page {n + 1}"
            files = _files(page_graph, page_uri)
            plan.extend((str(f), True, label) for f in files)
            page_of.extend(n for _ in files)
        item_files = _files(graph, subject)
        plan.extend((str(f), False, None) for f in item_files)
        page_of.extend(len(pages) for _ in item_files)
        results: list[_Binary | None] = [None] * len(plan)

        async def fetch(slot: int, file_uri: str, on_page: bool, label: str | None) -> None:
            binary = await self._download(file_uri, folder / f"{slot}", on_page)
            if binary is None:
                return
            # The name the import wrote is the description's dcterms:title; the
            # Content-Disposition is only a fallback (Fedora 4.7 keeps its Latin-1 form).
            described = await self._description(file_uri, binary.description_uri)
            subject = URIRef(file_uri)
            name = file_title(described, subject, binary.filename)
            changes: dict[str, Any] = {
                "filename": safe_filename(name, file_uri),
                "label": label,
                "page": page_of[slot],
            }
            if getattr(self.writer, "wants_file_types", False):
                types = [t for t in described.objects(subject, RDF.type) if isinstance(t, URIRef)]
                changes["tags"] = usage_tags(types, binary.mime_type)
            results[slot] = attrs.evolve(binary, **changes)

        try:
            async with trio.open_nursery() as nursery:
                for slot, (file_uri, on_page, page_label) in enumerate(plan):
                    nursery.start_soon(fetch, slot, file_uri, on_page, page_label)
        except BaseExceptionGroup as group:
            raise failure_of(group, ItemFailure) or group from None
        # Pages in order; a page's files (a set in the repository) by name, so that two
        # exports of one item are the same.
        ordered = sorted(
            ((page_of[i], b.filename, i, b) for i, b in enumerate(results) if b is not None),
            key=lambda entry: entry[:3],
        )
        return [b for *_key, b in ordered]

    async def _description(self, uri: str, description_uri: str | None) -> Graph:
        """A binary's description: its name (dcterms:title) and rdf:types (FILES usage tags)."""
        return await self._graph(
            description_uri or f"{uri.rstrip('/')}/fcr:metadata", server_managed=False
        )

    async def _pages(self, subject: URIRef, graph: Graph) -> list[tuple[int, Graph, URIRef]]:
        """The item's pages (pcdm:hasMember) with their graphs, in page order: by
        fabio:hasSequenceIdentifier when every page has a number, else along the proxies
        (iana:first, iana:next), else by URI."""
        members = sorted(
            {m for m in graph.objects(subject, PCDM.hasMember) if isinstance(m, URIRef)}, key=str
        )
        graphs: dict[URIRef, Graph] = {}

        async def fetch(member: URIRef) -> None:
            graphs[member] = await self._graph(str(member), server_managed=False)

        try:
            async with trio.open_nursery() as nursery:
                for member in members:
                    nursery.start_soon(fetch, member)
        except BaseExceptionGroup as group:
            raise failure_of(group, ItemFailure) or group from None
        numbers: dict[URIRef, int] = {}
        for member in members:
            value = graphs[member].value(member, FABIO.hasSequenceIdentifier)
            if isinstance(value, Literal) and str(value).strip().isdigit():
                numbers[member] = int(str(value).strip())
        if len(numbers) == len(members):
            order = sorted(members, key=lambda m: (numbers[m], str(m)))
        else:
            order = await self._proxy_order(subject, graph, members)
        return [(n, graphs[m], m) for n, m in enumerate(order)]

    async def _proxy_order(
        self, subject: URIRef, graph: Graph, members: list[URIRef]
    ) -> list[URIRef]:
        first = graph.value(subject, IANA.first)
        order: list[URIRef] = []
        seen: set[URIRef] = set()
        current = first if isinstance(first, URIRef) else None
        while current is not None and current not in seen and len(seen) <= len(members):
            seen.add(current)
            proxy_graph = (
                graph
                if (current, None, None) in graph
                else await self._graph(current, server_managed=False)
            )
            target = proxy_graph.value(current, ORE.proxyFor)
            if isinstance(target, URIRef) and target in members and target not in order:
                order.append(target)
            following = proxy_graph.value(current, IANA.next)
            current = following if isinstance(following, URIRef) else None
        return order + [m for m in members if m not in order]

    async def _download(self, uri: str, path: Path, on_page: bool) -> _Binary | None:
        if not self.repository.contains(uri):
            raise ItemFailure(f"file {uri} is not a resource of this repository")
        async with self._requests:
            try:
                if self.options.binary_types:
                    info = await self.repository.head(uri)
                    if not mime_matches(info.content_type, self.options.binary_types):
                        return None
                async with self.repository.open_binary(uri) as binary:
                    scratch = _ScratchFile(path)
                    # Each chunk is written once the next has come, the last with the close:
                    # a binary of one chunk costs one thread call.
                    last: bytes | None = None
                    try:
                        async for chunk in binary.iter_bytes():
                            if last is not None:
                                await trio.to_thread.run_sync(scratch.write, last)
                            last = chunk
                    except BaseException:
                        with trio.CancelScope(shield=True):
                            await trio.to_thread.run_sync(scratch.close)
                        raise
                    with trio.CancelScope(shield=True):  # the file is closed, whatever comes
                        await trio.to_thread.run_sync(scratch.close, last)
                    digester = scratch.digester
                    expected = binary.length
                    if expected is not None and expected != digester.size:
                        raise ItemFailure(
                            f"GET {uri}: received {digester.size} of {expected} bytes"
                        )
                    self.download_bytes += digester.size
                    return _Binary(
                        uri=uri,
                        filename=binary.filename or "",
                        path=path,
                        size=digester.size,
                        digests=digester.hexdigests(),
                        mtime=_http_time(binary.headers.get("Last-Modified")),
                        mime_type=binary.content_type,
                        on_page=on_page,
                        description_uri=_described_by(binary.headers.get_list("Link")),
                    )
            except RepositoryError as e:
                raise ItemFailure(str(e)) from e
            except httpx.HTTPError as e:
                raise ItemFailure(f"GET {uri}: {describe(e, named=True)}") from e


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _described_by(links: list[str]) -> str | None:
    return next((ln.target for ln in parse_links(links) if ln.rel == "describedby"), None)


def _files(graph: Graph, subject: URIRef) -> list[URIRef]:
    return sorted(
        {f for f in graph.objects(subject, PCDM.hasFile) if isinstance(f, URIRef)}, key=str
    )


class _ScratchFile:
    """A binary's scratch copy, written chunk by chunk from worker threads and hashed on the
    way. The file (and its folder) is made with the first chunk; `close` takes the last: a
    small binary costs one thread call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digester = Digester()
        self._out: IO[bytes] | None = None

    def write(self, chunk: bytes) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("wb")
        self.digester.update(chunk)
        self._out.write(chunk)

    def close(self, last: bytes | None = None) -> None:
        """Write *last* (if any) and close the file (always, even if that write fails)."""
        try:
            if last is not None or self._out is None:
                self.write(last or b"")  # an empty binary is an empty file
        finally:
            if self._out is not None:
                self._out.close()


def mime_matches(content_type: str | None, wanted: Sequence[str]) -> bool:
    """Whether *content_type* (parameters ignored) is one of *wanted* (`type/*` allowed)."""
    if not content_type:
        return False
    base = content_type.split(";", 1)[0].strip().lower()
    for pattern in wanted:
        pattern = pattern.strip().lower()
        if pattern == base or (pattern.endswith("/*") and base.startswith(pattern[:-1])):
            return True
    return False


def uuid_of(uri: str) -> str | None:
    """The last UUID in the path of *uri*, lower-cased."""
    found = _UUID.findall(urlsplit(uri).path)
    return found[-1].lower() if found else None


def _last_segment(uri: str) -> str:
    path = urlsplit(uri).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) if path else ""


def item_folder_name(uri: str) -> str:
    """The folder of an item's binaries: the UUID in its URI, else its last path segment."""
    name = uuid_of(uri) or _clean(_last_segment(uri))
    return name or "item"


def item_folder_names(uris: Sequence[str]) -> list[str]:
    """`item_folder_name` of each URI, made unique (`-2`, `-3`, ...) where two collide."""
    taken: set[str] = {"metadata.ttl"}  # the metadata files sit beside the item folders
    names = []
    for uri in uris:
        name = item_folder_name(uri)
        if name.lower().endswith("_metadata.csv"):
            name = f"{name}-item"
        names.append(_unique(name, taken))
    return names


def file_title(described: Graph, subject: URIRef, fallback: str | None) -> str | None:
    """The name of a binary: its description's dcterms:title, as the import wrote it (of
    several, the one its Content-Disposition name *fallback* agrees with, else the first in
    order); *fallback* when it has none."""
    titles = sorted({str(t).strip() for t in described.objects(subject, DCTERMS.title)} - {""})
    if not titles:
        return fallback
    if fallback is not None and len(titles) > 1:
        agreeing = [t for t in titles if fallback in (t, _latin1_form(t))]
        if agreeing:
            return agreeing[0]
    return titles[0]


def _latin1_form(name: str) -> str:
    """*name* as Fedora 4.7 keeps it in Content-Disposition: the client's `filename` fallback
    (`plastrond.repository.content_disposition`), each letter outside printable ISO-8859-1
    made `_`."""
    return _NOT_LATIN1.sub("_", name)


def safe_filename(name: str | None, uri: str) -> str:
    """The name a binary takes in the bag (README, "File names in exports"): *name* (its
    title, or its Content-Disposition name) else the last segment of its URI, in NFC, after
    the last `/` or `\\`, each control character and each of `/\\:*?"<>|%` made `_`, spaces
    and dots at either end taken off, and cut to `MAX_NAME_BYTES` of UTF-8 (the extension
    kept). The same name always gives the same result."""
    candidate = _clean(name or "") or _clean(_last_segment(uri))
    return candidate or "file"


def _clean(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _ENDS.sub("", _UNSAFE.sub("_", name))
    return _shorten(name)


def _shorten(name: str, mark: str = "") -> str:
    """*name* with *mark* (`-2`) after its stem, within `MAX_NAME_BYTES` of UTF-8: the stem
    is cut at a whole character where it must be (an extension of up to 16 characters
    kept)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = name, ""
    suffix = f"{mark}.{ext}" if ext else mark
    if len(f"{stem}{suffix}".encode()) <= MAX_NAME_BYTES:
        return f"{stem}{suffix}"
    room = MAX_NAME_BYTES - len(suffix.encode())
    cut = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .")
    return f"{cut}{suffix}"


def _unique(name: str, taken: set[str]) -> str:
    """*name*, or `stem-2.ext`, `stem-3.ext`, ... so that no two (case-insensitively) clash."""
    candidate = name
    n = 1
    while candidate.lower() in taken:
        n += 1
        candidate = _shorten(name, f"-{n}")
    taken.add(candidate.lower())
    return candidate


def _page_file_name(name: str, page: int, taken: set[str], stems: dict[str, int]) -> str:
    """`_unique` for a file of page *page*, whose stem must also not be one of another page's
    (*stems*, lower case -> page): an import groups a page's files by stem, so `x?.jpg` and
    `x%.tif` of two pages are `x_.jpg` and `x_-2.tif`, not one page `x_`."""
    candidate = _unique(name, taken)
    n = 1
    while stems.get(_stem(candidate).lower(), page) != page:
        taken.discard(candidate.lower())
        n += 1
        candidate = _unique(_shorten(name, f"-{n}"), taken)
    stems[_stem(candidate).lower()] = page
    return candidate


def _stem(name: str) -> str:
    """The name without its extension, as an import groups FILES into pages by it."""
    return posixpath.splitext(name)[0]


def _http_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None

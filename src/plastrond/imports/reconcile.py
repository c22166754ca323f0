"""Reconciling an import job with the repository: is every item its logs call created there,
as logged?

    result = await reconcile_job(config, repository, job_id)        # ReconcileError
    result.clean, result.as_dict(), result.text()
    redo = await missing_items(repository, done.values())           # for a resume

What a job folder records of an item it created (completed.log.csv: the row's id and the
item's URI; source.csv: the row, so its identifier, title and FILES/ITEM_FILES) is compared
with what the repository holds, item by item:

- **missing**: the item's URI answers 404, or 410 (deleted, a tombstone left);
- **changed**: its identifier or title values differ from the row's, or its pages (their
  number, order and titles, read through `pcdm:hasMember` and `fabio:hasSequenceIdentifier`),
  a page's files or the item's own files (`pcdm:hasFile`, by the file names their
  descriptions carry as `dcterms:title`) are not the ones the row made: one missing, one more
  (an extra member the job did not make), another name;
- **unreadable**: the repository failed to answer about it (nothing is concluded).

Then the job's container is listed: a member that neither this job nor any other job folder
in JOBS_DIR with the same container logged is an **extra** member the job did not make (an item
created twice, or by a run that died before its log line). The digests of the files are not
compared: the job folder does not record them.

The repository is read concurrently, at most `concurrency` requests at once. The command line
(`plastrond -c CONFIG reconcile JOB_ID`), the http mode (`GET /jobs/<id>/reconcile`) and a
resumed import (`missing_items`, which only asks whether each item exists) share this code.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import trio
from rdflib import Graph, Literal, URIRef

from ..config import Config
from ..errors import PlastronError
from ..jobfolders import CompletedRow, JobFolder, JobFolderError, list_job_ids
from ..jobfolders.layout import CREATED, SOURCE_FILE
from ..jobs.items import Items
from ..models import ContentModel, Item, ModelError, current_models, page_title
from ..models.namespaces import DCTERMS, FABIO, LDP, PCDM
from ..repository import RepositoryClient, RepositoryError, ResourceNotFound
from .metadata import MetadataError, RowError, apply_row, read_metadata, read_row
from .plan import row_keys

__all__ = [
    "CHANGED",
    "MISSING",
    "OK",
    "UNREADABLE",
    "Expected",
    "ItemCheck",
    "ReconcileError",
    "Reconciliation",
    "UnknownJob",
    "missing_items",
    "reconcile_job",
]

log = logging.getLogger("plastrond.reconcile")

OK: Final = "ok"
MISSING: Final = "missing"
CHANGED: Final = "changed"
UNREADABLE: Final = "unreadable"
STATUSES: Final = (OK, MISSING, CHANGED, UNREADABLE)

#: requests to the repository at once, by default
CONCURRENCY: Final = 8


class ReconcileError(PlastronError):
    """The check cannot be made (no such job, a folder or CSV that cannot be read); one line."""


class UnknownJob(ReconcileError):
    """No such import job (no folder, or one without config.yml: it never ran)."""


@attrs.frozen
class Expected:
    """What the job folder says of one item it created."""

    key: str
    uri: str
    #: whether its row was found in source.csv (else only the item's existence is checked)
    known: bool = False
    identifiers: frozenset[Literal | URIRef] = frozenset()
    titles: frozenset[Literal | URIRef] = frozenset()
    #: the pages in order: (title, file names)
    pages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    item_files: tuple[str, ...] = ()
    #: whether the model has an identifier field (an Issue is known by its title)
    has_identifier: bool = True


@attrs.frozen
class ItemCheck:
    key: str
    uri: str
    status: str
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "uri": self.uri,
            "status": self.status,
            "problems": list(self.problems),
        }


@attrs.define
class Reconciliation:
    """The outcome: counts by status, the items not as logged, and the extra members."""

    job_id: str
    container: str | None
    counts: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(STATUSES, 0))
    #: the items that are not as logged, in the order of the log
    items: list[ItemCheck] = attrs.field(factory=list)
    #: members of the container that no job logged
    extra: list[str] = attrs.field(factory=list)
    #: why the container was not listed, when it was not
    extra_unchecked: str | None = None

    @property
    def checked(self) -> int:
        return sum(self.counts.values())

    @property
    def clean(self) -> bool:
        return self.checked == self.counts[OK] and not self.extra and self.extra_unchecked is None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "container": self.container,
            "clean": self.clean,
            "checked": self.checked,
            "counts": {**self.counts, "extra": len(self.extra)},
            "items": [c.as_dict() for c in self.items],
            "extra": list(self.extra),
        }
        if self.extra_unchecked is not None:
            body["extra_unchecked"] = self.extra_unchecked
        return body

    def text(self) -> str:
        """A report for people: one summary line, then one line per item not as logged."""
        counts = ", ".join(f"{self.counts[s]} {s}" for s in STATUSES if s != OK)
        head = (
            f"job {self.job_id}: {self.checked} item(s) logged created, {self.counts[OK]} as "
            f"logged, {counts}, {len(self.extra)} extra member(s) in {self.container}"
        )
        lines = [head]
        for check in self.items:
            lines.append(f"{check.status:<10} {check.key}  {check.uri}")
            lines.extend(f"           - {p}" for p in check.problems)
        lines.extend(
            f"{'extra':<10} {uri} (in the container; no job logged it)" for uri in self.extra
        )
        if self.extra_unchecked is not None:
            lines.append(f"the container's members were not checked: {self.extra_unchecked}")
        lines.append("all as logged" if self.clean else "NOT as logged")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# What the job folder says
# --------------------------------------------------------------------------------------------


@attrs.frozen
class _Job:
    container: str | None
    expected: tuple[Expected, ...]
    model: ContentModel | None = None


def _container_uri(text: str | None, repository: RepositoryClient) -> str | None:
    if not text:
        return None
    if text.startswith(("http://", "https://")):
        return text.rstrip("/")
    return repository.uri(text).rstrip("/")


def _created(rows: dict[str, CompletedRow]) -> list[CompletedRow]:
    return [r for r in rows.values() if r.status == CREATED and r.uri]


def _values(item: Item, name: str) -> frozenset[Literal | URIRef]:
    if name not in item.model.field_names:
        return frozenset()
    return frozenset(v for v in item.get(name) if isinstance(v, Literal | URIRef))


def _expectations(
    created: Sequence[CompletedRow], source: bytes | None, model: ContentModel, models: Any
) -> list[Expected]:
    """Each created item with what its row made (blocking: run in a thread)."""
    if not source:
        return [Expected(key=r.id, uri=r.uri) for r in created]
    try:
        metadata = read_metadata(source.decode("utf-8-sig"), model, models)
    except (UnicodeDecodeError, MetadataError) as e:
        raise ReconcileError(f"{SOURCE_FILE}: {e}") from None
    keys = row_keys(metadata.header, metadata.rows)
    rows = {keys[row.number]: row for row in metadata.rows}
    found: list[Expected] = []
    for done in created:
        row = rows.get(done.id)
        if row is None or row.problem is not None:
            found.append(Expected(key=done.id, uri=done.uri))
            continue
        try:
            data = read_row(metadata.header, row)
        except RowError:
            found.append(Expected(key=done.id, uri=done.uri))
            continue
        item = Item.new(done.uri, model)
        apply_row(item, metadata.header, data)
        pages = tuple(
            (
                group.label or page_title(item, group.stem, n),
                tuple(posixpath.basename(spec.path) for spec in group.files),
            )
            for n, group in enumerate(data.pages, 1)
        )
        found.append(
            Expected(
                key=done.id,
                uri=done.uri,
                known=True,
                identifiers=_values(item, "identifier"),
                titles=_values(item, "title"),
                pages=pages,
                item_files=tuple(posixpath.basename(s.path) for s in data.loose_files),
                has_identifier="identifier" in model.field_names,
            )
        )
    return found


async def _read_job(
    config: Config, repository: RepositoryClient, jobs_dir: Path, job_id: str
) -> _Job:
    def read() -> tuple[dict[str, Any] | None, bytes | None, dict[str, CompletedRow]]:
        folder = JobFolder.open(jobs_dir, job_id, create=False)
        return folder.read_config(), folder.read_source(), folder.read_completed()

    where = JobFolder(jobs_dir, job_id).path
    if where.is_symlink() or not where.is_dir():
        raise UnknownJob(f"no import job {job_id!r} in {jobs_dir}")
    try:
        stored, source, done = await trio.to_thread.run_sync(read)
    except JobFolderError as e:
        raise ReconcileError(str(e)) from None
    if stored is None:
        raise UnknownJob(f"import job {job_id!r} has no config.yml: it never ran")
    container = _container_uri(
        None if stored.get("container") is None else str(stored["container"]), repository
    )
    created = _created(done)
    model_name = stored.get("model")
    if not model_name:
        return _Job(container, tuple(Expected(key=r.id, uri=r.uri) for r in created))
    try:
        models = await current_models(config.content_models.dir)
        model = models.get(str(model_name))
    except ModelError as e:
        raise ReconcileError(str(e)) from None
    expected = await trio.to_thread.run_sync(_expectations, created, source, model, models)
    return _Job(container, tuple(expected), model)


def _logged_elsewhere(
    jobs_dir: Path, job_id: str, container: str, repository: RepositoryClient
) -> set[str]:
    """The URIs the other job folders of *jobs_dir* with the same container logged."""
    uris: set[str] = set()
    for other in list_job_ids(jobs_dir):
        if other == job_id:
            continue
        try:
            folder = JobFolder.open(jobs_dir, other, create=False)
            stored = folder.read_config() or {}
            theirs = stored.get("container")
            if _container_uri(None if theirs is None else str(theirs), repository) != container:
                continue
            uris.update(r.uri for r in folder.read_completed().values() if r.uri)
        except JobFolderError as e:
            log.warning("job %s left out of the extra members check: %s", other, e)
    return uris


# --------------------------------------------------------------------------------------------
# What the repository holds
# --------------------------------------------------------------------------------------------


class _Reader:
    """Reads graphs, at most *concurrency* at once."""

    def __init__(self, repository: RepositoryClient, concurrency: int) -> None:
        self.repository = repository
        self.limiter = trio.CapacityLimiter(max(1, concurrency))

    async def graph(self, uri: str, *, containment: bool = False) -> Graph:
        async with self.limiter:
            return (await self.repository.get_graph(uri, containment=containment)).graph

    async def exists(self, uri: str) -> bool:
        async with self.limiter:
            return await self.repository.exists(uri)


def _shown(values: Iterable[Any]) -> str:
    shown = sorted(
        f'"{v}"@{v.language}' if isinstance(v, Literal) and v.language else f'"{v}"' for v in values
    )
    return ", ".join(shown) or "none"


async def _file_names(
    reader: _Reader, files: Sequence[URIRef], where: str, problems: list[str]
) -> list[str]:
    names: list[str] = []
    for f in files:
        try:
            graph = await reader.graph(f"{f}/fcr:metadata")
        except ResourceNotFound:
            problems.append(f"{where}: file {f} is missing")
            continue
        title = graph.value(URIRef(str(f)), DCTERMS.title)
        names.append(str(title) if title is not None else "")
    return names


def _compare_files(
    where: str, found: Sequence[str], logged: Sequence[str], problems: list[str]
) -> None:
    if sorted(found) != sorted(logged):
        extra = sorted(set(found) - set(logged))
        lacking = sorted(set(logged) - set(found))
        shown = ", ".join(sorted(found)) or "none"
        detail = f"files {shown}, logged {', '.join(sorted(logged)) or 'none'}"
        if extra and not lacking:
            detail += f" (extra: {', '.join(extra)})"
        problems.append(f"{where}: {detail}")


async def _check(reader: _Reader, expected: Expected, model: ContentModel | None) -> ItemCheck:
    uri = expected.uri
    problems: list[str] = []
    try:
        graph = await reader.graph(uri)
    except ResourceNotFound:
        return ItemCheck(expected.key, uri, MISSING, (f"{uri} is not in the repository",))
    except RepositoryError as e:
        return ItemCheck(expected.key, uri, UNREADABLE, (str(e),))
    if not expected.known or model is None:
        return ItemCheck(expected.key, uri, OK)
    try:
        item = Item.from_graph(graph, uri, model)
        if expected.has_identifier and _values(item, "identifier") != expected.identifiers:
            found = _shown(_values(item, "identifier"))
            problems.append(f"identifier {found}, logged {_shown(expected.identifiers)}")
        if _values(item, "title") != expected.titles:
            problems.append(
                f"title {_shown(_values(item, 'title'))}, logged {_shown(expected.titles)}"
            )
        pages: list[tuple[int, str, str, list[str]]] = []
        for member in item.members:
            try:
                page = await reader.graph(str(member))
            except ResourceNotFound:
                problems.append(f"page {member} is missing")
                continue
            subject = URIRef(str(member))
            number = page.value(subject, FABIO.hasSequenceIdentifier)
            title = page.value(subject, DCTERMS.title)
            files = sorted(
                (o for o in page.objects(subject, PCDM.hasFile) if isinstance(o, URIRef)), key=str
            )
            where = f"page {str(title) if title is not None else member}"
            names = await _file_names(reader, files, where, problems)
            order = (
                int(number) if isinstance(number, Literal) and str(number).isdigit() else 1 << 30
            )
            pages.append((order, str(member), str(title) if title is not None else "", names))
        pages.sort()
        titles = [p[2] for p in pages]
        logged_titles = [p[0] for p in expected.pages]
        if titles != logged_titles:
            problems.append(
                f"{len(titles)} page(s) {titles}, logged {len(logged_titles)} {logged_titles}"
            )
        for (_, _, _title, names), (logged_title, logged_names) in zip(
            pages, expected.pages, strict=False
        ):
            _compare_files(f"page {logged_title}", names, logged_names, problems)
        for _, extra_uri, extra_title, _names in pages[len(expected.pages) :]:
            problems.append(f"extra page {extra_uri} ({extra_title}) the job did not make")
        own = await _file_names(reader, sorted(item.files, key=str), "item", problems)
        _compare_files("item", own, expected.item_files, problems)
    except ResourceNotFound as e:
        problems.append(f"a part went missing while it was read: {e}")
    except RepositoryError as e:
        return ItemCheck(expected.key, uri, UNREADABLE, (str(e),))
    if problems:
        return ItemCheck(expected.key, uri, CHANGED, tuple(problems))
    return ItemCheck(expected.key, uri, OK)


async def reconcile_job(
    config: Config,
    repository: RepositoryClient,
    job_id: str,
    *,
    concurrency: int = CONCURRENCY,
    extras: bool = True,
    jobs_dir: Path | None = None,
) -> Reconciliation:
    """Compare the import job *job_id*'s logs with the repository (see the module), the job
    folder read from *jobs_dir* (by default COMMANDS.IMPORT.JOBS_DIR). ReconcileError when the
    job cannot be read; the repository's failures are in the result."""
    jobs_dir = jobs_dir or config.commands.import_.jobs_dir
    if jobs_dir is None:
        raise ReconcileError(
            f"no folder for import jobs is configured ({config.path}: COMMANDS.IMPORT.JOBS_DIR)"
        )
    job = await _read_job(config, repository, jobs_dir, job_id)
    model = job.model
    result = Reconciliation(job_id=job_id, container=job.container)
    reader = _Reader(repository, concurrency)
    checks: dict[int, ItemCheck] = {}

    async def one(item: tuple[int, Expected]) -> None:
        n, expected = item
        check = await _check(reader, expected, model)
        result.counts[check.status] += 1
        if check.status != OK:
            checks[n] = check

    # at most a few items in flight per request slot: the results are kept only when not ok
    await Items().for_each(enumerate(job.expected), one, 2 * max(1, concurrency))
    result.items = [checks[n] for n in sorted(checks)]
    if extras and job.container is not None:
        await _extras(result, reader, jobs_dir, job_id, job)
    return result


async def _extras(
    result: Reconciliation, reader: _Reader, jobs_dir: Path, job_id: str, job: _Job
) -> None:
    container = job.container
    assert container is not None
    try:
        graph = await reader.graph(container, containment=True)
    except RepositoryError as e:
        result.extra_unchecked = f"{container} cannot be read: {e}"
        return
    members = {str(o) for o in graph.objects(URIRef(container), LDP.contains)}
    members -= {e.uri for e in job.expected}
    if not members:
        return
    try:
        others = await trio.to_thread.run_sync(
            _logged_elsewhere, jobs_dir, job_id, container, reader.repository
        )
    except JobFolderError as e:
        result.extra_unchecked = f"the other job folders cannot be read: {e}"
        return
    result.extra = sorted(members - others)


# --------------------------------------------------------------------------------------------
# For a resume
# --------------------------------------------------------------------------------------------


async def missing_items(
    repository: RepositoryClient,
    done: Iterable[CompletedRow],
    *,
    concurrency: int = CONCURRENCY,
    log: logging.Logger = log,
) -> set[str]:
    """The ids of the rows logged created whose item is not in the repository (404 or 410):
    a resume does them again, as new items. An item the repository cannot answer about is not
    among them (doing it again could make a second copy)."""
    reader = _Reader(repository, concurrency)
    missing: set[str] = set()
    unknown: list[str] = []

    async def one(row: CompletedRow) -> None:
        try:
            if not await reader.exists(row.uri):
                missing.add(row.id)
        except RepositoryError as e:
            if not unknown:
                log.warning(
                    "cannot tell whether %s (%s) is in the repository: %s", row.uri, row.id, e
                )
            unknown.append(row.id)

    created = (row for row in done if row.status == CREATED and row.uri)
    await Items().for_each(created, one, 2 * max(1, concurrency))
    if len(unknown) > 1:
        log.warning("%d items logged created could not be checked: left as they are", len(unknown))
    for key in sorted(missing):
        log.warning("%s was logged created, and is not in the repository: doing it again", key)
    return missing

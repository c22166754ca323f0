"""One run of an import job: from the request's options to the completion body.

    run = await ImportRun.prepare(options, config, repository, log)   # ImportJobError
    try:
        await run.run(send)          # sends progress dicts on *send* as rows finish
    finally:
        await run.close()
    state, body = run.result()

`prepare` sets up the job folder (config.yml, source.csv, a new run folder), reads the CSV
through the content model, settles what an earlier run left unresolved and picks the rows to
do: those within `limit`, not yet in completed.log.csv, thinned to `percent`. Every run skips
the rows completed before (a plain rerun as well as `resume`), so the daemon's rerun of a job
interrupted by a shutdown or a crash goes on where it stopped.

Each row, up to `MAX_CONCURRENT_ITEMS` at once: its cells are read, a `URI` row's resource is
read and the row's values applied to it, the item is validated and (new items) its files
looked for; an invalid row goes to dropped-invalid.log.csv. Then, unless `validate-only`: a
new item, with its pages, files and proxies, is created in one transaction (a failure rolls it
back and the row goes to dropped-failed.log.csv), a `URI` row becomes one SPARQL Update of the
difference (none when nothing changed). Each imported row is appended to completed.log.csv as
soon as it is done, so the log's order is the order rows finished in.

Before a new item's transaction begins, its URI goes to `.pending.csv`: a run that stops between
the commit and the log line leaves a "begun" entry that the next run resolves by asking the
repository whether the item exists (then it is logged as completed, never created twice).

A row is known in the logs by its identifier (the model's `identifier` column, else `handle`,
else `title`); a row whose identifier is empty or shared with another row is known by its
line instead (`<identifier> (source.csv:<line>)`, or `source.csv:<line>`).
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs
import trio
from rdflib import Graph, URIRef

from .. import metrics
from ..config import Config
from ..jobfolders import AppendLog, JobFolder, JobFolderError, PendingItem, Run, timestamp
from ..jobfolders.layout import CREATED, MODIFIED, SOURCE_FILE, UNCHANGED
from ..models import (
    ContentModel,
    Item,
    ModelError,
    ModelSet,
    VocabularyCache,
    VocabularyError,
    current_models,
    shared_cache,
    sparql_update,
    validate,
)
from ..repository import (
    PreconditionFailed,
    RepositoryClient,
    RepositoryError,
    ResourceNotFound,
)
from .binaries import BinariesError, Location, parse_location
from .items import FLAT, STRUCTURES, plan_item, write_item
from .metadata import (
    Header,
    MetadataError,
    RowData,
    RowError,
    SourceRow,
    apply_row,
    first_text,
    is_iri,
    read_metadata,
    read_row,
    row_key_text,
    split_cell,
)

__all__ = [
    "IMPORT_COMPLETE",
    "IMPORT_INCOMPLETE",
    "VALIDATE_FAILED",
    "VALIDATE_SUCCESS",
    "Counts",
    "ImportJobError",
    "ImportOptions",
    "ImportRun",
    "row_keys",
    "select_rows",
]

VALIDATE_SUCCESS: Final = "validate_success"
VALIDATE_FAILED: Final = "validate_failed"
IMPORT_COMPLETE: Final = "import_complete"
IMPORT_INCOMPLETE: Final = "import_incomplete"

T = TypeVar("T")


class ImportJobError(Exception):
    """The job cannot go on; one line. *details* are extra keys for the completion body."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: Mapping[str, Any] = details or {}


@attrs.frozen
class ImportOptions:
    """An import request's arguments, checked (None: not given)."""

    job_id: str
    body: bytes = b""
    model: str | None = None
    name: str | None = None
    access: str | None = None
    member_of: str | None = None
    container: str | None = None
    structure: str | None = None
    binaries_location: str | None = None
    validate_only: bool = False
    resume: bool = False
    limit: int | None = None
    percent: int | None = None
    extract_text: str | None = None


@attrs.define
class Counts:
    """The counters of protocol.md: all integers, only `total` may be None."""

    total: int | None = None
    rows: int = 0
    errors: int = 0
    valid: int = 0
    invalid: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    files: int = 0

    def as_dict(self) -> dict[str, int | None]:
        return attrs.asdict(self)


@attrs.frozen
class _Settings:
    """What the run works with: the request's options over the stored config.yml."""

    job_id: str
    model_name: str
    name: str | None
    access: str | None
    member_of: str | None
    container: str
    structure: str
    binaries_location: str | None

    def config_fields(self) -> dict[str, str | None]:
        fields: dict[str, str | None] = {
            "job_id": self.job_id,
            "model": self.model_name,
            "access": self.access,
            "member_of": self.member_of,
            "container": self.container,
            "binaries_location": self.binaries_location,
            "structure": self.structure,
        }
        if self.name is not None:
            fields["name"] = self.name
        return fields


def row_keys(header: Header, rows: Sequence[SourceRow]) -> dict[int, str]:
    """Each row's id in the logs (by row number): its identifier when that is not empty and no
    other row has it, else its line (see the module)."""
    texts = {row.number: row_key_text(header, row) for row in rows}
    seen = collections.Counter(texts.values())
    keys: dict[int, str] = {}
    for row in rows:
        text = texts[row.number]
        where = f"{SOURCE_FILE}:{row.line}"
        if not text:
            keys[row.number] = where
        elif seen[text] > 1:
            keys[row.number] = f"{text} ({where})"
        else:
            keys[row.number] = text
    return keys


def select_rows(
    rows: Sequence[SourceRow],
    done: Callable[[SourceRow], bool],
    limit: int | None,
    percent: int | None,
) -> tuple[list[SourceRow], int]:
    """(the rows to do, how many rows within the limit were done before). `limit` counts rows
    from the top of the file, done or not; `percent` then keeps an evenly spaced share of the
    rest, as close as possible to that percentage of all the rows within the limit."""
    within = list(rows if limit is None else rows[:limit])
    todo = [row for row in within if not done(row)]
    skipped = len(within) - len(todo)
    if percent is not None and percent < 100 and todo:
        target = max(1, math.floor(percent / 100 * len(within) + 0.5))
        if target < len(todo):
            step = len(todo) / target
            todo = [todo[math.floor(i * step)] for i in range(target)]
    return todo, skipped


class _RowFailed(Exception):
    """A row could not be imported; the reason goes to dropped-failed.log.csv."""


@attrs.define
class _Logs:
    """The logs a run appends to, each written by one worker thread at a time."""

    completed: AppendLog | None
    pending: AppendLog | None
    run: Run
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def append(self, log: AppendLog, values: Sequence[str], *, sync: bool = False) -> None:
        def work() -> None:
            log.append(values)
            if sync:
                log.sync()

        try:
            await trio.to_thread.run_sync(work, limiter=self.limiter)
        except JobFolderError as e:  # a full disk, say: no row can be recorded any more
            raise ImportJobError(str(e)) from None

    def close(self) -> None:
        for log in (self.completed, self.pending):
            if log is not None:
                log.close()
        self.run.close()


class ImportRun:
    def __init__(
        self,
        *,
        options: ImportOptions,
        settings: _Settings,
        model: ContentModel,
        header: Header,
        rows: Sequence[SourceRow],
        selected: Sequence[SourceRow],
        skipped: int,
        keys: Mapping[int, str],
        completed: set[str],
        folder: JobFolder,
        logs: _Logs,
        repository: RepositoryClient,
        container_uri: str,
        access: URIRef | None,
        location: Location | None,
        vocabularies: VocabularyCache,
        concurrency: int,
        log: logging.Logger,
        pending: Sequence[PendingItem] = (),
    ) -> None:
        self.options = options
        self.settings = settings
        self.model = model
        self.header = header
        self.rows = rows
        self.selected = selected
        self.keys = keys
        self.completed = completed
        self.folder = folder
        self.logs = logs
        self.repository = repository
        self.container_uri = container_uri
        self.access = access
        self.location = location
        self.vocabularies = vocabularies
        self.concurrency = concurrency
        self.log = log
        self.started = time.time()
        self.counts = Counts(total=len(rows), rows=skipped)
        self.planned = skipped + len(selected)
        self.reports: dict[int, dict[str, Any]] = {}
        self.send: trio.MemorySendChannel[dict[str, Any]] | None = None
        #: new items begun by an interrupted run, settled before the rows are done
        self.pending = list(pending)
        #: rows left out of this run because an earlier one may have done them
        self.held: set[str] = set()
        self._closed = False

    @property
    def validate_only(self) -> bool:
        return self.options.validate_only

    # -- preparing ---------------------------------------------------------------------------

    @classmethod
    async def prepare(
        cls,
        options: ImportOptions,
        config: Config,
        repository: RepositoryClient,
        log: logging.Logger,
    ) -> ImportRun:
        """Everything the run needs, set up and checked (ImportJobError when it cannot run)."""
        section = config.commands.import_
        jobs_dir = section.jobs_dir
        if jobs_dir is None:
            raise ImportJobError(
                f"no folder for import jobs is configured ({config.path}: COMMANDS.IMPORT.JOBS_DIR)"
            )
        folder = await _in_thread(
            functools.partial(JobFolder.open, create=not options.resume), jobs_dir, options.job_id
        )
        await _in_thread(folder.lock)
        try:
            return await cls._prepare_locked(options, config, repository, log, folder)
        except BaseException:
            folder.unlock()
            raise

    @classmethod
    async def _prepare_locked(
        cls,
        options: ImportOptions,
        config: Config,
        repository: RepositoryClient,
        log: logging.Logger,
        folder: JobFolder,
    ) -> ImportRun:
        section = config.commands.import_
        stored = await _in_thread(folder.read_config)
        if options.resume and stored is None:
            raise ImportJobError(
                f"cannot resume job {options.job_id}: its folder has no config.yml"
            )
        settings = _settle(options, stored or {}, config.repository.relpath)
        source = options.body
        if not source.strip():
            if not options.resume:
                raise ImportJobError("the message body is empty (expected the metadata CSV)")
            stored_source = await _in_thread(folder.read_source)
            if not stored_source:
                raise ImportJobError(
                    f"cannot resume job {options.job_id}: its folder has no source.csv"
                )
            source = stored_source
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ImportJobError(f"the CSV is not UTF-8 text (byte {e.start})") from None

        settings_cm = config.content_models
        try:
            models = await current_models(settings_cm.dir)
            model = models.get(settings.model_name)
        except ModelError as e:
            raise ImportJobError(str(e)) from None
        try:
            metadata = await trio.to_thread.run_sync(read_metadata, text, model, models)
        except MetadataError as e:
            raise ImportJobError(f"{SOURCE_FILE}: {e}") from None
        access = _access(settings.access, models)
        if settings.member_of is not None and not (
            settings.member_of.startswith(("http://", "https://")) and is_iri(settings.member_of)
        ):
            raise ImportJobError(
                f"argument member-of is not an http(s) URI: {settings.member_of!r}"
            )
        container_uri = _container_uri(settings.container, repository)

        location: Location | None = None
        if settings.binaries_location is not None:
            try:
                location = parse_location(settings.binaries_location, section)
            except BinariesError as e:
                raise ImportJobError(str(e)) from None

        # The job folder: config.yml, source.csv, and what earlier runs did.
        await _in_thread(folder.write_config, settings.config_fields())
        if source is options.body:
            await _in_thread(folder.write_source, source)
        done = await _in_thread(folder.read_completed)
        completed = set(done)
        keys = row_keys(metadata.header, metadata.rows)
        pending: list[PendingItem] = []
        if not options.validate_only:
            pending = await _in_thread(folder.read_pending, {r.uri for r in done.values()})
        selected, skipped = select_rows(
            metadata.rows,
            lambda row: keys[row.number] in completed,
            options.limit,
            options.percent,
        )
        if location is None and metadata.header.has_files:
            for row in selected:
                names = [
                    c
                    for c in ("FILES", "ITEM_FILES")
                    if c in metadata.header.system
                    and row.cell(metadata.header.system[c]).strip()
                    and not row.cell(metadata.header.system.get("URI")).strip()
                ]
                if names:
                    raise ImportJobError(
                        f"{SOURCE_FILE}:{row.line}: {names[0]} names files, and no "
                        "binaries-location was given"
                    )

        if any(not row.cell(metadata.header.system.get("URI")).strip() for row in selected):
            try:
                found = await repository.exists(container_uri)
            except RepositoryError as e:
                raise ImportJobError(f"cannot check the container {container_uri}: {e}") from None
            if not found:
                raise ImportJobError(
                    f"the container for new items does not exist: {container_uri} "
                    "(argument relpath or container)"
                )

        vocabularies = shared_cache(
            {**models.vocabularies, **settings_cm.vocabularies},
            ttl=settings_cm.vocabulary_cache_seconds,
            timeout=settings_cm.vocabulary_timeout,
        )
        run_folder = await _in_thread(folder.start_run)
        logs = _Logs(completed=None, pending=None, run=run_folder)
        try:
            if not options.validate_only:
                logs.completed = await _in_thread(folder.completed_log)
                logs.pending = await _in_thread(folder.pending_log)
            run = cls(
                options=options,
                settings=settings,
                model=model,
                header=metadata.header,
                rows=metadata.rows,
                selected=selected,
                skipped=skipped,
                keys=keys,
                completed=completed,
                folder=folder,
                logs=logs,
                repository=repository,
                container_uri=container_uri,
                access=access,
                location=location,
                vocabularies=vocabularies,
                concurrency=section.max_concurrent_items,
                log=log,
                pending=pending,
            )
            log.info(
                "import of %d row(s) as %s into %s (run %s): %d to do, %d done before%s",
                len(metadata.rows),
                model.name,
                container_uri,
                run_folder.name,
                len(selected),
                skipped,
                ", validation only" if options.validate_only else "",
            )
        except BaseException:
            logs.close()
            raise
        return run

    # -- running -----------------------------------------------------------------------------

    async def run(self, send: trio.MemorySendChannel[dict[str, Any]]) -> None:
        """Do the selected rows, sending progress on *send* as each finishes; closes *send*."""
        self.send = send
        async with send:
            if self.location is not None:
                try:
                    await self.location.open()
                except BinariesError as e:
                    raise ImportJobError(str(e), self.details()) from None
            if self.pending:
                await self._resolve_pending()
            slots = trio.Semaphore(self.concurrency)
            async with trio.open_nursery() as nursery:
                for row in self.selected:
                    key = self.keys[row.number]
                    if key in self.completed or key in self.held:
                        self.counts.rows += 1  # resolved from .pending.csv just now
                        continue
                    await slots.acquire()
                    nursery.start_soon(self._one, row, slots)

    async def close(self) -> None:
        """Release the logs, the location and the job folder (shielded from cancellation)."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            try:
                if self.location is not None:
                    await self.location.aclose()
            finally:
                await trio.to_thread.run_sync(self.logs.close)
                self.folder.unlock()

    async def _one(self, row: SourceRow, slots: trio.Semaphore) -> None:
        try:
            await self._row(row)
        except ImportJobError:
            raise
        except Exception as e:
            # Whatever went wrong with this row, the others go on.
            self.log.exception("%s: failed", _where(row))
            key = self.keys[row.number]
            await self._drop_failed(row, key, _row_title(self.header, row), "", _reason(e))
        finally:
            slots.release()
        self.counts.rows += 1
        if self.send is not None:
            self.send.send_nowait(self.progress())

    async def _resolve_pending(self) -> None:
        """Settle the new items an interrupted run began: logged as created when they exist,
        marked rolled back when not; when the repository cannot say, the row is left out of
        this run (it would risk a second copy)."""
        by_key = {self.keys[row.number]: row for row in self.rows}
        assert self.logs.completed is not None and self.logs.pending is not None
        for item in self.pending:
            try:
                exists = await self.repository.exists(item.uri)
            except RepositoryError as e:
                self.log.warning("cannot tell whether %s was created: %s", item.uri, e)
                self.held.add(item.id)  # not redone in this run
                await self._drop_failed(
                    by_key.get(item.id),
                    item.id,
                    "",
                    item.uri,
                    f"an earlier run began creating {item.uri}, and the repository cannot say "
                    f"whether it exists ({e}); run the job again",
                )
                continue
            if exists:
                row = by_key.get(item.id)
                title = _row_title(self.header, row) if row is not None else ""
                self.log.info("found %s, created by an interrupted run: completed", item.uri)
                await self.logs.append(
                    self.logs.completed, [item.id, timestamp(), title, item.uri, CREATED]
                )
                self.completed.add(item.id)
            else:
                await self.logs.append(self.logs.pending, [item.id, item.uri, "rolled back"])

    async def _row(self, row: SourceRow) -> None:
        key = self.keys[row.number]
        report: dict[str, Any] = {
            "line": f"{SOURCE_FILE}:{row.line}",
            "is_valid": False,
            "passed": [],
            "failed": [],
        }
        self.reports[row.number] = report
        title = _row_title(self.header, row)
        if len(row.cells) != self.header.width:
            width = f"wrong number of columns: expected {self.header.width}, found {len(row.cells)}"
            await self._invalid(row, key, title, "", report, errors=[width])
            return
        try:
            data = read_row(self.header, row)
        except RowError as e:
            await self._invalid(row, key, title, "", report, errors=e.problems)
            return
        old: Graph | None = None
        state_token: str | None = None
        if data.uri is not None:
            problem, item, old, state_token = await self._read_existing(data.uri)
            if problem is not None or item is None:
                await self._invalid(row, key, title, data.uri, report, errors=[problem or ""])
                return
        else:
            item = Item.new(f"{self.container_uri}/{uuid.uuid4()}", self.model)
        apply_row(item, self.header, data)
        title = first_text(item, "title") or title
        try:
            result = await validate(item, self.vocabularies)
        except VocabularyError as e:
            raise ImportJobError(f"cannot validate: {e}", self.details()) from None
        report["passed"] = [o.as_list() for o in result.passed()]
        report["failed"] = [o.as_list() for o in result.failed()]
        # upstream's words: "Validation failures: title is required; ..."
        rules = [f"{name} {text}" for name, text in result.messages().items()]
        errors: list[str] = []
        if data.uri is None:
            paths = data.all_files
            self.counts.files += len(paths)
            if paths:
                for column, path, missing in await self._missing_files(data):
                    report["failed"].append([column, "failed", "file_exists", path])
                    errors.append(missing)
        if rules or errors:
            await self._invalid(row, key, title, data.uri or "", report, errors=errors, rules=rules)
            return
        report["is_valid"] = True
        self.counts.valid += 1
        if self.validate_only:
            return
        if data.uri is None:
            await self._create(row, key, title, item, data)
        else:
            assert old is not None
            await self._update(row, key, title, item, old, state_token)

    async def _read_existing(
        self, uri: str
    ) -> tuple[str | None, Item | None, Graph | None, str | None]:
        if not self.repository.contains(uri):
            return (
                f"URI {uri} is not in this repository ({self.repository.root})",
                None,
                None,
                None,
            )
        try:
            read = await self.repository.get_graph(uri, containment=False)
        except ResourceNotFound:
            return f"URI {uri}: no such resource in the repository", None, None, None
        except RepositoryError as e:
            return f"URI {uri} cannot be read: {e}", None, None, None
        except Exception as e:  # an answer that is not RDF (a binary, say)
            return f"URI {uri} is not an RDF resource: {type(e).__name__}", None, None, None
        item = Item.from_graph(read.graph, uri, self.model)
        return None, item, read.graph, read.state_token

    async def _missing_files(self, data: RowData) -> list[tuple[str, str, str]]:
        location = self.location
        found: list[tuple[str, str, str]] = []
        if location is None:
            return [
                (c, p, f"Missing file: {p} (no binaries-location)")
                for c, paths in (("FILES", data.files), ("ITEM_FILES", data.item_files))
                for p in paths
            ]
        problems = await location.check(data.all_files)
        for column, paths in (("FILES", data.files), ("ITEM_FILES", data.item_files)):
            for path in paths:
                if path in problems:
                    found.append((column, path, problems[path]))
        return found

    async def _create(
        self, row: SourceRow, key: str, title: str, item: Item, data: RowData
    ) -> None:
        assert self.logs.pending is not None and self.logs.completed is not None
        plan = plan_item(
            item,
            data,
            container=self.container_uri,
            structure=self.settings.structure,
            access=self.access,
            member_of=self.settings.member_of,
        )
        await self.logs.append(self.logs.pending, [key, plan.uri, "begun"], sync=True)
        try:
            async with self.repository.transaction() as tx:
                await write_item(tx, plan, self.location)
        except Exception as e:
            reason = _reason(e)
            try:
                exists = await self.repository.exists(plan.uri)
            except RepositoryError as head_error:
                self.log.warning("cannot tell whether %s was created: %s", plan.uri, head_error)
                await self._drop_failed(
                    row,
                    key,
                    title,
                    "",
                    f"{reason} (whether {plan.uri} was created is not known: the next run "
                    "finds out)",
                )
                return
            if not exists:
                await self.logs.append(self.logs.pending, [key, plan.uri, "rolled back"])
                self.log.warning("%s: not imported, rolled back: %s", _where(row), reason)
                await self._drop_failed(row, key, title, "", f"Creating item failed: {reason}")
                return
            self.log.warning(
                "%s: %s, yet %s exists: the commit went through", _where(row), reason, plan.uri
            )
        await self.logs.append(self.logs.completed, [key, timestamp(), title, plan.uri, CREATED])
        self.completed.add(key)
        self.counts.created += 1
        metrics.IMPORT_ITEMS.labels("created").inc()
        self.log.info("%s: created %s (%d file(s))", _where(row), plan.uri, len(plan.files))

    async def _update(
        self,
        row: SourceRow,
        key: str,
        title: str,
        item: Item,
        old: Graph,
        state_token: str | None,
    ) -> None:
        assert self.logs.completed is not None
        uri = str(item.uri)
        try:
            patch = sparql_update(old, item.to_graph())
        except ValueError as e:
            await self._drop_failed(row, key, title, uri, f"Updating item failed: {e}")
            return
        status = UNCHANGED
        if patch:
            try:
                await self.repository.update(uri, patch, if_state_token=state_token)
            except PreconditionFailed:
                await self._drop_failed(
                    row,
                    key,
                    title,
                    uri,
                    "Updating item failed: it changed while it was being updated; run the job "
                    "again",
                )
                return
            except RepositoryError as e:
                await self._drop_failed(row, key, title, uri, f"Updating item failed: {e}")
                return
            status = MODIFIED
        await self.logs.append(self.logs.completed, [key, timestamp(), title, uri, status])
        self.completed.add(key)
        if status == MODIFIED:
            self.counts.updated += 1
            metrics.IMPORT_ITEMS.labels("updated").inc()
            self.log.info("%s: updated %s", _where(row), uri)
        else:
            self.counts.unchanged += 1
            metrics.IMPORT_ITEMS.labels("unchanged").inc()
            self.log.info("%s: %s unchanged", _where(row), uri)

    async def _invalid(
        self,
        row: SourceRow,
        key: str,
        title: str,
        uri: str,
        report: dict[str, Any],
        *,
        errors: Sequence[str] = (),
        rules: Sequence[str] = (),
    ) -> None:
        """Count and log an invalid row: *rules* are its failed validation rules (as text),
        *errors* its other problems (missing files, unreadable cells, ...)."""
        self.counts.invalid += 1
        report["is_valid"] = False
        if errors:
            report["errors"] = list(errors)
        reason = "; ".join([*rules, *errors])
        if rules:
            reason = f"Validation failures: {reason}"
        self.log.warning("%s: invalid: %s", _where(row), reason)
        await self.logs.append(self.logs.run.invalid, [key, timestamp(), title, uri, reason])

    async def _drop_failed(
        self, row: SourceRow | None, key: str, title: str, uri: str, reason: str
    ) -> None:
        self.counts.errors += 1
        metrics.IMPORT_ITEMS.labels("failed").inc()
        await self.logs.append(self.logs.run.failed, [key, timestamp(), title, uri, reason])

    # -- reporting ---------------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        now = time.time()
        body: dict[str, Any] = {
            "time": {"started": self.started, "now": now, "elapsed": round(now - self.started, 3)},
            "count": self.counts.as_dict(),
        }
        if self.planned:
            body["progress"] = max(0, min(100, math.floor(100 * self.counts.rows / self.planned)))
        return body

    def validation(self) -> list[dict[str, Any]]:
        return [self.reports[n] for n in sorted(self.reports)]

    def details(self) -> dict[str, Any]:
        """What a failed job's completion carries besides the error."""
        return {"count": self.counts.as_dict(), "validation": self.validation()}

    def result(self) -> tuple[str, dict[str, Any]]:
        """The completion's state and body."""
        if self.validate_only:
            state = VALIDATE_SUCCESS if self.counts.invalid == 0 else VALIDATE_FAILED
        else:
            every = all(self.keys[row.number] in self.completed for row in self.rows)
            state = IMPORT_COMPLETE if every else IMPORT_INCOMPLETE
        return state, {"type": state, **self.details()}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    try:
        return await trio.to_thread.run_sync(func, *args)
    except JobFolderError as e:
        raise ImportJobError(str(e)) from None


def _settle(options: ImportOptions, stored: Mapping[str, Any], relpath: str) -> _Settings:
    """The request's options over the stored config.yml (only when resuming)."""
    base: Mapping[str, Any] = stored if options.resume else {}

    def pick(given: str | None, key: str) -> str | None:
        if given is not None:
            return given
        value = base.get(key)
        return None if value is None else str(value)

    model = pick(options.model, "model")
    if model is None:
        raise ImportJobError("missing required argument model (header PlastronArg-model)")
    structure = pick(options.structure, "structure") or FLAT
    if structure not in STRUCTURES:
        raise ImportJobError(f"structure must be flat or hierarchical, not {structure!r}")
    return _Settings(
        job_id=options.job_id,
        model_name=model,
        name=pick(options.name, "name"),
        access=pick(options.access, "access"),
        member_of=pick(options.member_of, "member_of"),
        container=pick(options.container, "container") or relpath,
        structure=structure,
        binaries_location=pick(options.binaries_location, "binaries_location"),
    )


def _access(text: str | None, models: ModelSet) -> URIRef | None:
    if text is None:
        return None
    try:
        access = models.expand(text)
    except ModelError as e:
        raise ImportJobError(f"argument access: {e}") from None
    if not is_iri(str(access)):
        raise ImportJobError(f"argument access is not a URI or CURIE: {text!r}")
    return access


def _container_uri(text: str, repository: RepositoryClient) -> str:
    if text.startswith(("http://", "https://")):
        if not repository.contains(text):
            raise ImportJobError(f"container {text} is not in this repository ({repository.root})")
        return text.rstrip("/")
    if any(part in ("..", ".") for part in text.strip("/").split("/")):
        raise ImportJobError(f"container {text!r} must not contain . or .. segments")
    return repository.uri(text).rstrip("/")


def _row_title(header: Header, row: SourceRow | None) -> str:
    if row is None:
        return ""
    for column in header.plain.get("title", ()):
        values = split_cell(row.cell(column))
        if values:
            return values[0]
    return ""


def _where(row: SourceRow | None) -> str:
    return f"{SOURCE_FILE}:{row.line}" if row is not None else SOURCE_FILE


def _text(argument: object) -> str:
    if isinstance(argument, bool):
        return "true" if argument else "false"
    return str(argument)


def _reason(e: BaseException) -> str:
    while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        e = e.exceptions[0]
    text = " ".join(str(e).split())
    return text or type(e).__name__

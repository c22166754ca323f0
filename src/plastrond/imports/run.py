"""One run of an import job: from the request's options to the completion body.

    run = await ImportRun.prepare(options, config, repository, log)   # ImportJobError
    try:
        await run.run(report)        # report(progress dict) as rows finish
    finally:
        await run.close()
    result = run.result()          # JobResult

`prepare` reads the inputs (the job folder's config.yml, source.csv and logs, the content
models, the CSV), has `plastrond.imports.plan` decide what to do (pure code: which rows, where,
what is done), checks the container and opens the logs. Every run skips the rows completed
before (a plain rerun as well as `resume`), so the daemon's rerun of a job interrupted by a
shutdown or a crash goes on where it stopped.

Each row, up to `MAX_CONCURRENT_ITEMS` at once: its cells are read, a `URI` row's resource is
read and the row's values applied to it, the item is validated and (new items) its files
looked for; an invalid row goes to dropped-invalid.log.csv. Then, unless `validate-only`: a
new item, with its pages, files and proxies, is created in one transaction
(`plastrond.imports.items`; a failure rolls it back and the row goes to
dropped-failed.log.csv), a `URI` row becomes one SPARQL Update of the difference (none when
nothing changed). Each imported row is appended to completed.log.csv as soon as it is done, so
the log's order is the order rows finished in.

Once a new item's transaction has begun, before anything is written in it, its URI and the
transaction go to `.pending.csv` (fsynced): a run that stops between the commit and the log
line leaves a "begun" entry that the next run resolves by asking the repository whether the
item exists (then it is logged as completed, never created twice); when it does not, that
transaction is ended first (a commit the killed run had sent may still be running on the
server) and the item looked for again (`_pending_exists`).

A validate-only run does not need the container for new items to exist (Archelon validates
before it makes the collection's container): a missing one is a warning in the result.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs
import trio

from .. import metrics, publication
from ..config import MAX_COMPLETION_BYTES_DEFAULT, Config
from ..errors import PlastronError, describe, failure_of
from ..jobfolders import (
    AppendLog,
    CompletedRow,
    JobFolder,
    JobFolderError,
    PendingItem,
    Run,
    timestamp,
)
from ..jobfolders.layout import CREATED, MODIFIED, SOURCE_FILE, UNCHANGED
from ..jobs.items import ItemCounts, Items
from ..jobs.protocol import Report
from ..jobs.result import JobResult
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
from ..parsing import dot_segment
from ..repository import (
    RACE_ATTEMPTS,
    RACE_BACKOFF,
    GraphResource,
    PreconditionFailed,
    RepositoryClient,
    RepositoryError,
    RepositoryHTTPError,
    ResourceNotFound,
    TransactionError,
    TransactionNotBegun,
)
from ..repository import fedora47_race as _fedora47_race
from .binaries import BinariesError, Charge, Location, parse_location
from .items import ItemPlan, new_item_uri, plan_item, verify_item, write_item
from .metadata import (
    MetadataError,
    MetadataFile,
    RowData,
    RowError,
    apply_row,
    decode_csv,
    first_text,
    read_metadata,
    read_row,
)
from .pairtrees import Pairtrees
from .plan import (
    ImportJobError,
    ImportOptions,
    ImportPlan,
    PlannedRow,
    Settings,
    plan_import,
    row_keys,
    select_rows,
    settle,
)
from .reconcile import missing_items
from .reports import FLUSH_BYTES, VALIDATION_LOG, ValidationReports

__all__ = [
    "IMPORT_COMPLETE",
    "IMPORT_INCOMPLETE",
    "VALIDATE_FAILED",
    "VALIDATE_SUCCESS",
    "ImportJobError",
    "ImportOptions",
    "ImportRun",
    "import_counts",
    "row_keys",
    "select_rows",
]

VALIDATE_SUCCESS: Final = "validate_success"
VALIDATE_FAILED: Final = "validate_failed"
IMPORT_COMPLETE: Final = "import_complete"
IMPORT_INCOMPLETE: Final = "import_incomplete"

T = TypeVar("T")


#: the counts of protocol.md, beside `total`
COUNT_KEYS: Final = (
    "rows",
    "errors",
    "valid",
    "invalid",
    "created",
    "updated",
    "unchanged",
    "files",
)
#: with `publish` (only then in the counts): new items published in this run, and those
#: imported but not published
PUBLISH_KEYS: Final = ("published", "publish_errors")


def import_counts(plan: ImportPlan) -> ItemCounts:
    """The counts of a run of *plan*: `rows` are the rows finished (done before included),
    out of the rows planned."""
    publishing = plan.settings.publish and not plan.validate_only
    counts = ItemCounts(
        COUNT_KEYS + PUBLISH_KEYS if publishing else COUNT_KEYS,
        total=len(plan.rows),
        done=("rows",),
        planned=plan.planned,
    )
    counts.add("rows", plan.skipped)
    return counts


@attrs.define
class _Logs:
    """The logs a run appends to, each written by one worker thread at a time; completed and
    pending are None in a validate-only run."""

    completed: AppendLog | None
    pending: AppendLog | None
    run: Run
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    #: what a failed job's completion carries (the run's `details`, once there is a run)
    details: Callable[[], Mapping[str, Any]] = dict

    @classmethod
    def open(cls, folder: JobFolder, validate_only: bool) -> _Logs:
        logs = cls(completed=None, pending=None, run=folder.start_run())
        try:
            if not validate_only:
                logs.completed = folder.completed_log()
                logs.pending = folder.pending_log()
        except BaseException:
            logs.close()
            raise
        return logs

    async def append(
        self, log: AppendLog | None, values: Sequence[str], *, sync: bool = False
    ) -> None:
        assert log is not None

        def work() -> None:
            log.append(values)
            if sync:
                log.sync()

        try:
            await trio.to_thread.run_sync(work, limiter=self.limiter)
        except JobFolderError as e:  # a full disk, say: no row can be recorded any more
            raise ImportJobError(str(e), self.details()) from None

    def close(self) -> None:
        for log in (self.completed, self.pending):
            if log is not None:
                log.close()
        self.run.close()


@attrs.frozen
class _Inputs:
    """What `prepare` reads before planning."""

    settings: Settings
    #: the CSV as received (None: resumed from the folder's source.csv)
    new_source: bytes | None
    models: ModelSet
    model: ContentModel
    metadata: MetadataFile


@attrs.frozen
class _Parts:
    """The run's means of I/O."""

    folder: JobFolder
    logs: _Logs
    repository: RepositoryClient
    location: Location | None
    vocabularies: VocabularyCache
    log: logging.Logger
    concurrency: int
    #: the handle service, when publishing with PUBLICATION_WORKFLOW
    handles: publication.Handles | None = None
    #: bytes of row reports the completion's `validation` may carry (`ValidationReports`)
    report_budget: int = 2 * 1024 * 1024


class ImportRun:
    """A prepared run: its plan, and what it writes with."""

    def __init__(self, plan: ImportPlan, parts: _Parts, warnings: Sequence[str] = ()) -> None:
        self.plan = plan
        self.parts = parts
        self.log = parts.log
        self.warnings = list(warnings)
        #: the counts, the progress and the row slots
        self.items = Items(import_counts(plan))
        self.completed: set[str] = set()
        #: the reports of the rows being done (by row number); each goes to `validation` once
        #: its row is done
        self.reports: dict[int, dict[str, Any]] = {}
        #: every finished row's report: in the run folder's validation.jsonl, and as many as
        #: the completion may carry
        self.validation_reports = ValidationReports(
            parts.logs.run.path / VALIDATION_LOG, parts.report_budget
        )
        parts.logs.details = self.details
        #: rows left out of this run because an earlier one may have done them
        self.held: set[str] = set()
        #: where new items go: pairtree paths made before their transactions
        self.pairtrees = Pairtrees(parts.repository, plan.container)
        #: with `publish`: new items of earlier runs, published again (idempotent) in this one
        self.earlier_items: list[tuple[str, str]] = []
        #: new items imported but not published, and why
        self.publish_failures: dict[str, str] = {}
        self._closed = False

    @property
    def validate_only(self) -> bool:
        return self.plan.validate_only

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
        folder = await _open_folder(options, config)
        try:
            inputs = await _read_inputs(options, config, folder)
            settings = inputs.settings
            done, pending = await _read_done(options, folder, repository, log)
            location = _location(settings, config)
            # In a worker thread: naming and picking 20,000 rows takes a while.
            plan = await trio.to_thread.run_sync(
                functools.partial(
                    plan_import,
                    options,
                    settings,
                    inputs.metadata,
                    inputs.models,
                    container=_container_uri(settings.container, repository),
                    done=done.keys(),
                    pending=pending,
                )
            )
            warnings = await _check_container(plan, repository)
            await _in_thread(folder.write_config, settings.config_fields())
            if inputs.new_source is not None:
                await _in_thread(folder.write_source, inputs.new_source)
            logs = await _in_thread(_Logs.open, folder, options.validate_only)
        except BaseException:
            folder.abandon()  # a job refused before it ran leaves no folder (quick, no thread)
            folder.unlock()
            raise
        publishing = settings.publish and not options.validate_only
        parts = _Parts(
            folder=folder,
            logs=logs,
            repository=repository,
            location=location,
            vocabularies=_vocabularies(inputs, config),
            log=log,
            concurrency=section.max_concurrent_items,
            handles=publication.Handles.from_config(config.publication) if publishing else None,
            report_budget=_report_budget(config),
        )
        run = cls(plan, parts, warnings)
        run.completed.update(done)
        if publishing:
            run.earlier_items = [(r.id, r.uri) for r in done.values() if r.status == CREATED]
        log.info(
            "import of %d row(s) as %s into %s (run %s): %d to do, %d done before%s",
            len(plan.rows),
            inputs.model.name,
            plan.container,
            logs.run.name,
            len(plan.todo),
            plan.skipped,
            ", validation only" if options.validate_only else "",
        )
        return run

    # -- running -----------------------------------------------------------------------------

    async def run(self, report: Report) -> None:
        """Do the rows to do, calling *report* with the progress as each finishes."""
        self.items.report = report
        location = self.parts.location
        if location is not None:
            try:
                await location.open()
            except BinariesError as e:
                raise ImportJobError(str(e), self.details()) from None
        if self.plan.pending:
            await self._resolve_pending()
        concurrency = self.parts.concurrency
        if self.plan.settings.publish and self.earlier_items:
            # Items an earlier run created: published again, which changes nothing for those
            # already published and finishes those that were not (no handle minted twice).
            await self.items.for_each(
                self.earlier_items, self._publish_earlier, concurrency, report=False
            )
        await self.items.for_each(self._rows_to_do(), self._one, concurrency)

    def _rows_to_do(self) -> Iterator[PlannedRow]:
        for row in self.plan.todo:
            if row.key in self.completed or row.key in self.held:
                self.counts.add("rows")  # resolved from .pending.csv just now
                continue
            yield row

    async def close(self) -> None:
        """Release the logs, the location and the job folder (shielded from cancellation)."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            if self.parts.handles is not None:
                await self.parts.handles.aclose()
            try:
                if self.parts.location is not None:
                    await self.parts.location.aclose()
            finally:
                try:
                    await self._flush_reports()
                finally:
                    await trio.to_thread.run_sync(self.validation_reports.close)
                    await trio.to_thread.run_sync(self.parts.logs.close)
                    self.parts.folder.unlock()

    async def _one(self, row: PlannedRow) -> None:
        try:
            await self._row(row)
        except ImportJobError:
            raise
        except Exception as e:
            # Whatever went wrong with this row, the others go on.
            self.log.exception("%s: failed", row.where)
            await self._drop_failed(row, "", describe(e))
        finally:
            report = self.reports.pop(row.source.number, None)
            if report is not None:
                self.validation_reports.add(row.source.number, report)
        self.counts.add("rows")
        if self.validation_reports.waiting >= FLUSH_BYTES:
            await self._flush_reports()

    async def _flush_reports(self) -> None:
        """Append the finished rows' reports to validation.jsonl (one writer at a time)."""
        try:
            await self.validation_reports.flush(self.parts.logs.limiter)
        except JobFolderError as e:  # a full disk, say
            raise ImportJobError(str(e), self.details()) from None

    async def _resolve_pending(self) -> None:
        """Settle the new items an interrupted run began: logged as created when they exist,
        marked rolled back when not; when the repository cannot say, the row is left out of
        this run (it would risk a second copy). All at once: each may wait `PENDING_WAIT`."""
        by_key = self.plan.by_key()
        async with trio.open_nursery() as nursery:
            for item in self.plan.pending:
                nursery.start_soon(self._resolve_one, item, by_key.get(item.id))

    async def _resolve_one(self, item: PendingItem, row: PlannedRow | None) -> None:
        logs = self.parts.logs
        try:
            exists = await _pending_exists(self.parts.repository, item.uri, item.transaction)
        except RepositoryError as e:
            self.log.warning("cannot tell whether %s was created: %s", item.uri, e)
            self.held.add(item.id)  # not redone in this run
            if row is not None:
                await self._drop_failed(
                    row,
                    item.uri,
                    f"an earlier run began creating {item.uri}, and the repository cannot "
                    f"say whether it exists ({e}); run the job again",
                )
            return
        if exists:
            title = row.title if row is not None else ""
            self.log.info("found %s, created by an interrupted run: completed", item.uri)
            await logs.append(logs.completed, [item.id, timestamp(), title, item.uri, CREATED])
            self.completed.add(item.id)
            if self.plan.settings.publish:
                self.earlier_items.append((item.id, item.uri))
        else:
            await logs.append(logs.pending, [item.id, item.uri, "rolled back"])

    async def _row(self, row: PlannedRow) -> None:
        header = self.plan.header
        report: dict[str, Any] = {
            "line": row.where,
            "is_valid": False,
            "passed": [],
            "failed": [],
        }
        self.reports[row.source.number] = report
        if row.source.problem is not None:  # a record the CSV parser could not delimit
            await self._invalid(row, "", report, errors=[row.source.problem])
            return
        if len(row.source.cells) != header.width:
            width = (
                f"wrong number of columns: expected {header.width}, found {len(row.source.cells)}"
            )
            await self._invalid(row, "", report, errors=[width])
            return
        if row.duplicate is not None:
            await self._invalid(row, "", report, errors=[row.duplicate])
            return
        try:
            data = read_row(header, row.source)
        except RowError as e:
            await self._invalid(row, "", report, errors=e.problems)
            return
        existing: GraphResource | None = None
        if data.uri is not None:
            read = await self._read_existing(data.uri)
            if isinstance(read, str):
                await self._invalid(row, data.uri, report, errors=[read])
                return
            existing = read
            item = Item.from_graph(read.graph, data.uri, header.model)
        else:
            if self.validate_only:  # a URI for the validation only: nothing is made
                uri = new_item_uri(self.plan.container)
            else:
                uri = await self.pairtrees.new_item_uri()
            item = Item.new(uri, header.model)
        apply_row(item, header, data)
        row = attrs.evolve(row, title=first_text(item, "title") or row.title)
        try:
            result = await validate(item, self.parts.vocabularies)
        except VocabularyError as e:
            raise ImportJobError(f"cannot validate: {e}", self.details()) from None
        report["passed"] = [o.as_list() for o in result.passed()]
        report["failed"] = [o.as_list() for o in result.failed()]
        # upstream's words: "Validation failures: title is required; ..."
        rules = [f"{name} {text}" for name, text in result.messages().items()]
        errors: list[str] = []
        if data.uri is None:
            paths = data.all_files
            self.counts.add("files", len(paths))
            if paths:
                for column, path, missing in await _missing_files(self.parts.location, data):
                    report["failed"].append([column, "failed", "file_exists", path])
                    errors.append(missing)
        if rules or errors:
            await self._invalid(row, data.uri or "", report, errors=errors, rules=rules)
            return
        report["is_valid"] = True
        self.counts.add("valid")
        if self.validate_only:
            return
        # valid with them: blank values are left out, never written
        item.drop_blanks(keep=existing.graph if existing is not None else None)
        if existing is None:
            await self._create(row, item, data)
        else:
            await self._update(row, item, existing)

    async def _read_existing(self, uri: str) -> GraphResource | str:
        """The resource a `URI` row names, or what is wrong with it (the row is invalid)."""
        repository = self.parts.repository
        if not repository.contains(uri):
            return f"URI {uri} is not in this repository ({repository.root})"
        try:
            return await repository.get_graph(uri, containment=False)
        except ResourceNotFound:
            return f"URI {uri}: no such resource in the repository"
        except RepositoryError as e:
            return f"URI {uri} cannot be read: {e}"
        except Exception as e:  # an answer that is not RDF (a binary, say)
            return f"URI {uri} is not an RDF resource: {type(e).__name__}"

    async def _create(self, row: PlannedRow, item: Item, data: RowData) -> None:
        logs = self.parts.logs
        repository = self.parts.repository
        plan = plan_item(
            item, data, access=self.plan.access, member_of=self.plan.settings.member_of
        )
        failure: Exception | None = None
        for attempt in range(1, RACE_ATTEMPTS + 1):
            charge = Charge()
            try:
                async with repository.transaction() as tx:
                    # journalled (fsynced) with its transaction before anything is written:
                    # a later run that finds the item missing ends that transaction first
                    info = tx.transaction_info
                    assert info is not None
                    begun = f"begun {info.style} {info.uri}"
                    await logs.append(logs.pending, [row.key, plan.uri, begun], sync=True)
                    files = await write_item(tx, plan, self.parts.location, charge)
            except ImportJobError:
                raise
            except Exception as e:
                failure = e
                if attempt < RACE_ATTEMPTS and await _try_again(repository, e, plan.uri):
                    # Rolled back, nothing committed: try again, at the same URIs. The files
                    # read for this attempt count once, for the attempt that reads them again.
                    self._refund(charge)
                    self.log.info("%s: %s; trying again", row.where, describe(e))
                    await trio.sleep(RACE_BACKOFF.delay(attempt - 1))
                    continue
                break
            # Committed: read back before it is logged and counted.
            problems = await verify_item(repository, plan, files)
            if not problems:
                failure = None
                break
            failure = ItemMismatch(plan.uri, problems)
            self.log.warning("%s: committed, but %s", row.where, failure)
            if attempt < RACE_ATTEMPTS and await _clear(repository, plan.uri, self.log):
                self._refund(charge)
                await self.pairtrees.ensure(plan.uri)
                await trio.sleep(RACE_BACKOFF.delay(attempt - 1))
                continue
            break
        if failure is not None and not await self._settle_failure(row, plan, failure):
            return
        await logs.append(logs.completed, [row.key, timestamp(), row.title, plan.uri, CREATED])
        self.completed.add(row.key)
        self.counts.add("created")
        metrics.IMPORT_ITEMS.labels("created").inc()
        self.log.info("%s: created %s (%d file(s))", row.where, plan.uri, len(plan.files))
        if self.plan.settings.publish:
            await self._publish(row.where, plan.uri)

    def _refund(self, charge: Charge) -> None:
        if self.parts.location is not None:
            self.parts.location.refund(charge)

    async def _settle_failure(self, row: PlannedRow, plan: ItemPlan, failure: Exception) -> bool:
        """After the last attempt failed: True when the item is there as written after all
        (a commit whose answer was an error, yet it went through), else the row is dropped
        as failed (with the item removed if it is there but not as written) and False."""
        reason = describe(failure)
        logs = self.parts.logs
        repository = self.parts.repository
        where = f"whether {plan.uri} was created is not known: the next run finds out"
        if isinstance(failure, TransactionNotBegun):
            # Nothing of this attempt was written, and an earlier one (tried again only once
            # rolled back) committed nothing either: the item is known not to be there.
            await logs.append(logs.pending, [row.key, plan.uri, "rolled back"])
            self.log.warning("%s: not imported, no transaction could begin: %s", row.where, reason)
            await self._drop_failed(
                row,
                "",
                f"Creating item failed, nothing was written: {reason} "
                "(run the job again once the repository answers)",
            )
            return False
        if isinstance(failure, ItemMismatch):
            if await _clear(repository, plan.uri, self.log):
                await logs.append(logs.pending, [row.key, plan.uri, "rolled back"])
                await self._drop_failed(row, "", f"Creating item failed: {reason} (removed)")
            else:
                await self._drop_failed(row, "", f"Creating item failed: {reason} ({where})")
            return False
        try:
            exists = await repository.exists(plan.uri)
        except RepositoryError as head_error:
            self.log.warning("cannot tell whether %s was created: %s", plan.uri, head_error)
            await self._drop_failed(row, "", f"{reason} ({where})")
            return False
        if not exists:
            await logs.append(logs.pending, [row.key, plan.uri, "rolled back"])
            self.log.warning("%s: not imported, rolled back: %s", row.where, reason)
            await self._drop_failed(row, "", f"Creating item failed: {reason}")
            return False
        # The commit went through although its answer said otherwise: read back too (the
        # files' digests aside: what was written of them is not known here).
        problems = await verify_item(repository, plan, {})
        if problems:
            return await self._settle_failure(row, plan, ItemMismatch(plan.uri, problems))
        self.log.warning(
            "%s: %s, yet %s exists as written: the commit went through", row.where, reason, plan.uri
        )
        return True

    async def _publish_earlier(self, item: tuple[str, str]) -> None:
        key, uri = item
        await self._publish(f"{key} (imported before)", uri)

    async def _publish(self, where: str, uri: str) -> None:
        """Publish a new item as the publish command does; a failure is counted and logged,
        and the item stays imported (the next run publishes it)."""
        try:
            outcome = await publication.apply(
                self.parts.repository, uri, publication.publish(), handles=self.parts.handles
            )
        except publication.PublicationError as e:
            self.counts.add("publish_errors")
            self.publish_failures[uri] = e.reason
            self.log.warning("%s: imported %s, but not published: %s", where, uri, e.reason)
            return
        self.publish_failures.pop(uri, None)
        if outcome.status != "unchanged":
            self.counts.add("published")
        handle = f" ({outcome.handle})" if outcome.handle else ""
        self.log.info("%s: %s %s%s", where, outcome.status, uri, handle)

    async def _update(self, row: PlannedRow, item: Item, existing: GraphResource) -> None:
        logs = self.parts.logs
        uri = str(item.uri)
        try:
            patch = sparql_update(existing.graph, item.to_graph())
        except ValueError as e:
            await self._drop_failed(row, uri, f"Updating item failed: {e}")
            return
        status = UNCHANGED
        if patch:
            try:
                await self.parts.repository.update(uri, patch, if_state_token=existing.state_token)
            except PreconditionFailed:
                await self._drop_failed(
                    row,
                    uri,
                    "Updating item failed: it changed while it was being updated; run the job "
                    "again",
                )
                return
            except RepositoryError as e:
                await self._drop_failed(row, uri, f"Updating item failed: {e}")
                return
            status = MODIFIED
        await logs.append(logs.completed, [row.key, timestamp(), row.title, uri, status])
        self.completed.add(row.key)
        if status == MODIFIED:
            self.counts.add("updated")
            metrics.IMPORT_ITEMS.labels("updated").inc()
            self.log.info("%s: updated %s", row.where, uri)
        else:
            self.counts.add("unchanged")
            metrics.IMPORT_ITEMS.labels("unchanged").inc()
            self.log.info("%s: %s unchanged", row.where, uri)

    async def _invalid(
        self,
        row: PlannedRow,
        uri: str,
        report: dict[str, Any],
        *,
        errors: Sequence[str] = (),
        rules: Sequence[str] = (),
    ) -> None:
        """Count and log an invalid row: *rules* are its failed validation rules (as text),
        *errors* its other problems (missing files, unreadable cells, ...)."""
        self.counts.add("invalid")
        report["is_valid"] = False
        if errors:
            report["errors"] = list(errors)
        reason = "; ".join([*rules, *errors])
        if rules:
            reason = f"Validation failures: {reason}"
        self.log.warning("%s: invalid: %s", row.where, reason)
        logs = self.parts.logs
        await logs.append(logs.run.invalid, [row.key, timestamp(), row.title, uri, reason])

    async def _drop_failed(self, row: PlannedRow, uri: str, reason: str) -> None:
        self.counts.add("errors")
        metrics.IMPORT_ITEMS.labels("failed").inc()
        logs = self.parts.logs
        await logs.append(logs.run.failed, [row.key, timestamp(), row.title, uri, reason])

    # -- reporting ---------------------------------------------------------------------------

    @property
    def counts(self) -> ItemCounts:
        return self.items.counts

    def progress(self) -> dict[str, Any]:
        return self.items.progress()

    def validation(self) -> list[Mapping[str, Any]]:
        """The row reports the completion carries, in row order: every finished row's while
        they fit the budget, else the first invalid ones (`ValidationReports`)."""
        return self.validation_reports.for_completion()

    def details(self) -> dict[str, Any]:
        """What a failed job's completion carries besides the error."""
        details: dict[str, Any] = {"count": self.counts.as_dict(), "validation": self.validation()}
        cut = self.validation_reports.cut()
        if cut is not None:
            details["validation_cut"] = cut
        if self.publish_failures:
            details["publish_errors"] = dict(self.publish_failures)
        if self.warnings:
            details["warnings"] = list(self.warnings)
        return details

    def result(self) -> JobResult:
        """How the run ended: the completion's state and body."""
        if self.validate_only:
            state = VALIDATE_SUCCESS if self.counts["invalid"] == 0 else VALIDATE_FAILED
        else:
            every = all(row.key in self.completed for row in self.plan.rows)
            # an item imported but not published is not done either: a resume publishes it
            every = every and not self.publish_failures
            state = IMPORT_COMPLETE if every else IMPORT_INCOMPLETE
        return JobResult(state=state, body=self.details())


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    try:
        return await trio.to_thread.run_sync(func, *args)
    except JobFolderError as e:
        raise ImportJobError(str(e)) from None


async def _open_folder(options: ImportOptions, config: Config) -> JobFolder:
    """The job's folder, locked (made, unless resuming)."""
    jobs_dir = config.commands.import_.jobs_dir
    if jobs_dir is None:
        raise ImportJobError(
            f"no folder for import jobs is configured ({config.path}: COMMANDS.IMPORT.JOBS_DIR)"
        )
    folder = await _in_thread(
        functools.partial(JobFolder.open, create=not options.resume), jobs_dir, options.job_id
    )
    await _in_thread(folder.lock)
    return folder


async def _read_done(
    options: ImportOptions, folder: JobFolder, repository: RepositoryClient, log: logging.Logger
) -> tuple[dict[str, CompletedRow], list[PendingItem]]:
    """The rows earlier runs completed (by id), and the new items they began and may or may
    not have created; a resume leaves out items logged created that are not in the repository
    (they are done again, as new)."""
    done = await _in_thread(folder.read_completed)
    if options.validate_only:
        return done, []
    pending = await _in_thread(folder.read_pending, {r.uri for r in done.values()})
    if options.resume:
        redo = await missing_items(repository, done.values(), log=log)
        done = {key: row for key, row in done.items() if key not in redo}
    return done, pending


def _location(settings: Settings, config: Config) -> Location | None:
    """Where the binaries are read from (ImportJobError when it is not usable)."""
    if settings.binaries_location is None:
        return None
    try:
        return parse_location(settings.binaries_location, config.commands.import_)
    except BinariesError as e:
        raise ImportJobError(str(e)) from None


def _vocabularies(inputs: _Inputs, config: Config) -> VocabularyCache:
    cm = config.content_models
    return shared_cache(
        {**inputs.models.vocabularies, **cm.vocabularies},
        ttl=cm.vocabulary_cache_seconds,
        timeout=cm.vocabulary_timeout,
    )


async def _read_inputs(options: ImportOptions, config: Config, folder: JobFolder) -> _Inputs:
    """The settings, the CSV and the models (ImportJobError naming what is wrong)."""
    stored = await _in_thread(folder.read_config)
    if options.resume and stored is None:
        raise ImportJobError(f"cannot resume job {options.job_id}: its folder has no config.yml")
    settings = settle(options, stored or {}, config.repository.relpath)
    source = options.body
    new_source: bytes | None = source
    if not source.strip():
        if not options.resume:
            raise ImportJobError("the message body is empty (expected the metadata CSV)")
        stored_source = await _in_thread(folder.read_source)
        if not stored_source:
            raise ImportJobError(
                f"cannot resume job {options.job_id}: its folder has no source.csv"
            )
        source, new_source = stored_source, None
    try:
        text = decode_csv(source)
    except MetadataError as e:
        raise ImportJobError(f"{SOURCE_FILE}: {e}") from None
    try:
        models = await current_models(config.content_models.dir)
        model = models.get(settings.model)
    except ModelError as e:
        raise ImportJobError(str(e)) from None
    try:
        metadata = await trio.to_thread.run_sync(read_metadata, text, model, models)
    except MetadataError as e:
        raise ImportJobError(f"{SOURCE_FILE}: {e}") from None
    return _Inputs(
        settings=settings, new_source=new_source, models=models, model=model, metadata=metadata
    )


async def _check_container(plan: ImportPlan, repository: RepositoryClient) -> list[str]:
    """The warnings about the container for new items: none when it exists or no row makes a
    new item; ImportJobError when it is missing (or cannot be checked) for an import, a warning
    for a validate-only run."""
    if not plan.creates:
        return []
    try:
        found = await repository.exists(plan.container)
    except RepositoryError as e:
        problem = f"cannot check the container {plan.container}: {e}"
    else:
        if found:
            return []
        problem = (
            f"the container for new items does not exist: {plan.container} "
            "(argument relpath or container)"
        )
    if plan.validate_only:
        return [f"{problem}; it must exist before the import"]
    raise ImportJobError(problem)


def _report_budget(config: Config) -> int:
    """The bytes of row reports the completion may carry: MAX_COMPLETION_BYTES less 64 KiB
    (at least half of it) for the rest of the body, so that the reports never make the
    completion one the daemon must cut."""
    broker = config.message_broker
    limit = broker.max_completion_bytes if broker is not None else MAX_COMPLETION_BYTES_DEFAULT
    return max(limit // 2, limit - 64 * 1024)


def _container_uri(text: str, repository: RepositoryClient) -> str:
    if text.startswith(("http://", "https://")):
        if not repository.contains(text):
            raise ImportJobError(f"container {text} is not in this repository ({repository.root})")
        return text.rstrip("/")
    if any(dot_segment(part) for part in text.strip("/").split("/")):
        raise ImportJobError(f"container {text!r} must not contain . or .. segments")
    return repository.uri(text).rstrip("/")


async def _try_again(repository: RepositoryClient, e: Exception, uri: str) -> bool:
    """Whether the item's failed transaction is one to try again: one of Fedora 4.7's
    concurrency failures of a write (`_fedora47_race`), or a commit the server refused as
    a conflict (Fedora 6.1.0 under load: its containment index times out locking the
    container's row) when the item is then known not to exist."""
    if _fedora47_race(e):
        return True
    if not _commit_conflict(e):
        return False
    try:
        return not await repository.exists(uri)
    except RepositoryError:
        return False


async def _clear(repository: RepositoryClient, uri: str, log: logging.Logger) -> bool:
    """Remove what a committed item left that is not as written (nothing, when it does
    not answer), so that it can be written again at the same URIs; False when the
    repository cannot say or refuses."""
    try:
        if await repository.exists(uri):
            await repository.delete(uri, purge=True)
    except RepositoryError as e:
        log.warning("cannot remove %s to write it again: %s", uri, e)
        return False
    return True


async def _missing_files(location: Location | None, data: RowData) -> list[tuple[str, str, str]]:
    """(column, path, problem) of each file of *data* that is missing."""
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


async def _pending_exists(repository: RepositoryClient, uri: str, transaction: str) -> bool:
    """Whether an item an earlier run began exists, once the transaction it was written in
    is over: a daemon killed while its commit was on the wire leaves the server committing
    it (Fedora 6 waits up to 20 s for a lock), so a missing item is only "rolled back"
    once that transaction is ended here (rolled back, or gone already) and the item still
    does not appear for `PENDING_WAIT` s.
    RepositoryError when the repository cannot say."""
    if await repository.exists(uri):
        return True
    style, _, tx_uri = transaction.partition(" ")
    if not tx_uri:  # a log of an older version: the transaction is not known
        return False
    ended = await repository.end_transaction(tx_uri, style)
    if ended is None:
        raise RepositoryError(f"transaction {tx_uri} of {uri} cannot be ended")
    # Ended now or gone before: either way a commit the server had begun may still finish
    # (a rollback of a transaction that is committing is not known to stop it).
    deadline = trio.current_time() + PENDING_WAIT
    while True:
        if await repository.exists(uri):
            return True
        if trio.current_time() >= deadline:
            return False
        await trio.sleep(2)


def _commit_conflict(e: BaseException) -> bool:
    """Whether *e* is a commit the server answered `409 Conflict` (Fedora 6: "Failed to commit
    transaction", rolled back on its side)."""
    e = failure_of(e) or e
    cause = e.__cause__
    return (
        isinstance(e, TransactionError)
        and isinstance(cause, RepositoryHTTPError)
        and cause.status == 409
    )


#: how long an item an interrupted run began is looked for after its transaction is over
#: (`_pending_exists`): longer than a commit the server was still doing can take
PENDING_WAIT: Final = 30.0


class ItemMismatch(PlastronError):
    """A committed item that, read back, is not what was written."""

    def __init__(self, uri: str, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.uri = uri
        self.problems = list(problems)

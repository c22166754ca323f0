"""The item engine every command shares (plastrond.jobs.items), alone: no I/O, the clock
mocked where timing matters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import trio
import trio.testing

from plastrond.jobs.items import ItemCounts, Items, percent


def test_percent_is_rounded_down_and_reaches_100_only_when_all_is_done() -> None:
    assert percent(199, 200) == 99  # publish used to say 100 (round) with one item to go
    assert percent(1, 3) == 33
    assert percent(2, 3) == 66
    assert percent(200, 200) == 100
    assert percent(0, 200) == 0
    assert percent(5, None) is None and percent(5, 0) is None
    assert percent(11, 10) == 100 and percent(-1, 10) == 0


def test_counts_in_their_order_with_the_total_first() -> None:
    counts = ItemCounts(("exported", "errors"), total=4, done=("exported", "errors"))
    counts.add("exported")
    counts.add("errors", 2)
    assert counts.as_dict() == {"total": 4, "exported": 1, "errors": 2}
    assert list(counts.as_dict()) == ["total", "exported", "errors"]
    assert counts.finished == 3 and counts.percent() == 75
    with pytest.raises(KeyError):
        counts.add("exportd")  # a key the job does not report is a mistake, not a new count


def test_the_percent_counts_against_the_planned_items_when_given() -> None:
    # an import with `limit`: 10 rows in the CSV, 4 planned, 1 done before
    counts = ItemCounts(("rows", "errors"), total=10, done=("rows",), planned=4)
    counts.add("rows")
    assert counts.percent() == 25
    counts.add("rows", 3)
    assert counts.percent() == 100
    assert ItemCounts(("rows",), total=10, done=("rows",), planned=0).percent() is None
    assert ItemCounts(("done",), total=None, done=("done",)).percent() is None


def test_progress_body() -> None:
    items = Items(ItemCounts(("done", "errors"), total=2, done=("done", "errors")), started=100.0)
    body = items.progress({"result": {"uri": "u"}})
    assert list(body) == ["time", "count", "progress", "result"]
    assert body["time"]["started"] == 100.0
    assert set(body["time"]) == {"started", "now", "elapsed"}
    assert body["count"] == {"total": 2, "done": 0, "errors": 0}
    assert body["progress"] == 0
    unknown = Items(ItemCounts(("done",), total=None, done=("done",)))
    assert "progress" not in unknown.progress()  # total not known: no percent


def test_a_failure_is_counted_and_kept_on_one_line() -> None:
    items = Items(ItemCounts(("done", "errors"), total=2))
    assert items.fail("u1", "no such\n  resource") == "no such resource"
    assert items.errors == {"u1": "no such resource"}
    assert items.counts["errors"] == 1


def _items(total: int | None, reports: list[dict[str, Any]] | None = None) -> Items:
    counts = ItemCounts(("done",), total=total, done=("done",))
    return Items(counts, reports.append if reports is not None else None)


async def test_at_most_concurrency_items_run_and_no_task_waits_for_a_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[dict[str, Any]] = []
    items = _items(10, reports)
    running = 0
    most = 0
    tasks = []

    async def work(n: int) -> Mapping[str, Any]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        # the tasks alive: the loop's own and the items' (none started before a slot is free)
        tasks.append(len(trio.lowlevel.current_task().parent_nursery.child_tasks))
        await trio.sleep(1 + n % 3)
        running -= 1
        items.counts.add("done")
        return {"last": n}

    await items.for_each(range(10), work, 3)
    assert most == 3
    assert max(tasks) <= 3
    assert items.counts["done"] == 10
    assert len(reports) == 10  # one report after each item
    assert [r["progress"] for r in reports] == [10 * n for n in range(1, 11)]
    assert sorted(r["last"] for r in reports) == list(range(10))


async def test_items_start_in_order_and_added_ones_after_the_given_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    items = _items(None)
    started: list[str] = []

    takes = {"a": 1, "b": 2, "c": 3}

    async def work(name: str) -> None:
        started.append(name)
        await trio.sleep(takes.get(name, 1))
        if name in ("a", "b"):
            items.add(name + "'")  # update's related resources
        if name == "a'":
            items.add("a''")  # found while the loop is waiting for the last ones

    await items.for_each(["a", "b", "c"], work, 2)
    assert started == ["a", "b", "c", "a'", "b'", "a''"]


async def test_no_report_when_asked_for_none_and_none_without_a_report() -> None:
    reports: list[dict[str, Any]] = []
    items = _items(3, reports)

    async def work(n: int) -> None:
        await trio.sleep(0)

    await items.for_each(range(3), work, 2, report=False)
    assert reports == []
    await _items(3).for_each(range(3), work, 2)  # no report callable: nothing to call


async def test_an_item_that_raises_ends_the_loop_and_cancels_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    items = _items(5)
    finished: list[int] = []

    async def work(n: int) -> None:
        await trio.sleep(1 if n == 1 else 10)
        if n == 1:
            raise ValueError("the whole job fails")
        finished.append(n)

    with pytest.RaisesGroup(ValueError):
        await items.for_each(range(5), work, 2)
    assert finished == []


async def test_a_cancelled_loop_releases_its_slots(
    autojump_clock: trio.testing.MockClock,
) -> None:
    items = _items(4)
    started: list[int] = []

    async def work(n: int) -> None:
        started.append(n)
        await trio.sleep_forever()

    with trio.move_on_after(1):
        await items.for_each(range(4), work, 2)
    assert started == [0, 1]

    async def quick(n: int) -> None:
        items.counts.add("done")

    await items.for_each(range(4), quick, 2)  # a new loop, slots of its own
    assert items.counts["done"] == 4


async def test_an_empty_list_reports_nothing() -> None:
    reports: list[dict[str, Any]] = []

    async def work(n: int) -> None:
        raise AssertionError("no item")

    await _items(0, reports).for_each([], work, 4)
    assert reports == []

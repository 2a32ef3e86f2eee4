"""Unit (no database): successes of a closed breaker wait for one batched write, and a
failure's breaker has its waiting successes written first (worker.success_batch)."""

from __future__ import annotations

import asyncio

from worker.success_batch import SuccessBatch

Written = list[tuple[str, str, list[int]]]


def _batch(written: Written, flush_seconds: float) -> SuccessBatch:
    async def record(breaker: str, endpoint: str, durations: list[int]) -> None:
        written.append((breaker, endpoint, list(durations)))

    return SuccessBatch(record, flush_seconds=flush_seconds)


def test_successes_are_written_together_once_the_batch_is_due() -> None:
    written: Written = []

    async def scenario() -> None:
        batch = _batch(written, flush_seconds=0.05)
        for ms in (3, 4, 5):
            batch.add("agent", "http://a", ms)
        batch.add("agent", "http://b", 6)
        assert written == []  # nothing before the batch is due
        for _ in range(400):  # wait for the condition (a loaded machine's timers run late)
            if written:
                break
            await asyncio.sleep(0.05)
        await batch.aclose()

    asyncio.run(scenario())
    assert sorted(written) == [("agent", "http://a", [3, 4, 5]), ("agent", "http://b", [6])]


def test_a_failure_writes_its_breakers_waiting_successes_first_and_only_those() -> None:
    written: Written = []

    async def scenario() -> list[tuple[str, str, list[int]]]:
        batch = _batch(written, flush_seconds=3600)  # never due within the test
        batch.add("agent", "http://a", 1)
        batch.add("agent", "http://a", 2)
        batch.add("graph", "/messages", 7)
        await batch.before_failure("agent")
        before_close = list(written)
        await batch.aclose()
        return before_close

    before_close = asyncio.run(scenario())
    assert before_close == [("agent", "http://a", [1, 2])]
    assert written == [("agent", "http://a", [1, 2]), ("graph", "/messages", [7])]


def test_close_writes_what_waits_and_nothing_twice() -> None:
    written: Written = []

    async def scenario() -> None:
        batch = _batch(written, flush_seconds=3600)
        batch.add("agent", "http://a", 1)
        await batch.aclose()
        await batch.flush()  # nothing left

    asyncio.run(scenario())
    assert written == [("agent", "http://a", [1])]

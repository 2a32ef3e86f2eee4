"""Unit (no database): wapipe.group_commit, the group commit of the worker and the ingress.

A fake `run_many` records its calls and waits on a gate the test opens, so what
travels together is decided by the test, never by timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from wapipe.group_commit import GroupCommit

T = TypeVar("T")


class Refused(Exception):
    """The fake database refused one item of a call and stored none of it."""


class FakeFlush:
    """Answers request * 10, a ValueError for a negative one; records every call.

    Calls wait for `gate` (open by default). `refuse_groups`: a call of several
    requests holding a negative one raises Refused (all or nothing)."""

    def __init__(self, *, gated: bool = False, refuse_groups: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.singles: list[int] = []
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.refuse_groups = refuse_groups
        self.in_flight = 0
        self.most_in_flight = 0

    async def run_many(self, batch: list[int]) -> list[int | BaseException]:
        self.calls.append(list(batch))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        if self.refuse_groups and len(batch) > 1 and any(r < 0 for r in batch):
            raise Refused("one item is bad")
        return [ValueError(f"bad {r}") if r < 0 else r * 10 for r in batch]

    async def run_one(self, request: int) -> int:
        self.singles.append(request)
        if request < 0:
            raise ValueError(f"bad {request}")
        return request * 10


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def until(condition: Any) -> None:
    """Let the loop run until `condition()` holds (no clock involved)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_requests_waiting_together_share_one_call_in_order() -> None:
    async def main() -> tuple[list[int], list[list[int]]]:
        flush = FakeFlush()
        group: GroupCommit[int, int] = GroupCommit(flush.run_many, max_batch=10)
        answers = await asyncio.gather(*(group.submit(i) for i in range(1, 6)))
        return answers, flush.calls

    assert run(main()) == ([10, 20, 30, 40, 50], [[1, 2, 3, 4, 5]])


def test_requests_arriving_during_a_call_go_together_in_the_next() -> None:
    async def main() -> list[list[int]]:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(flush.run_many, max_batch=10)
        first = asyncio.create_task(group.submit(1))
        await until(lambda: flush.calls == [[1]])
        rest = [asyncio.create_task(group.submit(i)) for i in (2, 3, 4)]
        await until(lambda: len(group._waiting) == 3)
        flush.gate.set()
        assert await first == 10
        assert await asyncio.gather(*rest) == [20, 30, 40]
        return flush.calls

    assert run(main()) == [[1], [2, 3, 4]]


def test_max_batch_and_max_calls_bound_each_call_and_the_calls_at_once() -> None:
    async def main() -> tuple[list[list[int]], int]:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(flush.run_many, max_batch=2, max_calls=2)
        tasks = [asyncio.create_task(group.submit(i)) for i in range(1, 8)]
        await until(lambda: len(flush.calls) == 2)
        assert flush.in_flight == 2  # the third call waits for a slot
        flush.gate.set()
        assert await asyncio.gather(*tasks) == [10, 20, 30, 40, 50, 60, 70]
        return flush.calls, flush.most_in_flight

    calls, most = run(main())
    assert calls == [[1, 2], [3, 4], [5, 6], [7]]
    assert most == 2


def test_eager_sends_a_request_that_finds_a_free_slot_at_once_alone() -> None:
    async def main() -> tuple[list[list[int]], list[int]]:
        flush = FakeFlush()
        group: GroupCommit[int, int] = GroupCommit(
            flush.run_many, max_batch=10, eager=True, run_one=flush.run_one
        )
        answers = await asyncio.gather(*(group.submit(i) for i in range(1, 5)))
        assert answers == [10, 20, 30, 40]
        return flush.calls, flush.singles

    calls, singles = run(main())
    assert singles == [1], "the first went alone through run_one"
    assert calls == [[2, 3, 4]]


def test_each_waiter_gets_its_own_error() -> None:
    async def main() -> list[Any]:
        group: GroupCommit[int, int] = GroupCommit(FakeFlush().run_many, max_batch=10)
        return await asyncio.gather(*(group.submit(i) for i in (1, -2, 3)), return_exceptions=True)

    first, second, third = run(main())
    assert (first, third) == (10, 30)
    assert isinstance(second, ValueError) and str(second) == "bad -2"


def test_a_call_that_raises_fails_every_waiter_of_that_call_only() -> None:
    calls = []

    async def broken(batch: list[int]) -> list[int | BaseException]:
        calls.append(batch)
        if len(calls) == 1:
            raise ConnectionError("database gone")
        return [r * 10 for r in batch]

    async def main() -> list[Any]:
        group: GroupCommit[int, int] = GroupCommit(broken, max_batch=2)
        return await asyncio.gather(*(group.submit(i) for i in (1, 2, 3)), return_exceptions=True)

    first, second, third = run(main())
    assert isinstance(first, ConnectionError) and isinstance(second, ConnectionError)
    assert first is second
    assert third == 30


def test_a_wrong_number_of_answers_fails_the_call() -> None:
    async def short(batch: list[int]) -> list[int | BaseException]:
        return [1]

    async def main() -> list[Any]:
        group: GroupCommit[int, int] = GroupCommit(short, max_batch=10)
        return await asyncio.gather(*(group.submit(i) for i in (1, 2)), return_exceptions=True)

    assert [type(e) for e in run(main())] == [RuntimeError, RuntimeError]


def test_a_refused_group_is_sent_again_one_by_one_and_only_the_bad_one_fails() -> None:
    async def main() -> tuple[list[Any], FakeFlush]:
        flush = FakeFlush(refuse_groups=True)
        group: GroupCommit[int, int] = GroupCommit(
            flush.run_many, max_batch=10, run_one=flush.run_one, split_on=(Refused,)
        )
        answers = await asyncio.gather(
            *(group.submit(i) for i in (1, -2, 3)), return_exceptions=True
        )
        return answers, flush

    (first, second, third), flush = run(main())
    assert (first, third) == (10, 30)
    assert isinstance(second, ValueError)
    assert flush.calls == [[1, -2, 3]]
    assert sorted(flush.singles) == [-2, 1, 3]


def test_without_split_on_a_refusal_fails_the_whole_call() -> None:
    async def main() -> list[Any]:
        flush = FakeFlush(refuse_groups=True)
        group: GroupCommit[int, int] = GroupCommit(flush.run_many, max_batch=10)
        return await asyncio.gather(*(group.submit(i) for i in (1, -2)), return_exceptions=True)

    assert [type(e) for e in run(main())] == [Refused, Refused]


def test_a_request_cancelled_before_its_call_left_is_left_out() -> None:
    async def main() -> list[list[int]]:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(flush.run_many, max_batch=10)
        first = asyncio.create_task(group.submit(1))
        await until(lambda: flush.calls == [[1]])
        gone = asyncio.create_task(group.submit(2))
        kept = asyncio.create_task(group.submit(3))
        await until(lambda: len(group._waiting) == 2)
        gone.cancel()
        flush.gate.set()
        assert await asyncio.gather(first, kept) == [10, 30]
        with pytest.raises(asyncio.CancelledError):
            await gone
        return flush.calls

    assert run(main()) == [[1], [3]]


def test_a_request_cancelled_after_its_call_left_leaves_the_others_their_answers() -> None:
    async def main() -> None:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(flush.run_many, max_batch=10)
        gone = asyncio.create_task(group.submit(1))
        kept = asyncio.create_task(group.submit(2))
        await until(lambda: flush.calls == [[1, 2]])
        gone.cancel()
        flush.gate.set()
        assert await kept == 20
        with pytest.raises(asyncio.CancelledError):
            await gone

    run(main())


def test_closing_fails_the_calls_in_flight_and_the_waiting_with_the_closed_error() -> None:
    class Closed(Exception):
        pass

    async def main() -> list[Any]:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(
            flush.run_many, max_batch=1, closed_error=lambda: Closed("store closed")
        )
        tasks = [asyncio.create_task(group.submit(i)) for i in (1, 2)]
        await until(lambda: flush.calls == [[1]])
        await group.close()
        return await asyncio.gather(*tasks, return_exceptions=True)

    assert [type(e) for e in run(main())] == [Closed, Closed]


def test_a_request_past_its_budget_fails_with_timeout_and_is_dropped_or_left_out() -> None:
    async def main() -> tuple[list[Any], list[list[int]]]:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(
            flush.run_many, max_batch=10, eager=True, budget_seconds=0.05
        )
        sent = asyncio.create_task(group.submit(1))  # in its call when the budget runs out
        await until(lambda: flush.calls == [[1]])
        waiting = asyncio.create_task(group.submit(2))  # still waiting for a call slot
        outcomes: list[Any] = [*await asyncio.gather(sent, waiting, return_exceptions=True)]
        flush.gate.set()  # the call in flight returns: its answer has nobody to go to
        await until(lambda: flush.in_flight == 0 and not group._calls)
        return outcomes, flush.calls

    outcomes, calls = run(main())
    assert [type(e) for e in outcomes] == [TimeoutError, TimeoutError]
    assert calls == [[1]], "a request past its budget is not sent afterwards"


def test_requests_answered_within_their_budget_get_their_answers() -> None:
    async def main() -> list[int]:
        flush = FakeFlush(gated=True)
        group: GroupCommit[int, int] = GroupCommit(
            flush.run_many, max_batch=10, eager=True, budget_seconds=600
        )
        tasks = [asyncio.create_task(group.submit(i)) for i in (1, 2, 3)]
        await until(lambda: flush.calls == [[1]])
        flush.gate.set()
        answers = await asyncio.gather(*tasks)
        await group.close()
        assert group._expiry is None, "close() leaves no timer behind"
        return answers

    assert run(main()) == [10, 20, 30]

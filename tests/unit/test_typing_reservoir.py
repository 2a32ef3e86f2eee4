"""Unit (no database): the typing indicator's reservoir of a number's send tokens.

The round trip (wapipe.admit_typing_indicator) is a fake whose answers the test
releases by hand, and the clock is the test's: nothing here waits for a duration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from worker.typing_indicator import (
    BREAKER_RECHECK_SECONDS,
    RESERVOIR_LIFETIME_SECONDS,
    Reservoir,
)

T = TypeVar("T")


class FakeAdmit:
    """admit(tokens): each call waits until the test answers it."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self._answers: list[asyncio.Future[tuple[str, int, int]]] = []

    async def __call__(self, tokens: int) -> tuple[str, int, int]:
        self.asked.append(tokens)
        answer: asyncio.Future[tuple[str, int, int]] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        return await answer

    async def answer(self, verdict: str, granted: int = 0, retry_after_ms: int = 0) -> None:
        await _until(lambda: any(not a.done() for a in self._answers))
        next(a for a in self._answers if not a.done()).set_result(
            (verdict, granted, retry_after_ms)
        )
        await _settle()

    async def fail(self, exc: Exception) -> None:
        await _until(lambda: any(not a.done() for a in self._answers))
        next(a for a in self._answers if not a.done()).set_exception(exc)
        await _settle()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never met")


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def _reservoir(
    admit: FakeAdmit, clock: Clock, max_ahead: int = 4, started: bool = True
) -> Reservoir:
    """A reservoir; `started`: past its first refill (a worker start's: see below)."""
    reservoir = Reservoir(admit, max_per_call=8, max_ahead=max_ahead, clock=clock)
    reservoir._refilled = started
    return reservoir


def test_the_first_refill_after_a_worker_start_takes_what_may_be_held_ahead() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock, started=False)
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 4)
        assert call.result() == "go"
        assert admit.asked == [4], "no rate known yet: max_ahead, not one"
        assert await reservoir.take() == "go", "the next call spends a held token"
        assert await reservoir.take() == "go"
        await admit.answer("go", 2)  # the top-up these calls started
        clock.now += RESERVOIR_LIFETIME_SECONDS  # quiet: the rest lapsed unspent
        assert reservoir.held == 0
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 1)
        assert call.result() == "go"
        assert admit.asked[-1] == 1, "once: a quiet number then takes one at a time"

    _run(scenario)


def test_a_cold_call_waits_for_one_round_trip_shared_by_the_calls_that_came_meanwhile() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        calls = [asyncio.create_task(reservoir.take()) for _ in range(3)]
        await _settle()
        # sized when it leaves: the calls of one batch (a cold start, a backlog) come at
        # once, and each would otherwise wait for a round trip of its own
        assert admit.asked == [3], "one refill, asked for every call that came before it left"
        late = asyncio.create_task(reservoir.take())
        await _settle()
        assert admit.asked == [3], "one refill in flight per number: the late call waits"
        await admit.answer("go", 3)
        assert [c.result() for c in calls] == ["go", "go", "go"]
        assert not late.done()
        assert admit.asked == [3, 2], "the next refill: the late call and one ahead"
        await admit.answer("go", 2)
        assert late.result() == "go"
        assert reservoir.held == 1

    _run(scenario)


def test_held_tokens_are_spent_without_a_round_trip_and_refilled_ahead() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        for _ in range(5):  # 6 calls in the last AHEAD_SECONDS: 4 ahead (at most)
            reservoir._calls.append(clock.now)
        first = asyncio.create_task(reservoir.take())
        await admit.answer("go", 4)
        assert first.result() == "go"
        assert reservoir.held == 3
        assert admit.asked == [4], "3 held of 4 ahead: no refill yet"
        assert await reservoir.take() == "go"  # 2 held, half of 4: a refill of 2 starts
        await _settle()
        assert admit.asked == [4, 2]
        assert await reservoir.take() == "go"
        assert await reservoir.take() == "go"
        assert reservoir.held == 0
        assert admit.asked == [4, 2], "one refill in flight per number"
        await admit.answer("go", 2)
        assert reservoir.held == 2

    _run(scenario)


def test_a_quiet_number_takes_no_token_ahead() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 1)
        assert call.result() == "go"
        await _settle()
        assert admit.asked == [1], "one call lately: nothing taken ahead"
        assert reservoir.held == 0

    _run(scenario)


def test_unspent_tokens_lapse_after_the_lifetime() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 3)
        assert call.result() == "go"
        assert reservoir.held == 2
        clock.now += RESERVOIR_LIFETIME_SECONDS
        assert reservoir.held == 0, "lapsed: the bucket has refilled them meanwhile"
        call = asyncio.create_task(reservoir.take())
        await _settle()
        assert not call.done() and len(admit.asked) == 2, "the next call asks the database"
        await admit.answer("go", 1)
        assert call.result() == "go"

    _run(scenario)


def test_paced_is_answered_locally_until_the_bucket_has_a_token() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        call = asyncio.create_task(reservoir.take())
        await admit.answer("paced", 0, 40)
        assert call.result() == "paced"
        assert await reservoir.take() == "paced"
        assert len(admit.asked) == 1, "no round trip while the bucket has nothing to give"
        clock.now += 0.04
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 1)
        assert call.result() == "go"

    _run(scenario)


def test_an_open_breaker_empties_the_reservoir_and_is_believed_for_a_while() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        for _ in range(5):
            reservoir._calls.append(clock.now)
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 2)
        assert call.result() == "go"
        assert await reservoir.take() == "go"  # the last token: a refill starts
        await admit.answer("breaker_open")
        assert reservoir.held == 0
        assert await reservoir.take() == "breaker_open"
        assert len(admit.asked) == 2, "the open breaker answered without a round trip"
        reservoir._expiries.append(clock.now + 1)  # a refill that raced with it
        reservoir.empty()
        assert reservoir.held == 0
        clock.now += BREAKER_RECHECK_SECONDS
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 1)
        assert call.result() == "go", "read again once the recheck is due"

    _run(scenario)


def test_a_call_out_of_budget_does_not_cancel_the_refill_others_wait_for() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        impatient = asyncio.create_task(reservoir.take())
        patient = asyncio.create_task(reservoir.take())
        await _settle()
        impatient.cancel()  # its own budget ran out
        await _settle()
        assert len(admit.asked) == 1, "the refill kept going, not asked again"
        await admit.answer("go", 1)
        assert patient.result() == "go"

    _run(scenario)


def test_a_failed_refill_fails_the_waiting_call_and_the_next_one_asks_again() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        call = asyncio.create_task(reservoir.take())
        await admit.fail(OSError("database down"))
        with pytest.raises(OSError):
            call.result()
        call = asyncio.create_task(reservoir.take())
        await admit.answer("go", 1)
        assert call.result() == "go"

    _run(scenario)


def test_a_refill_slower_than_the_lifetime_still_serves_the_call_that_waited() -> None:
    async def scenario() -> None:
        admit, clock = FakeAdmit(), Clock()
        reservoir = _reservoir(admit, clock)
        call = asyncio.create_task(reservoir.take())
        await _settle()
        clock.now += 2 * RESERVOIR_LIFETIME_SECONDS  # a saturated database
        await admit.answer("go", 1)
        assert call.result() == "go"
        assert admit.asked == [1], "not sent for another refill by a token lapsed on arrival"

    _run(scenario)

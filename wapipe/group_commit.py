"""Group commit: requests that wait together travel as one call, each gets its own answer.

The one primitive behind the worker's coalesced store calls (message_contexts,
complete_messages) and the ingress's ingest calls (ingest_webhooks). Written here
because no library does group commit for psycopg; River's completers and
procrastinate's batch defer are the same idea.

- `run_many(requests)` answers one result or exception per request, in order. If it
  raises, every request of the call gets that exception, except `split_on`
  exceptions (the database refused one item and kept none): then each request of
  the call is sent again alone, so only the bad one fails.
- At most `max_calls` calls run at once, each with at most `max_batch` requests.
  Requests that arrive while every call slot is busy wait and go together in the
  next call. `eager`: a request that finds a free slot leaves at once, alone (no
  added latency when traffic is light); otherwise a call leaves on the next turn of
  the event loop with every request submitted until then.
- A batch of one goes through `run_one` when given (a cheaper single-item path).
- A request whose caller is cancelled before its call left is left out of it; after
  it left, its answer is dropped.
- `budget_seconds`: a request not answered within it fails with TimeoutError, and is
  then left out or dropped as if cancelled. One timer for all requests (they expire
  in the order they came), not one per request: an `asyncio.timeout` around each
  submit costs more than the rest of the submit on the ingress's hot path.
- `close()` cancels the calls in flight; their requests and those still waiting
  get `closed_error()`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class GroupCommit(Generic[Req, Res]):
    """Concurrent requests share calls of `run_many` (see the module docstring)."""

    def __init__(
        self,
        run_many: Callable[[list[Req]], Awaitable[Sequence[Res | BaseException]]],
        *,
        max_batch: int,
        max_calls: int = 1,
        eager: bool = False,
        run_one: Callable[[Req], Awaitable[Res]] | None = None,
        split_on: tuple[type[Exception], ...] = (),
        closed_error: Callable[[], BaseException] = lambda: RuntimeError("group commit closed"),
        budget_seconds: float | None = None,
    ) -> None:
        self._run_many = run_many
        self._run_one = run_one
        self._max_batch = max(1, max_batch)
        self._max_calls = max(1, max_calls)
        self._eager = eager
        self._split_on = split_on
        self._closed_error = closed_error
        self._waiting: deque[tuple[Req, asyncio.Future[Res]]] = deque()
        self._calls: set[asyncio.Task[None]] = set()
        self._kick_pending = False
        self._budget = budget_seconds
        # (deadline, future) in submit order: deadlines only grow.
        self._deadlines: deque[tuple[float, asyncio.Future[Res]]] = deque()
        self._expiry: asyncio.TimerHandle | None = None

    async def submit(self, request: Req) -> Res:
        """The request's own answer (or exception), once its call has returned."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._waiting.append((request, future))
        if self._budget is not None:
            self._watch(loop, future, loop.time() + self._budget)
        if self._eager:
            self._start_calls()
        elif not self._kick_pending:
            self._kick_pending = True
            loop.call_soon(self._kick)
        return await future

    def _watch(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Res], deadline: float
    ) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][1].done():  # answered: forget them as we go
            deadlines.popleft()
        deadlines.append((deadline, future))
        if self._expiry is None:
            self._expiry = loop.call_at(deadlines[0][0], self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail every request past its budget; wake up again at the next deadline."""
        self._expiry = None
        deadlines = self._deadlines
        now = loop.time()
        while deadlines:
            deadline, future = deadlines[0]
            if not future.done():
                if deadline > now:
                    self._expiry = loop.call_at(deadline, self._expire, loop)
                    return
                future.set_exception(TimeoutError(f"no answer within {self._budget:g} s"))
            deadlines.popleft()

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        waiting = list(self._waiting)
        self._waiting.clear()
        for _, future in waiting:
            _settle(future, self._closed_error())
        calls = list(self._calls)
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    def _kick(self) -> None:
        self._kick_pending = False
        self._start_calls()

    def _start_calls(self) -> None:
        while self._waiting and len(self._calls) < self._max_calls:
            batch: list[tuple[Req, asyncio.Future[Res]]] = []
            while self._waiting and len(batch) < self._max_batch:
                request, future = self._waiting.popleft()
                if not future.done():  # its caller gave up before the call left
                    batch.append((request, future))
            if not batch:
                return
            task = asyncio.create_task(self._call(batch))
            self._calls.add(task)
            task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._start_calls()

    async def _call(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        try:
            results = await self._answers([r for r, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                _settle(future, self._closed_error())
            raise
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def _answers(self, requests: list[Req]) -> Sequence[Res | BaseException]:
        """One answer per request, whatever happens (a bug included)."""
        if len(requests) == 1:
            return [await self._alone(requests[0])]
        try:
            results = await self._run_many(requests)
        except self._split_on:
            return await asyncio.gather(*(self._alone(r) for r in requests))
        except Exception as exc:  # DatabaseUnavailable, or a bug: nobody waits forever
            return [exc] * len(requests)
        if len(results) != len(requests):  # a bug as well: nobody gets a wrong answer
            wrong = RuntimeError(f"{len(results)} answers for {len(requests)} requests")
            return [wrong] * len(requests)
        return results

    async def _alone(self, request: Req) -> Res | BaseException:
        try:
            if self._run_one is not None:
                return await self._run_one(request)
            results = await self._run_many([request])
        except Exception as exc:
            return exc
        if len(results) != 1:
            return RuntimeError(f"{len(results)} answers for 1 request")
        return results[0]


def _settle(future: asyncio.Future[Res], result: Res | BaseException) -> None:
    if future.done():  # its caller gave up waiting
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)

"""Coalesced store calls: many messages' requests travel as one set-based call, each gets its
own answer, and a batch call that fails as a whole falls back to one call per message.

Unit tests of the Coalescer (no database), then worker.store on a real database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, LiteralString, TypeVar

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.fakes import ingest
from tests.payloads import text_message, webhook
from wapipe import queries
from worker.errors import ClaimLost, MessageProcessingError, StoreUnavailable
from worker.store import ClaimRouting, Coalescer, Completion, Store

T = TypeVar("T")
REPLY = {"type": "text", "text": {"body": "ok"}}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# -- the Coalescer ------------------------------------------------------------------


class Recorder:
    """A batch function that records its batches and answers request * 10 (or raises).

    gated: each call waits until the test opens `gate` (what happens while a call is in
    flight is then up to the test, not to how fast the machine is)."""

    def __init__(self, gated: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()

    async def __call__(self, batch: list[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        await self.gate.wait()
        return [ValueError(f"bad {r}") if r < 0 else r * 10 for r in batch]


async def _in_flight(record: Recorder, batches: list[list[int]]) -> None:
    """Until `batches` are the calls made so far (the last one waiting at the gate)."""
    deadline = asyncio.get_running_loop().time() + 60
    while record.batches != batches:
        assert asyncio.get_running_loop().time() < deadline, record.batches
        await asyncio.sleep(0.001)


def test_waiting_requests_travel_together_and_get_their_own_answers() -> None:
    async def main() -> tuple[list[int], list[list[int]]]:
        record = Recorder()
        coalescer: Coalescer[int, int] = Coalescer(record)
        answers = await asyncio.gather(*(coalescer.submit(i) for i in range(1, 6)))
        return answers, record.batches

    answers, batches = run(main())
    assert answers == [10, 20, 30, 40, 50]
    assert batches == [[1, 2, 3, 4, 5]]


def test_requests_arriving_during_a_call_go_in_the_next_one() -> None:
    async def main() -> list[list[int]]:
        record = Recorder(gated=True)
        coalescer: Coalescer[int, int] = Coalescer(record)
        first = asyncio.create_task(coalescer.submit(1))
        await _in_flight(record, [[1]])  # batch [1] is in flight
        rest = [asyncio.create_task(coalescer.submit(i)) for i in (2, 3)]
        await asyncio.sleep(0)  # both submitted (tasks run in creation order, before us)
        record.gate.set()
        assert await first == 10
        assert await asyncio.gather(*rest) == [20, 30]
        return record.batches

    assert run(main()) == [[1], [2, 3]]


def test_one_failing_request_fails_alone() -> None:
    async def main() -> list[Any]:
        coalescer: Coalescer[int, int] = Coalescer(Recorder())
        return await asyncio.gather(
            *(coalescer.submit(i) for i in (1, -2, 3)), return_exceptions=True
        )

    first, second, third = run(main())
    assert (first, third) == (10, 30)
    assert isinstance(second, ValueError) and str(second) == "bad -2"


def test_a_batch_function_that_raises_fails_every_request_of_its_batch() -> None:
    async def broken(batch: list[int]) -> list[int | BaseException]:
        raise RuntimeError("bug")

    async def main() -> list[Any]:
        coalescer: Coalescer[int, int] = Coalescer(broken)
        return await asyncio.gather(*(coalescer.submit(i) for i in (1, 2)), return_exceptions=True)

    assert [type(e) for e in run(main())] == [RuntimeError, RuntimeError]


def test_a_batch_function_answering_the_wrong_number_fails_its_batch() -> None:
    async def short(batch: list[int]) -> list[int | BaseException]:
        return [1]

    async def main() -> list[Any]:
        coalescer: Coalescer[int, int] = Coalescer(short)
        return await asyncio.gather(*(coalescer.submit(i) for i in (1, 2)), return_exceptions=True)

    assert [type(e) for e in run(main())] == [RuntimeError, RuntimeError]


def test_max_batch_splits_a_long_queue() -> None:
    async def main() -> list[list[int]]:
        record = Recorder()
        coalescer: Coalescer[int, int] = Coalescer(record, max_batch=2)
        await asyncio.gather(*(coalescer.submit(i) for i in range(1, 6)))
        return record.batches

    assert run(main()) == [[1, 2], [3, 4], [5]]


def test_a_cancelled_request_is_left_out_of_its_batch() -> None:
    async def main() -> list[list[int]]:
        record = Recorder(gated=True)
        coalescer: Coalescer[int, int] = Coalescer(record)
        first = asyncio.create_task(coalescer.submit(1))
        await _in_flight(record, [[1]])  # batch [1] is in flight
        gone = asyncio.create_task(coalescer.submit(2))
        kept = asyncio.create_task(coalescer.submit(3))
        await asyncio.sleep(0)  # both waiting for the next call
        gone.cancel()
        record.gate.set()
        await asyncio.gather(first, kept)
        return record.batches

    assert run(main()) == [[1], [3]]


def test_closing_fails_what_is_still_waiting() -> None:
    async def main() -> list[Any]:
        record = Recorder(gated=True)  # never opened: the call is still in flight at close
        coalescer: Coalescer[int, int] = Coalescer(record)
        waiting = [asyncio.create_task(coalescer.submit(i)) for i in (1, 2)]
        await _in_flight(record, [[1, 2]])
        await coalescer.close()
        return await asyncio.gather(*waiting, return_exceptions=True)

    assert [type(e) for e in run(main())] == [StoreUnavailable, StoreUnavailable]


# -- worker.store on a real database ------------------------------------------------


def _ingest(conn: psycopg.Connection[Any], users: list[str]) -> None:
    conn.execute(
        "SELECT wapipe.ingest_webhook(%s, 'cid')",
        (Jsonb(webhook([text_message(u, "hi") for u in users])),),
    )


class CountingStore(Store):
    """A Store that counts the statements it runs, by name."""

    def __init__(self, url: str) -> None:
        super().__init__(url, min_size=1, max_size=4, name="test")
        self.calls: list[str] = []
        self._names = {v: k for k, v in vars(queries).items() if isinstance(v, str)}

    async def _rows(self, sql: LiteralString, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        self.calls.append(self._names.get(sql, sql))
        return await super()._rows(sql, params)


async def _with_store(url: str, body: Callable[[CountingStore], Coroutine[Any, Any, T]]) -> T:
    store = CountingStore(url)
    await store.open()
    try:
        return await body(store)
    finally:
        await store.close()


def test_completions_of_concurrent_messages_are_one_call(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    users = [f"2507000000{i:02d}" for i in range(6)]
    _ingest(conn, users)

    async def body(store: CountingStore) -> tuple[list[Completion], list[str]]:
        claimed = await store.claim("worker-1", 30, 10)
        store.calls.clear()
        results = await asyncio.gather(
            *(store.complete(m.msg_id, "worker-1", reply=REPLY, handled_by="t") for m in claimed)
        )
        return results, list(store.calls)

    results, calls = run(_with_store(db_url, body))
    assert calls == ["COMPLETE_MESSAGES"]
    assert len({r.message_id for r in results}) == 6
    assert all(len(r.outbox_ids) == 1 for r in results)
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'done'), (SELECT count(*) FROM wapipe.outbox)"
        " FROM wapipe.processed_messages"
    ).fetchone()
    assert row == (6, 6)


def test_each_completion_gets_its_own_outcome(db_url: str, conn: psycopg.Connection[Any]) -> None:
    _ingest(conn, ["250700000001", "250700000002", "250700000003"])

    async def body(store: CountingStore) -> list[Any]:
        claimed = await store.claim("worker-1", 30, 10)
        ok, lost, bad = claimed
        return await asyncio.gather(
            store.complete(ok.msg_id, "worker-1", reply=REPLY),
            store.complete(lost.msg_id, "worker-2", reply=REPLY),  # not the holder
            store.complete(bad.msg_id, "worker-1", reply=[{"text": "no type"}]),
            return_exceptions=True,
        )

    done, lost, bad = run(_with_store(db_url, body))
    assert isinstance(done, Completion)
    assert isinstance(lost, ClaimLost)
    assert isinstance(bad, MessageProcessingError) and not bad.retryable
    assert bad.code == "rejected_by_db"


def test_a_failing_batch_call_falls_back_to_one_call_per_message(
    db_url: str, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(conn, ["250700000001"])
    # the batch statement fails as a whole (as a failing workflow action or a deadlock would)
    monkeypatch.setattr(
        queries, "COMPLETE_MESSAGES", "SELECT * FROM wapipe.complete_messages(%(worker_id)s, '{}')"
    )

    async def body(store: CountingStore) -> tuple[list[Any], list[str]]:
        (claimed,) = await store.claim("worker-1", 30, 10)
        store.calls.clear()
        results = await asyncio.gather(
            store.complete(claimed.msg_id, "worker-1", reply=REPLY),
            store.complete(987654321, "worker-1", reply=REPLY),  # nobody's claim
            return_exceptions=True,
        )
        return results, list(store.calls)

    (done, lost), calls = run(_with_store(db_url, body))
    assert calls[0] == "COMPLETE_MESSAGES"
    assert sorted(calls[1:]) == ["COMPLETE_MESSAGE", "COMPLETE_MESSAGE"]
    assert isinstance(done, Completion) and len(done.outbox_ids) == 1
    assert isinstance(lost, ClaimLost)


def test_contexts_of_concurrent_messages_are_one_call_with_the_breaker_state(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    conn.execute("SELECT wapipe.breaker_configure('waiter', 'agent')")
    users = [f"2507000000{i:02d}" for i in range(5)]

    async def body(store: CountingStore) -> tuple[list[Any], list[str]]:
        results = await asyncio.gather(
            *(
                store.context(
                    u,
                    default_agent="waiter",
                    known_agents=["waiter"],
                    preferred_agent=None,
                    rate=(f"user:{u}", 30, "1 minute"),
                )
                for u in users
            )
        )
        return results, list(store.calls)

    contexts, calls = run(_with_store(db_url, body))
    assert calls == ["MESSAGE_CONTEXTS"]
    assert all(c.allowed and c.agent == "waiter" and c.memory is not None for c in contexts)
    assert {c.breaker_state for c in contexts} == {"closed"}
    assert len({c.memory.id for c in contexts if c.memory}) == 5


ROUTING = ClaimRouting(
    default_agent="waiter",
    known_agents=("billing", "waiter"),
    rules=((("bill",), "billing"),),
    rate_max=30,
    rate_per="1 minute",
)


def test_a_claim_with_routing_brings_each_messages_context_in_the_same_call(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    ingest(conn, [text_message("250700000001", "hi"), text_message("250700000002", "my bill")])

    async def body(store: CountingStore) -> tuple[list[Any], list[str]]:
        claimed = await store.claim("worker-1", 30, 10, ROUTING)
        return claimed, list(store.calls)

    claimed, calls = run(_with_store(db_url, body))
    assert calls == ["CLAIM_MESSAGES"]
    agents = {m.user: m.context.agent for m in claimed if m.context is not None}
    assert agents == {"250700000001": "waiter", "250700000002": "billing"}
    assert all(m.context is not None and m.context.memory is not None for m in claimed)


def test_a_refused_context_step_still_claims_and_each_message_asks_alone(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    _ingest(conn, ["250700000001", "250700000002"])
    refused = ClaimRouting("", ("waiter",), (), 30, "1 minute")  # 22023: no default agent

    async def body(store: CountingStore) -> tuple[list[Any], list[str]]:
        claimed = await store.claim("worker-1", 30, 10, refused)
        return claimed, list(store.calls)

    claimed, calls = run(_with_store(db_url, body))
    assert calls == ["CLAIM_MESSAGES", "GET_NEXT_QUEUE_MESSAGE"]
    assert len(claimed) == 2 and all(m.context is None for m in claimed)

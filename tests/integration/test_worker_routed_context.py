"""A message claimed without its context asks the database for it, routed by the claim's
own rule (wapipe.context_items): the worker decides no keyword agent and no rate key.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from tests.fakes import ingest
from tests.integration.test_worker_coalescing import ROUTING, CountingStore, _with_store, run
from tests.payloads import text_message


def test_messages_claimed_without_context_are_routed_by_the_database_in_one_call(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    ingest(conn, [text_message("250700000001", "hi"), text_message("250700000002", "my BILL")])

    async def body(store: CountingStore) -> tuple[dict[str, Any], list[str]]:
        claimed = await store.claim("worker-1", 30, 10)  # no routing: no contexts
        assert len(claimed) == 2 and all(m.context is None for m in claimed)
        contexts = await asyncio.gather(
            *(store.routed_context(m.message_id, ROUTING) for m in claimed)
        )
        return {m.user: c for m, c in zip(claimed, contexts, strict=True)}, store.calls

    contexts, calls = run(_with_store(db_url, body))
    assert calls == ["GET_NEXT_QUEUE_MESSAGE", "MESSAGE_CONTEXTS__ROUTED"]
    assert {user: c.agent for user, c in contexts.items()} == {
        "250700000001": "waiter",
        "250700000002": "billing",
    }
    assert all(c.allowed and c.memory is not None for c in contexts.values())
    buckets = conn.execute("SELECT count(*) FROM wapipe.rate_limit_buckets").fetchone()
    assert buckets == (2,), "a first attempt takes a token of its sender's bucket"

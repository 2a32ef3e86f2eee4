"""The routing the worker asks the database for and no longer decides itself: a message the
user's active workflow does not take (message_contexts with bypass_workflow) and the handoff
keywords (wapipe.keyword_agent). The rules' own cases are pgTAP's (db/tests/keyword_agent,
message_contexts, context_items); these prove the worker follows the database's answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.fakes import WorkerProcess, ingest, scalar, send_text, wait_for, write_config
from tests.fakes.agent_server import FakeAgent
from tests.integration.test_worker_coalescing import ROUTING, CountingStore, _with_store, run
from tests.payloads import text_message


def test_a_message_its_workflow_does_not_take_goes_to_the_agent_the_database_routes_to(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    billing = FakeAgent().start()
    try:
        config = write_config(
            server_tmp / "w.toml",
            [
                {"name": "waiter", "endpoints": [agent.url]},
                {"name": "billing", "endpoints": [billing.url]},
            ],
            routing={
                "default_agent": "waiter",
                "rules": [{"keywords": ["refund"], "agent": "billing"}],
            },
        )
        user = "250788007778"
        conn.execute("SELECT wapipe.start_workflow(%s, 'order', 'choose_item', '{}')", (user,))
        send_text(conn, user, "I need a REFUND!", ts=1_700_000_001)
        send_text(conn, user, "it was yesterday", ts=1_700_000_002)
        workers.append(WorkerProcess(db_url, config, server_tmp))
        wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 2, what="2 replies")
        assert [c.text for c in billing.calls] == ["I need a REFUND!", "it was yesterday"], (
            "the keyword agent, then the sticky one, although a workflow is active"
        )
        assert agent.calls == []
        assert (
            scalar(conn, "SELECT status FROM wapipe.workflow_states WHERE user_phone = %s", user)
            == "active"
        )
        handled = [
            r[0]
            for r in conn.execute(
                "SELECT handled_by FROM wapipe.processed_messages ORDER BY wa_timestamp"
            )
        ]
        assert handled == ["billing", "billing"]
    finally:
        billing.stop()


def test_asking_beside_a_workflow_takes_no_second_rate_token(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    user = "250700000001"
    conn.execute("SELECT wapipe.start_workflow(%s, 'order', 'choose_item', '{}')", (user,))
    ingest(conn, [text_message(user, "my bill please")])

    async def body(store: CountingStore) -> tuple[Any, Any, Any, list[str]]:
        (claimed,) = await store.claim("worker-1", 30, 10, ROUTING)
        bucket = "SELECT key, tokens, updated_at FROM wapipe.rate_limit_buckets"
        tokens = conn.execute(bucket).fetchall()
        store.calls.clear()
        routed = await store.context_beside_workflow(claimed.message_id, ROUTING)
        after = conn.execute(bucket).fetchall()
        return claimed.context, routed, (tokens, after), store.calls

    claimed, routed, (tokens, after), calls = run(_with_store(db_url, body))
    assert claimed is not None and claimed.workflow is not None and claimed.agent is None
    assert calls == ["MESSAGE_CONTEXTS__BYPASS_WORKFLOW"]
    assert routed.workflow is None and routed.agent == "billing" and routed.memory is not None
    assert len(tokens) == 1, "the claim took the message's token from its sender's bucket"
    assert after == tokens, "asking again beside the workflow takes none (the bucket is untouched)"


def test_handoff_keywords_are_matched_by_the_database(db_url: str) -> None:
    async def body(store: CountingStore) -> list[str | None]:
        keywords = ("human", "agent")
        return [
            await store.handoff_keyword(text, keywords)
            for text in ("I want a HUMAN!", "agent, or a human", "humans", "pay_human", "")
        ]

    assert run(_with_store(db_url, body)) == ["human", "human", None, None, None]

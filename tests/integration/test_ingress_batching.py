"""Group commit: concurrent POSTs share one ingest call, and each keeps its own answer.

A real `wapipe ingress` with one ingest call at a time (WAPIPE_INGEST_CALLS_MAX=1),
so POSTs that arrive while a call runs wait and go together in the next one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.test_ingress_server import Server, start_server
from tests.integration.test_ingress_app import signed_headers, stored_counts, text_message

POSTS = 40


@pytest.fixture
def one_call_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    # DEBUG: the per-POST "webhook stored" line, with its batch size
    srv = start_server(
        db_url, tmp_path / "ingress.log", WAPIPE_INGEST_CALLS_MAX="1", WAPIPE_LOG_LEVEL="DEBUG"
    )
    try:
        yield srv
    finally:
        srv.stop()


def post_concurrently(base_url: str, bodies: list[bytes]) -> list[httpx.Response]:
    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
            return await asyncio.gather(
                *[
                    client.post(
                        "/webhook",
                        content=body,
                        headers=signed_headers(body, **{"X-Correlation-Id": f"batch-{i}"}),
                    )
                    for i, body in enumerate(bodies)
                ]
            )

    return asyncio.run(post_all())


def batch_sizes(server: Server) -> list[int]:
    return [int(x["batch"]) for x in server.log_lines() if x.get("event") == "webhook stored"]


def test_concurrent_posts_share_calls_and_keep_their_own_events(
    one_call_server: Server, db_url: str
) -> None:
    # Whether POSTs share a call depends on when each arrives (a loaded machine can serve
    # them one by one): rounds are repeated until some did, each round checked on its own.
    for round_no in range(1, 11):
        bodies = [text_message(f"message {round_no}.{i}") for i in range(POSTS)]
        responses = post_concurrently(one_call_server.base_url, bodies)

        assert [r.status_code for r in responses] == [200] * POSTS
        assert all(r.json()["new_messages"] == 1 for r in responses)
        assert len({r.json()["event_id"] for r in responses}) == POSTS, "one event per POST"
        sizes = batch_sizes(one_call_server)
        assert len(sizes) == round_no * POSTS
        counts = stored_counts(db_url)
        assert (counts["events"], counts["messages"], counts["queued"]) == (round_no * POSTS,) * 3
        with psycopg.connect(db_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT e.id, e.correlation_id, m.correlation_id, m.payload->'text'->>'body'"
                " FROM wapipe.webhook_events e"
                " JOIN wapipe.processed_messages m ON m.webhook_event_id = e.id"
                " WHERE m.payload->'text'->>'body' LIKE %s",
                (f"message {round_no}.%",),
            ).fetchall()
        assert len(rows) == POSTS
        by_event = {int(r.json()["event_id"]): i for i, r in enumerate(responses)}
        for event_id, event_cid, message_cid, text in rows:
            i = by_event[event_id]
            assert event_cid == message_cid == f"batch-{i}"
            assert text == f"message {round_no}.{i}", "stored under another POST's event"
        if max(sizes) > 1:
            break
    assert max(sizes) > 1, f"no POST shared a call in ten rounds: {sizes}"


def test_a_refused_post_does_not_take_its_group_down(one_call_server: Server, db_url: str) -> None:
    bad = json.dumps({"object": "page", "entry": []}).encode()
    # Whether a bad POST lands in a call with others depends on when each arrives (a
    # loaded machine can serve it alone): rounds are repeated until one did, each round's
    # answers and rows checked on their own (a round where none shared a call is not a
    # failure; ten such rounds in a row would be).
    refused_groups: list[dict[str, object]] = []
    for round_no in range(1, 11):
        bodies = [text_message(f"good {round_no}.{i}") for i in range(POSTS)]
        bodies[POSTS // 2] = bad
        bodies[POSTS - 3] = bad
        responses = post_concurrently(one_call_server.base_url, bodies)

        codes = [r.status_code for r in responses]
        assert codes.count(400) == 2, codes
        assert codes.count(200) == POSTS - 2, codes
        refused = responses[POSTS // 2]
        assert "whatsapp_business_account" in refused.text
        counts = stored_counts(db_url)
        stored = round_no * (POSTS - 2)
        assert (counts["events"], counts["messages"], counts["queued"]) == (stored,) * 3
        refused_groups = [
            x
            for x in one_call_server.log_lines()
            if x.get("event", "").startswith("ingest group refused")
        ]
        if refused_groups:
            break
    assert refused_groups, "the bad POSTs never shared a call: the fallback was not exercised"
    assert all(int(str(x["size"])) > 1 for x in refused_groups)

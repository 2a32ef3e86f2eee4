"""Group commit: concurrent POSTs share one ingest call, and each keeps its own answer.

A real `wapipe ingress` with one ingest call at a time (WAPIPE_INGEST_CALLS_MAX=1),
so POSTs that arrive while a call runs wait and go together in the next one.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.e2e.test_ingress_server import Server, start_server
from tests.fakes import scalar, wait_for
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


def _connections_to(port: int) -> int:
    """Established TCP connections to a local port (the client side's entries)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def post_while_held(server: Server, db_url: str, bodies: list[bytes]) -> list[httpx.Response]:
    """POST every body at once while the first ingest call waits on a lock, so the others
    queue behind it and go together in the next calls (grouping then does not depend on
    how fast each POST arrives). The lock goes once every POST is connected."""
    port = urlsplit(server.base_url).port
    assert port is not None
    responses: list[httpx.Response] = []
    with psycopg.connect(db_url) as blocker:
        blocker.execute("LOCK TABLE wapipe.webhook_events IN SHARE MODE")
        sender = threading.Thread(
            target=lambda: responses.extend(post_concurrently(server.base_url, bodies))
        )
        sender.start()
        with psycopg.connect(db_url, autocommit=True) as watch:
            wait_for(
                lambda: scalar(
                    watch,
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND query LIKE %s",
                    "%ingest_webhook%",
                ),
                what="an ingest call waiting on the lock",
            )
        wait_for(lambda: _connections_to(port) >= len(bodies), what="every POST connected")
        blocker.rollback()
    sender.join(timeout=120)
    assert not sender.is_alive()
    return responses


def batch_sizes(server: Server) -> list[int]:
    return [int(x["batch"]) for x in server.log_lines() if x.get("event") == "webhook stored"]


def test_concurrent_posts_share_calls_and_keep_their_own_events(
    one_call_server: Server, db_url: str
) -> None:
    bodies = [text_message(f"message {i}") for i in range(POSTS)]
    responses = post_while_held(one_call_server, db_url, bodies)

    assert [r.status_code for r in responses] == [200] * POSTS
    assert all(r.json()["new_messages"] == 1 for r in responses)
    assert len({r.json()["event_id"] for r in responses}) == POSTS, "one event per POST"
    sizes = batch_sizes(one_call_server)
    assert len(sizes) == POSTS
    assert max(sizes) > 1, f"no POST shared a call: {sizes}"
    counts = stored_counts(db_url)
    assert (counts["events"], counts["messages"], counts["queued"]) == (POSTS, POSTS, POSTS)
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.id, e.correlation_id, m.correlation_id, m.payload->'text'->>'body'"
            " FROM wapipe.webhook_events e"
            " JOIN wapipe.processed_messages m ON m.webhook_event_id = e.id"
        ).fetchall()
    by_event = {int(r.json()["event_id"]): i for i, r in enumerate(responses)}
    for event_id, event_cid, message_cid, text in rows:
        i = by_event[event_id]
        assert event_cid == message_cid == f"batch-{i}"
        assert text == f"message {i}", "a message was stored under another POST's event"


def test_a_refused_post_does_not_take_its_group_down(one_call_server: Server, db_url: str) -> None:
    bad = json.dumps({"object": "page", "entry": []}).encode()
    bodies = [text_message(f"good {i}") for i in range(POSTS)]
    bodies[POSTS // 2] = bad
    bodies[POSTS - 3] = bad
    responses = post_while_held(one_call_server, db_url, bodies)

    codes = [r.status_code for r in responses]
    assert codes.count(400) == 2, codes
    assert codes.count(200) == POSTS - 2, codes
    refused = responses[POSTS // 2]
    assert "whatsapp_business_account" in refused.text
    counts = stored_counts(db_url)
    assert (counts["events"], counts["messages"], counts["queued"]) == (POSTS - 2,) * 3
    refused_groups = [
        x
        for x in one_call_server.log_lines()
        if x.get("event", "").startswith("ingest group refused")
    ]
    assert refused_groups, "the bad POSTs never shared a call: the fallback was not exercised"
    assert all(int(str(x["size"])) > 1 for x in refused_groups)

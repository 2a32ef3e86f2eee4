"""monitoring/webhook-health-checks.sql: every query runs on a real scenario and shows it.

The scenario goes through the stored functions the ingress and worker use: three webhook
POSTs (one a redelivery), claims, completions with replies (one sent), a retry, a dead
letter, a lease left to expire, agent calls through breakers (one opens), memory, and
workflows (completed, failed, stuck).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.payloads import text_message, webhook

CHECKS = Path(__file__).resolve().parents[2] / "monitoring" / "webhook-health-checks.sql"
MARKER = re.compile(r"^-- ==== (\d+)\. (.+)$", re.MULTILINE)
SENDERS = [f"25070000000{i}" for i in range(1, 6)]

Rows = list[dict[str, Any]]


def split_checks() -> dict[int, tuple[str, str]]:
    """{number: (title, sql)} from the marker lines."""
    text = CHECKS.read_text()
    marks = list(MARKER.finditer(text))
    result: dict[int, tuple[str, str]] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        result[int(mark.group(1))] = (mark.group(2).strip(), text[mark.end() : end])
    return result


def test_the_file_has_fourteen_documented_queries() -> None:
    checks = split_checks()
    assert sorted(checks) == list(range(1, 15))
    for number, (title, sql) in checks.items():
        for label in ("-- Shows:", "-- Bad:", "-- Do:", "-- Index:"):
            assert label in sql, f"query {number} ({title}) lacks {label}"
        statements = [s for s in re.sub(r"--[^\n]*", "", sql).split(";") if s.strip()]
        assert len(statements) == 1, f"query {number} must be one statement"


@pytest.fixture
def scenario(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    ex = conn.execute
    # the hour the scenario starts in; a minute early, since it backdates a few seconds
    started = ex("SELECT date_trunc('hour', clock_timestamp() - interval '1 minute')").fetchone()
    ex("SELECT wapipe.register_worker('w-1', 'host-a', 4242)")
    messages = [text_message(s, f"hello {i}") for i, s in enumerate(SENDERS)]
    ex("SELECT * FROM wapipe.ingest_webhook(%s, 'c-1')", (Jsonb(webhook(messages[:3])),))
    ex("SELECT * FROM wapipe.ingest_webhook(%s, 'c-2')", (Jsonb(webhook(messages[3:])),))
    # Meta delivers the first two again
    ex("SELECT * FROM wapipe.ingest_webhook(%s, 'c-3')", (Jsonb(webhook(messages[:2])),))

    claimed = {
        row[1]: row[0]
        for row in ex(
            "SELECT msg_id, from_wa_id FROM wapipe.get_next_queue_message('w-1', 30, 10)"
        ).fetchall()
    }
    assert len(claimed) == 5
    reply = Jsonb({"type": "text", "text": {"body": "hi"}})
    for sender in SENDERS[:2]:
        ex("SELECT * FROM wapipe.complete_message(%s, 'w-1', %s)", (claimed[sender], reply))
    # completed 2 s after receipt, whatever the test machine's speed
    ex(
        "UPDATE wapipe.processed_messages SET received_at = processed_at - interval '2 seconds'"
        " WHERE status = 'done'"
    )
    out = ex("SELECT id FROM wapipe.claim_outbox('s-1', 1)").fetchone()
    assert out is not None
    ex("SELECT wapipe.mark_outbox_sent(%s, 's-1', 'wamid.out.1')", (out[0],))
    ex(
        "UPDATE wapipe.outbox SET sent_at = m.received_at + interval '5 seconds'"
        " FROM wapipe.processed_messages m"
        " WHERE m.id = outbox.source_message_id AND sent_at IS NOT NULL"
    )
    ex(
        "SELECT wapipe.schedule_message_retry(%s, 'w-1', 'E503: agent busy', true)",
        (claimed[SENDERS[2]],),
    )
    ex(
        "SELECT wapipe.schedule_message_retry(%s, 'w-1', 'timeout: agent did not answer', false)",
        (claimed[SENDERS[3]],),
    )
    # the worker holding the fifth message hung: its lease expired ten minutes ago
    ex(
        "UPDATE wapipe.conversations SET locked_until = now() - interval '10 minutes'"
        " WHERE locked_by = 'w-1'"
    )

    ex("SELECT wapipe.breaker_configure('agent-a', 'agent')")
    for ms in (100, 200, 300, 400):
        ex("SELECT wapipe.breaker_record('agent-a', true, %s, 'http://a1')", (ms,))
    ex("SELECT wapipe.breaker_record('agent-a', false, 1000, 'http://a1', 'HTTP 502')")
    ex("SELECT wapipe.breaker_configure('agent-b', 'agent', min_calls => 2)")
    for _ in range(2):
        ex("SELECT wapipe.breaker_record('agent-b', false, 50, 'http://b1', 'connection refused')")
    ex("SELECT wapipe.record_endpoint_health('agent-a', 'http://a1', true)")

    memory = ex(
        "SELECT id FROM wapipe.get_or_create_conversation_memory(%s, 'agent-a')", (SENDERS[0],)
    ).fetchone()
    assert memory is not None
    for role, content in (("user", "hi"), ("assistant", "hello"), ("user", "book")):
        ex("SELECT wapipe.update_conversation_memory(%s, %s, %s)", (memory[0], role, content))

    done = ex("SELECT wapipe.start_workflow(%s, 'booking', 'ask_date')", (SENDERS[0],)).fetchone()
    assert done is not None
    ex("SELECT wapipe.complete_workflow(%s)", (done[0],))
    stuck = ex("SELECT wapipe.start_workflow(%s, 'booking', 'ask_date')", (SENDERS[1],)).fetchone()
    assert stuck is not None
    ex(
        "UPDATE wapipe.workflow_states SET expires_at = now() - interval '10 minutes',"
        " updated_at = now() - interval '40 minutes' WHERE id = %s",
        (stuck[0],),
    )
    failed = ex("SELECT wapipe.start_workflow(%s, 'survey', 'q1')", (SENDERS[2],)).fetchone()
    assert failed is not None
    ex("SELECT wapipe.fail_workflow(%s, 'agent crashed')", (failed[0],))
    return {
        "stuck_workflow": stuck[0],
        "stuck_conversation": f"300100200300400:{SENDERS[4]}",
        "hour": started[0] if started else None,
    }


def newest(rows: Rows, hours: int, *keys: str) -> tuple[Any, ...]:
    """The sums of `keys` over the newest `hours` rows of an hourly query."""
    return tuple(sum(row[k] for row in rows[:hours]) for k in keys)


def run_all(conn: psycopg.Connection[Any]) -> dict[int, Rows]:
    results: dict[int, Rows] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for number, (_title, sql) in split_checks().items():
            cur.execute(sql)  # the file's text, no parameters
            results[number] = cur.fetchall()
    return results


def test_every_query_shows_the_scenario(
    conn: psycopg.Connection[Any], scenario: dict[str, Any]
) -> None:
    r = run_all(conn)

    # 1 stuck workflows: the overdue one, masked
    assert [(w["id"], w["why"], w["user_phone"]) for w in r[1]] == [
        (scenario["stuck_workflow"], "past timeout", "250700***002")
    ]
    assert r[1][0]["overdue_by"].total_seconds() >= 600

    # 2 queue health: retrying one queued, one processing, one dead
    total = next(row for row in r[2] if row["priority"] == "all")
    assert (total["queued"], total["processing"], total["retrying"], total["dead"]) == (1, 1, 1, 1)
    assert total["unfinished"] == total["pgmq_depth"] == 2

    # 3 dead letters by error, by type, total
    by = {(d["grouped"], d["error"], d["message_type"]): d for d in r[3]}
    assert by[("by error", "timeout", None)]["dead_letters"] == 1
    assert by[("by error", "timeout", None)]["replayable"] == 1
    assert by[("by type", None, "text")]["dead_letters"] == 1
    assert by[("total", None, None)]["oldest_id"] is not None

    # 4 agents: agent-b open with every call failed; agent-a 1 of 5 failed, p50 300 ms
    agents = {a["agent"]: a for a in r[4]}
    assert agents["agent-b"]["breaker_state"] == "open"
    assert agents["agent-b"]["failure_rate"] == Decimal("1.0000")
    assert (agents["agent-a"]["calls"], agents["agent-a"]["failures"]) == (5, 1)
    assert agents["agent-a"]["p50_ms"] == Decimal("300.0")
    assert agents["agent-a"]["max_ms"] == 1000
    assert agents["agent-a"]["p99_ms"] > agents["agent-a"]["p95_ms"] > agents["agent-a"]["p50_ms"]

    # 5 conversation locks: w-1 holds one lease, expired
    holders = {h["holder"]: h for h in r[5]}
    assert holders["w-1"]["holder_state"] == "alive"
    assert (holders["w-1"]["locked_conversations"], holders["w-1"]["expired_leases"]) == (1, 1)
    assert holders["all holders"]["locked_conversations"] == 1

    # 6 latency: two completed after 2 s, one reply sent after 5 s
    stages = {s["stage"]: s for s in r[6]}
    completed = stages["1 received -> completed"]
    assert (completed["messages"], completed["p50_s"]) == (2, Decimal("2.000"))
    sent = stages["3 received -> reply sent"]
    assert (sent["messages"], sent["p95_s"]) == (1, Decimal("5.000"))

    # 7 error rate by hour: 24 hours; this hour 5 received, 2 with errors, 1 dead. A
    # scenario set up across an hour's end (a slow run can cross one) has its events in
    # the two newest hours: their sums are checked then, the newest alone otherwise
    assert len(r[7]) == 24
    straddled = r[7][0]["hour"] != scenario["hour"]
    hours = 2 if straddled else 1
    assert newest(r[7], hours, "received", "messages_with_errors", "dead_lettered") == (5, 2, 1)
    assert straddled or r[7][0]["message_error_rate"] == Decimal("0.4000")
    assert newest(r[7], hours, "service_calls", "service_failures") == (7, 3)
    assert newest(r[7], 24, "received") == (5,), "nothing in any other hour"

    # 8 top errors of the last hour, per source
    errors = {(e["source"], e["error"]): e["occurrences"] for e in r[8]}
    assert errors[("service call agent-b", "connection refused")] == 2
    assert errors[("service call agent-a", "HTTP 502")] == 1
    assert errors[("message attempt", "E503: agent busy")] == 1
    assert errors[("message attempt", "timeout: agent did not answer")] == 1
    assert r[8][0]["occurrences"] == 2  # most frequent first

    # 9 workflow completion per type
    flows = {w["workflow_type"]: w for w in r[9]}
    booking, survey = flows["booking"], flows["survey"]
    assert (booking["started"], booking["active"], booking["completed"]) == (2, 1, 1)
    assert booking["completion_rate"] == Decimal("1.0000")
    assert (survey["failed"], survey["completion_rate"]) == (1, Decimal("0.0000"))

    # 10 agent sessions
    assert [(s["agent"], s["sessions_24h"], s["active_now"], s["max_messages"]) for s in r[10]] == [
        ("agent-a", 1, 1, 3)
    ]

    # 11 breakers per service and endpoint
    rows11 = {(b["service"], b["endpoint"]): b for b in r[11]}
    assert r[11][0]["service"] == "agent-b"  # open ones first
    assert rows11[("agent-b", "http://b1")]["state"] == "open"
    assert rows11[("agent-b", "http://b1")]["endpoint_failure_rate_15m"] == Decimal("1.0000")
    a1 = rows11[("agent-a", "http://a1")]
    assert (a1["state"], a1["endpoint_healthy"], a1["endpoint_calls_15m"]) == ("closed", True, 5)

    # 12 stale locks: the expired lease, due for cleanup
    leases = [s for s in r[12] if s["kind"] == "expired conversation lease"]
    assert [(s["subject"], s["holder"], s["cleanup_due"]) for s in leases] == [
        (scenario["stuck_conversation"], "w-1", True)
    ]

    # 13 dedup this hour: 3 POSTs, 5 unique, 2 duplicates (the two newest hours: see 7)
    dedup = r[13][0]
    assert newest(r[13], hours, "posts", "unique_messages", "duplicates") == (3, 5, 2)
    assert straddled or dedup["duplicate_share"] == Decimal("0.2857")
    assert straddled or dedup["duplicates_per_unique"] == Decimal("0.4000")

    # 14 summary: degraded, for each problem set up above
    [summary] = r[14]
    assert summary["status"] == "degraded"
    assert summary["dead_letters"] == 1 and summary["breakers_open"] == 1
    assert summary["stuck_workflows"] == 1 and summary["workers_alive"] == 1
    reasons = "\n".join(summary["reasons"])
    assert "1 dead letters" in reasons
    assert "breaker open: agent-b" in reasons
    assert "1 workflows stuck" in reasons
    assert "1 stale conversation leases" in reasons


def test_every_query_runs_on_an_empty_database(conn: psycopg.Connection[Any]) -> None:
    r = run_all(conn)
    assert r[14][0]["status"] == "ok"
    assert len(r[7]) == len(r[13]) == 24
    assert r[1] == r[12] == []
    assert [(d["grouped"], d["dead_letters"]) for d in r[3]] == [("total", 0)]

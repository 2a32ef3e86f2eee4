"""Claim cost vs backlog: get_next_queue_message + complete_message at 1 000 and 100 000 messages.

A claim reads conversations_claim_idx in head order, so its cost should not
grow with the backlog: goal <= 2x per message from 1 000 to 100 000 queued
messages (5 000 conversations). For comparison, pgmq.read_grouped_rr on the
same queue (read-only: each read runs in a transaction that is rolled back, so
visibility and read counts are left as they were). Prints numbers; asserts
nothing.

Runs on a throwaway cluster (bench.common.bench_database), like every bench.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database, summary

SIZES = (1_000, 100_000)
CONVERSATIONS = 5_000
PAYLOAD_MESSAGES = 1_000
BATCH = 10
ROUNDS = 40  # claim + complete rounds per repetition
REPETITIONS = 3
RR_CALLS = 200
BUSINESS_NUMBER_ID = "300100200300400"
REPLY = Jsonb({"type": "text", "text": {"body": "ok"}})


def _payload(start: int, count: int, conversations: int, base_ts: int) -> dict[str, Any]:
    messages = []
    contacts = {}
    for i in range(start, start + count):
        wa_id = f"2507{i % conversations:08d}"
        contacts[wa_id] = {"profile": {"name": "Bench"}, "wa_id": wa_id}
        messages.append(
            {
                "from": wa_id,
                "id": f"wamid.claim.{i}",
                "timestamp": str(base_ts + i // conversations),
                "type": "text",
                "text": {"body": "hello there"},
            }
        )
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": BUSINESS_NUMBER_ID},
        "contacts": list(contacts.values()),
        "messages": messages,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "100200300400500", "changes": [{"field": "messages", "value": value}]}],
    }


def _reset(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "TRUNCATE wapipe.processed_messages, wapipe.conversations, wapipe.outbox, "
        "wapipe.webhook_events, wapipe.dead_letters"
    )
    conn.execute("SELECT pgmq.purge_queue('wapipe_inbound')")
    conn.execute("DELETE FROM pgmq.a_wapipe_inbound")


def _fill(conn: psycopg.Connection[Any], size: int) -> float:
    conversations = min(size, CONVERSATIONS)
    base_ts = int(time.time()) - 86_400
    started = time.perf_counter()
    for start in range(0, size, PAYLOAD_MESSAGES):
        payload = _payload(start, min(PAYLOAD_MESSAGES, size - start), conversations, base_ts)
        conn.execute("SELECT * FROM wapipe.ingest_webhook(%s, 'bench')", (Jsonb(payload),))
    conn.execute("ANALYZE wapipe.conversations")
    conn.execute("ANALYZE wapipe.processed_messages")
    return time.perf_counter() - started


def _claim_and_complete(conn: psycopg.Connection[Any]) -> tuple[float, int]:
    """Seconds for ROUNDS rounds of claim(batch) + complete of each message, and messages done."""
    done = 0
    started = time.perf_counter()
    for _ in range(ROUNDS):
        rows = conn.execute(
            "SELECT msg_id FROM wapipe.get_next_queue_message('bench', 30, %s)", (BATCH,)
        ).fetchall()
        for (msg_id,) in rows:
            conn.execute(
                "SELECT * FROM wapipe.complete_message(%s, 'bench', %s)", (msg_id, REPLY)
            ).fetchone()
        done += len(rows)
    return time.perf_counter() - started, done


def _read_grouped_rr(conn: psycopg.Connection[Any]) -> list[float]:
    samples = []
    for _ in range(RR_CALLS):
        with conn.transaction(force_rollback=True):
            started = time.perf_counter()
            conn.execute("SELECT * FROM pgmq.read_grouped_rr('wapipe_inbound', 30, %s)", (BATCH,))
            samples.append(time.perf_counter() - started)
    return samples


def _measure(url: str) -> None:
    per_message: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for size in SIZES:
            _reset(conn)
            fill_s = _fill(conn, size)
            _claim_and_complete(conn)  # warm-up: plan caches, buffers
            costs = []
            for _ in range(REPETITIONS):
                seconds, done = _claim_and_complete(conn)
                costs.append(seconds / max(done, 1))
            per_message[size] = statistics.median(costs)
            rr = _read_grouped_rr(conn)
            print(
                f"backlog {size:>7,} msgs ({min(size, CONVERSATIONS):,} conversations, "
                f"filled in {fill_s:.1f} s): claim+complete "
                f"{per_message[size] * 1e3:.3f} ms/message (median of {REPETITIONS} x "
                f"{ROUNDS} rounds of batch {BATCH}, after a warm-up); "
                f"pgmq.read_grouped_rr(batch {BATCH}): {summary(rr)}",
                flush=True,
            )
        _reset(conn)
    small, large = per_message[SIZES[0]], per_message[SIZES[-1]]
    print(
        f"claim+complete per message, {SIZES[-1]:,} vs {SIZES[0]:,} backlog: "
        f"{large / small:.2f}x (goal <= 2x)"
    )


def run() -> None:
    with bench_database() as url:
        _measure(url)


if __name__ == "__main__":
    run()

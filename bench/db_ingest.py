"""ingest_webhook vs bare pgmq.send / pgmq.send_batch, one call per transaction.

(a) a 1-message payload through ingest_webhook vs pgmq.send of the same
    payload: goal >= 0.7x the throughput;
(b) a 100-message payload vs pgmq.send_batch of the same 100 messages:
    goal >= 0.5x;
(c) for reading (a), no goal: the floor of any one-transaction ingest. The same
    one-message POSTs through a bench-only plpgsql function that makes nothing but
    the ingest's five writes (raw event, wamid dedup row, message, queue entry,
    conversation head) as plain INSERTs, with none of its rules (envelope checks,
    identity, priority, kinds, quarantine), vs pgmq.send.
Rounds alternate between the two sides so drift hits both alike. On a shared 2-core
VM a round now and then runs several times slower on either side (another process's
burst, a checkpoint's fsync), and a ratio of means over the whole run follows those
rounds: the goals are checked on the median of the rounds' ratios (as bench.ingress
does), many short rounds; the ratio of the means is printed beside it.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database, summary
from tests.payloads import text_message, webhook

ROUNDS = 20
SINGLE_CALLS = 100  # per side per round
BATCH_CALLS = 5  # per side per round
BATCH_SIZE = 100

_counter = itertools.count()

INGEST: LiteralString = "SELECT * FROM wapipe.ingest_webhook(%s, 'bench')"
SEND: LiteralString = "SELECT pgmq.send('bench_bare', %s)"
SEND_BATCH: LiteralString = "SELECT count(*) FROM pgmq.send_batch('bench_bare', %s::jsonb[])"
FLOOR: LiteralString = "SELECT wapipe.bench_ingest_floor(%s, 'bench')"

# (c): created in the bench's throwaway database only; not part of the schema.
_FLOOR_FUNCTION: LiteralString = """
CREATE FUNCTION wapipe.bench_ingest_floor(p jsonb, cid text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' SET plan_cache_mode = force_generic_plan
AS $f$
DECLARE
  v_m     jsonb := p #> '{entry,0,changes,0,value,messages,0}';
  v_pnid  text := p #>> '{entry,0,changes,0,value,metadata,phone_number_id}';
  v_key   text := v_pnid || ':' || (v_m->>'from');
  v_event bigint;
  v_id    bigint := (SELECT wapipe._message_id_base())
                    | nextval('wapipe.processed_messages_id_seq'::regclass);
  v_queue bigint := nextval('pgmq.q_wapipe_inbound_msg_id_seq'::regclass);
BEGIN
  INSERT INTO wapipe.webhook_events (correlation_id, payload, new_messages)
  VALUES (cid, p, 1) RETURNING id INTO v_event;
  INSERT INTO wapipe.message_wamids (wamid, message_id) VALUES (v_m->>'id', v_id);
  INSERT INTO wapipe.processed_messages (id, wamid, conversation_key, phone_number_id,
    from_wa_id, message_type, payload, wa_timestamp, priority, queue_msg_id,
    correlation_id, webhook_event_id)
  VALUES (v_id, v_m->>'id', v_key, v_pnid, v_m->>'from', v_m->>'type', v_m, now(), 0,
          v_queue, cid, v_event);
  INSERT INTO pgmq.q_wapipe_inbound (msg_id, vt, message, headers) OVERRIDING SYSTEM VALUE
  VALUES (v_queue, now(), jsonb_build_object('wamid', v_m->>'id'),
          jsonb_build_object('x-pgmq-group', v_key));
  INSERT INTO wapipe.conversations AS cv (conversation_key, phone_number_id, wa_id,
    head_message_id, head_priority, head_wa_timestamp, head_received_at, head_rank)
  VALUES (v_key, v_pnid, v_m->>'from', v_id, 0, now(), now(), now())
  ON CONFLICT (conversation_key) DO UPDATE SET head_message_id = excluded.head_message_id
  WHERE cv.head_message_id IS NULL;
  RETURN v_event;
END
$f$
"""


def _fresh_payload(size: int) -> dict[str, Any]:
    messages = [
        text_message(
            f"25078{next(_counter) % 5000:07d}", "hello there", f"wamid.bench.{next(_counter)}"
        )
        for _ in range(size)
    ]
    return webhook(messages)


def _timed_calls(
    conn: psycopg.Connection[Any], sql: LiteralString, params: list[tuple[Any, ...]]
) -> list[float]:
    """Seconds taken by each call of sql, one per params tuple (one transaction each)."""
    samples = []
    for args in params:
        started = time.perf_counter()
        conn.execute(sql, args).fetchone()
        samples.append(time.perf_counter() - started)
    return samples


def _compare(
    conn: psycopg.Connection[Any], size: int, calls: int, rounds: int = ROUNDS
) -> tuple[list[list[float]], list[list[float]]]:
    """Per round, the seconds of each call of ours and of the bare side."""
    ours: list[list[float]] = []
    bare: list[list[float]] = []
    for n in range(rounds):
        payloads = [_fresh_payload(size) for _ in range(calls)]
        sides = [("ours", ours), ("bare", bare)]
        for side, samples in sides if n % 2 == 0 else sides[::-1]:
            if side == "ours":
                samples.append(_timed_calls(conn, INGEST, [(Jsonb(p),) for p in payloads]))
            elif size == 1:
                samples.append(_timed_calls(conn, SEND, [(Jsonb(p),) for p in payloads]))
            else:
                samples.append(
                    _timed_calls(
                        conn, SEND_BATCH, [([Jsonb(m) for m in _messages(p)],) for p in payloads]
                    )
                )
    return ours, bare


def _floor(conn: psycopg.Connection[Any], rounds: int = ROUNDS) -> list[float]:
    """Per round, pgmq.send's seconds over the floor function's, sides alternating."""
    ratios = []
    for n in range(rounds):
        seconds = {}
        for side, sql in [("floor", FLOOR), ("bare", SEND)][:: 1 if n % 2 == 0 else -1]:
            payloads = [_fresh_payload(1) for _ in range(SINGLE_CALLS)]
            seconds[side] = sum(_timed_calls(conn, sql, [(Jsonb(p),) for p in payloads]))
        ratios.append(seconds["bare"] / seconds["floor"])
    return sorted(ratios)


def _messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = payload["entry"][0]["changes"][0]["value"]["messages"]
    return messages


def _report(label: str, ours: list[list[float]], bare: list[list[float]], goal: float) -> None:
    every_ours = [s for r in ours for s in r]
    every_bare = [s for r in bare for s in r]
    of_means = statistics.fmean(every_bare) / statistics.fmean(every_ours)
    rounds = sorted(sum(b) / sum(o) for o, b in zip(ours, bare, strict=True))
    ratio = statistics.median(rounds)
    print(f"  wapipe.ingest_webhook : {summary(every_ours)}")
    print(f"  bare pgmq             : {summary(every_bare)}")
    verdict = "meets" if ratio >= goal else "BELOW"
    print(
        f"  {label}: throughput ratio wapipe/bare = {ratio:.2f}x, median of {len(rounds)} rounds "
        f"(quartiles {rounds[len(rounds) // 4]:.2f}-{rounds[3 * len(rounds) // 4]:.2f}; "
        f"ratio of the means {of_means:.2f}x) (goal >= {goal}x: {verdict})"
    )


def run() -> None:
    print("== db_ingest: ingest_webhook vs bare pgmq (same database, one call per transaction)")
    with bench_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pgmq.create('bench_bare')")
        # Warm-up, then analyse, as autovacuum does in a running system: plans the
        # functions cache on empty tables would otherwise outlive the table's growth.
        _compare(conn, 1, 50, rounds=5)
        _compare(conn, BATCH_SIZE, 4, rounds=5)
        conn.execute("ANALYZE")
        ours, bare = _compare(conn, 1, SINGLE_CALLS)
        _report("(a) 1-message POST vs pgmq.send", ours, bare, 0.7)
        ours, bare = _compare(conn, BATCH_SIZE, BATCH_CALLS)
        _report(f"(b) {BATCH_SIZE}-message POST vs pgmq.send_batch", ours, bare, 0.5)
        conn.execute(_FLOOR_FUNCTION)
        floor = _floor(conn)
        print(
            f"  (c) the five writes alone, no rules, one transaction vs pgmq.send = "
            f"{statistics.median(floor):.2f}x, median of {len(floor)} rounds "
            f"(quartiles {floor[len(floor) // 4]:.2f}-{floor[3 * len(floor) // 4]:.2f}; "
            "no goal: the floor of any one-transaction ingest, for reading (a))"
        )


if __name__ == "__main__":
    run()

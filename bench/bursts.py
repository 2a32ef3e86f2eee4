"""A burst answered once (issue 16.3): agent calls and replies for 3-message bursts, before/after.

"hi" / "I want to book" / "for 2 people", typed in a row by each of USERS users, through a
real `wapipe worker` (in this process) with a counting in-process agent:
(a) queued: each user's three texts arrive in one POST before the worker runs (a backlog);
(b) live: the worker runs and each user's texts arrive as three POSTs, LIVE_GAP_S apart,
    as a phone sends them;
each with coalesce_seconds 0 (before: the default), 10 (after), and for (b) 10 plus
debounce_seconds 1 (texts still being typed join the turn). Reported: agent calls and
replies per burst (goal 3 -> 1).
(c) the cost where there is nothing to coalesce: no-op throughput of one message per user
    with coalescing off vs on, alternating rounds in the same run (the median of each).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database
from bench.worker import MESSAGES, _ingest, _webhook
from worker.agents import AgentRequest
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig, WorkerConfig
from worker.main import run_async
from worker.runner import Worker

USERS = 100
TEXTS = ("hi", "I want to book", "for 2 people")
LIVE_GAP_S = 0.3
ROUNDS = 3
# messages per agent call, one entry per call
CALLS: list[int] = []


async def counting_agent(request: AgentRequest) -> dict[str, Any]:
    CALLS.append(len(request.messages))
    return {"reply": "ok"}


def _config(coalesce: float, debounce: float = 0.0, concurrency: int = 16) -> WorkerConfig:
    return WorkerConfig(
        services=(
            ServiceConfig(
                name="counting",
                protocol="python",
                endpoints=(f"{PYTHON_ENDPOINT_PREFIX}bench.bursts:counting_agent",),
                coalesce_seconds=coalesce,
                debounce_seconds=debounce,
                debounce_max_seconds=10,
            ),
        ),
        default_agent="counting",
        concurrency=concurrency,
        batch=concurrency,
        rate_limit_max=1_000_000,
        rate_limit_per="1 minute",
    )


def _text(wa_id: str, body: str, ts: int, n: int) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.burst.{wa_id}.{n}",
        "timestamp": str(ts),
        "type": "text",
        "text": {"body": body},
    }


def _done(url: str, prefix: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'done') FROM wapipe.processed_messages"
            " WHERE from_wa_id LIKE %s",
            (prefix + "%",),
        ).fetchone()
    return int(row[0]) if row else 0


def _replies(url: str, prefix: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM wapipe.outbox WHERE to_wa_id LIKE %s", (prefix + "%",)
        ).fetchone()
    return int(row[0]) if row else 0


async def _serve(url: str, config: WorkerConfig, prefix: str, total: int, live: bool) -> None:
    worker = Worker(config, url, health_checks=False)
    task = asyncio.create_task(worker.run())
    while not worker.listening:
        await asyncio.sleep(0.01)
    if live:
        users = [f"{prefix}{i:06d}" for i in range(USERS)]
        now = int(time.time())
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for n, body in enumerate(TEXTS):
                for u in users:
                    await conn.execute(
                        "SELECT wapipe.ingest_webhook(%s, 'bench-burst')",
                        (Jsonb(_webhook([_text(u, body, now + n, n)])),),
                    )
                await asyncio.sleep(LIVE_GAP_S)
    deadline = time.monotonic() + 120
    while await asyncio.to_thread(_done, url, prefix) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    worker.request_stop()
    await task


def burst_run(url: str, prefix: str, live: bool, coalesce: float, debounce: float = 0.0) -> str:
    total = USERS * len(TEXTS)
    if not live:
        ts = int(time.time()) - 10
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(USERS):
                u = f"{prefix}{i:06d}"
                conn.execute(
                    "SELECT wapipe.ingest_webhook(%s, 'bench-burst')",
                    (Jsonb(_webhook([_text(u, b, ts + n, n) for n, b in enumerate(TEXTS)])),),
                )
    # the module the worker imported the agent from (not __main__ under `python -m`)
    counted: list[int] = importlib.import_module("bench.bursts").CALLS
    counted.clear()
    run_async(_serve(url, _config(coalesce, debounce), prefix, total, live))
    calls, replies = len(counted), _replies(url, prefix)
    assert _done(url, prefix) == total, "every message of every burst done"
    return (
        f"agent calls {calls} ({calls / USERS:.2f} per burst), replies {replies} "
        f"({replies / USERS:.2f} per burst)"
    )


async def _drain(url: str, config: WorkerConfig, done: int) -> float:
    worker = Worker(config, url, health_checks=False)
    task = asyncio.create_task(worker.run())
    while not worker.listening:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    worker.wake.set()
    while worker.handled < done:
        await asyncio.sleep(0.002)
    took = time.perf_counter() - started
    worker.request_stop()
    await task
    return took


def throughput(url: str, coalesce: float, round_no: int) -> float:
    ts = int(time.time())
    with psycopg.connect(url, autocommit=True) as conn:
        _ingest(conn, [_text(f"24{round_no:02d}{i:08d}", "hi", ts, 0) for i in range(MESSAGES)])
    return MESSAGES / run_async(_drain(url, _config(coalesce), MESSAGES))


def run() -> None:
    # the worker's lines (and yoyo's, pgmq's) stay out of the bench's printout
    os.environ.setdefault("WAPIPE_LOG_LEVEL", "WARNING")
    from wapipe.log import configure_logging

    configure_logging("bench")
    with bench_database() as db:
        lines = [f"{USERS} users, each a burst of {len(TEXTS)} texts ({' / '.join(TEXTS)}):"]
        lines.append(f"(a) queued  coalesce 0 (before): {burst_run(db, '2601', False, 0)}")
        lines.append(f"    queued  coalesce 10 (after): {burst_run(db, '2602', False, 10)}")
        lines.append(
            f"(b) live, {LIVE_GAP_S} s apart, coalesce 0: {burst_run(db, '2603', True, 0)}"
        )
        lines.append(f"    live  coalesce 10: {burst_run(db, '2604', True, 10)}")
        lines.append(
            f"    live  coalesce 10 + debounce 1 s: {burst_run(db, '2605', True, 10, 1.0)}"
        )
        off: list[float] = []
        on: list[float] = []
        for r in range(ROUNDS):
            off.append(throughput(db, 0, 2 * r))
            on.append(throughput(db, 10, 2 * r + 1))
    for line in lines:
        print(line)
    print(
        f"(c) no-op worker, {MESSAGES} single messages, median of {ROUNDS} alternating rounds: "
        f"coalescing off {statistics.median(off):.0f} msg/s, on {statistics.median(on):.0f} msg/s "
        f"(on/off {statistics.median(on) / statistics.median(off):.2f}); "
        f"rounds off {[round(x) for x in off]}, on {[round(x) for x in on]}"
    )


if __name__ == "__main__":
    run()

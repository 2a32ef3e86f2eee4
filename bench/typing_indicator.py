"""Read receipt + typing indicator (issue 16): its latency and what it costs the worker.

Same run, same throwaway database, the fake Graph API (tests/fakes/graph_api.py) on
localhost, in this process:
(a) ingest commit -> the typing call arriving at the fake Graph API, at 100 messages/s
    (p50, p99), beside the existing path ingest commit -> reply in the outbox of the
    same messages (the baseline the goal is set against: typing p99 <= 50 ms);
(b) `wapipe worker` no-op throughput (bench.worker's set-up: in-process no-op agent,
    concurrency 16) with typing off, on with every call sent (pacing lifted), and on
    with Meta's default 80 sends/s per number (most calls are then paced: a database
    round trip, no HTTP call). The fake Graph API runs in a thread of this process, so
    its own CPU is charged to "typing on": the cost shown is an upper bound.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database
from bench.worker import CONCURRENCY, _config, _text, _webhook, wapipe_throughput
from tests.fakes.graph_api import FakeGraphApi
from worker.main import run_async
from worker.runner import Worker

RATE_PER_S = 100
SECONDS = 5
ROUNDS = int(os.environ.get("WAPIPE_BENCH_ROUNDS", "3"))


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _latency_run(url: str, graph: FakeGraphApi) -> dict[str, float]:
    worker = Worker(_config(), url, health_checks=False)
    task = asyncio.create_task(worker.run())
    while not worker.listening:
        await asyncio.sleep(0.01)
    total = RATE_PER_S * SECONDS
    committed: dict[str, float] = {}
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn:
        started = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / RATE_PER_S - time.perf_counter()))
            msg = _text(f"2509{i % 200:08d}", "hi")
            await conn.execute(
                "SELECT wapipe.ingest_webhook(%s, 'bench-typing')", (Jsonb(_webhook([msg])),)
            )
            committed[msg["id"]] = time.monotonic()
    while worker.handled < total:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # the last typing calls land
    worker.request_stop()
    await task
    typing_ms = [
        (r.at - committed[r.json["message_id"]]) * 1000
        for r in graph.read_calls()
        if r.json.get("message_id") in committed
    ]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        cur = await c.execute(
            "SELECT extract(epoch FROM o.created_at - m.received_at) * 1000"
            " FROM wapipe.processed_messages m JOIN wapipe.outbox o ON o.source_key = m.wamid"
            " WHERE m.correlation_id = 'bench-typing'"
        )
        reply_ms = [float(r[0]) for r in await cur.fetchall()]
    return {
        "n": len(typing_ms),
        "total": total,
        "typing_p50": statistics.median(typing_ms),
        "typing_p99": _p(typing_ms, 0.99),
        "reply_p50": statistics.median(reply_ms),
        "reply_p99": _p(reply_ms, 0.99),
    }


def _env(graph: FakeGraphApi | None, rate: int) -> None:
    if graph is None:
        os.environ.pop("WHATSAPP_API_URL", None)
        os.environ.pop("WHATSAPP_ACCESS_TOKEN", None)
    else:
        os.environ["WHATSAPP_API_URL"] = graph.url
        os.environ["WHATSAPP_ACCESS_TOKEN"] = "bench-token"
    os.environ["WAPIPE_SEND_RATE_PER_SECOND"] = str(rate)


def run() -> None:
    os.environ.setdefault("WAPIPE_LOG_LEVEL", "WARNING")
    from wapipe.log import configure_logging

    configure_logging("bench")
    saved = {
        k: os.environ.get(k)
        for k in ("WHATSAPP_API_URL", "WHATSAPP_ACCESS_TOKEN", "WAPIPE_SEND_RATE_PER_SECOND")
    }
    graph = FakeGraphApi().start()
    rounds: list[tuple[float, float, float, int]] = []
    try:
        with bench_database() as db:
            _env(graph, 1_000_000)
            lat = run_async(_latency_run(db, graph))
            r = 50
            for _ in range(ROUNDS):
                _env(None, 80)
                off = wapipe_throughput(db, None, r, CONCURRENCY)
                _env(graph, 1_000_000)
                before = len(graph.read_calls())
                on = wapipe_throughput(db, None, r + 1, CONCURRENCY)
                sent = len(graph.read_calls()) - before
                _env(graph, 80)
                paced = wapipe_throughput(db, None, r + 2, CONCURRENCY)
                rounds.append((off, on, paced, sent))
                r += 3
    finally:
        graph.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(
        f"(a) {RATE_PER_S} msg/s for {SECONDS} s, ingest commit -> ...: "
        f"{lat['n']:.0f} of {lat['total']:.0f} messages got a typing call (pacing lifted)"
    )
    print(
        f"    typing call at the fake Graph API: p50 {lat['typing_p50']:6.1f} ms  "
        f"p99 {lat['typing_p99']:6.1f} ms (goal p99 <= 50 ms)"
    )
    print(
        f"    reply in the outbox (baseline):    p50 {lat['reply_p50']:6.1f} ms  "
        f"p99 {lat['reply_p99']:6.1f} ms"
    )
    print(f"(b) no-op worker throughput, concurrency {CONCURRENCY}, {len(rounds)} rounds:")
    for i, (off, on, paced, sent) in enumerate(rounds, 1):
        print(
            f"  round {i}: typing off {off:6.0f} msg/s; on, every call sent {on:6.0f} msg/s "
            f"({sent} calls, {on / off:.2f}x); on, paced at 80/s {paced:6.0f} msg/s "
            f"({paced / off:.2f}x)"
        )
    med = sorted(rounds, key=lambda x: x[1] / x[0])[len(rounds) // 2]
    print(
        f"    median: off {med[0]:.0f} msg/s vs on {med[1]:.0f} msg/s: typing costs "
        f"{(1 - med[1] / med[0]) * 100:.0f} % of no-op throughput "
        f"(~{(1 / med[1] - 1 / med[0]) * 1e6:.0f} us per message)"
    )


if __name__ == "__main__":
    run()

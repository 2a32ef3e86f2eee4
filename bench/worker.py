"""Worker throughput and latency: wapipe worker vs procrastinate vs a raw pgmq loop.

Same run, same (throwaway) database, same number of messages, same concurrency:
(a) `wapipe worker` messages/s — claim -> handle (rate limit, routing, memory,
    breaker, in-process no-op agent: a `python` protocol service) -> complete —
    vs procrastinate running the same number of no-op jobs (goal >= 10x);
(b) vs a raw loop of pgmq.read(qty 100) + pgmq.archive (the floor: no ordering,
    no leases, no replies): the ratio is reported;
(c) end-to-end latency from ingest_webhook to the reply in the outbox at a fixed
    rate: p50 and p99.
No sender runs. Like every bench, it runs on a throwaway cluster: the dev database
is never touched.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database, server_cpu_seconds
from worker.agents import AgentRequest
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig, WorkerConfig
from worker.main import run_async
from worker.runner import Worker

MESSAGES = 3000
# The VM this runs on varies by +-30 % from minute to minute: (a) is measured in
# ROUNDS alternating rounds per concurrency and the median ratio is the result.
ROUNDS = int(os.environ.get("WAPIPE_BENCH_ROUNDS", "3"))
# (a) at each of these concurrencies (the same for both; the worker claims as many
# as it may handle: batch = concurrency). 16 is what earlier runs measured; 64 is
# closer to a production worker, whose agent calls take seconds.
CONCURRENCIES = (16, 64)
CONCURRENCY = 16  # (c)
LATENCY_RATE_PER_S = 100
LATENCY_SECONDS = 5
PHONE_NUMBER_ID = "300100200300400"


def _webhook(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001111",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }


def _text(wa_id: str, body: str) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.bench.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def _ingest(conn: psycopg.Connection[Any], messages: list[dict[str, Any]]) -> None:
    for i in range(0, len(messages), 500):
        conn.execute(
            "SELECT wapipe.ingest_webhook(%s, 'bench')", (Jsonb(_webhook(messages[i : i + 500])),)
        )


async def noop_agent(request: AgentRequest) -> dict[str, Any]:
    """The in-process no-op agent (like procrastinate's no-op job): the same answer."""
    return {"reply": "ok"}


def _config(concurrency: int = CONCURRENCY) -> WorkerConfig:
    return WorkerConfig(
        services=(
            ServiceConfig(
                name="noop",
                protocol="python",
                endpoints=(f"{PYTHON_ENDPOINT_PREFIX}bench.worker:noop_agent",),
            ),
        ),
        default_agent="noop",
        concurrency=concurrency,
        batch=concurrency,
        rate_limit_max=1_000_000,
        rate_limit_per="1 minute",
    )


class CpuUse:
    """CPU per message of the Python process and of the PostgreSQL server over a run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.python_us = self.server_us = 0.0

    def start(self) -> None:
        self._python, self._server = time.process_time(), server_cpu_seconds(self.url)

    def stop(self, messages: int) -> None:
        self.python_us = (time.process_time() - self._python) / messages * 1e6
        self.server_us = (server_cpu_seconds(self.url) - self._server) / messages * 1e6

    def __str__(self) -> str:
        return (
            f"CPU per message: Python {self.python_us:.0f} us, PostgreSQL {self.server_us:.0f} us"
        )


async def _run_worker_until(
    url: str, done: int, cpu: CpuUse | None = None, concurrency: int = CONCURRENCY
) -> float:
    worker = Worker(_config(concurrency), url, health_checks=False)
    task = asyncio.create_task(worker.run())
    while not worker.listening:  # started up, listening
        await asyncio.sleep(0.01)
    if cpu:
        cpu.start()
    started = time.perf_counter()
    worker.wake.set()
    while worker.handled < done:
        await asyncio.sleep(0.002)
    took = time.perf_counter() - started
    if cpu:
        cpu.stop(done)
    worker.request_stop()
    await task
    return took


def wapipe_throughput(
    url: str, cpu: CpuUse | None = None, round_no: int = 0, concurrency: int = CONCURRENCY
) -> float:
    """MESSAGES messages of as many new users (a fresh set per round) through one worker."""
    with psycopg.connect(url, autocommit=True) as conn:
        _ingest(conn, [_text(f"27{round_no:02d}{i:08d}", "hi") for i in range(MESSAGES)])
        before = conn.execute("SELECT count(*) FROM wapipe.outbox").fetchone()
    took = run_async(_run_worker_until(url, MESSAGES, cpu, concurrency))
    with psycopg.connect(url, autocommit=True) as conn:
        after = conn.execute("SELECT count(*) FROM wapipe.outbox").fetchone()
        assert before is not None and after is not None and after[0] - before[0] == MESSAGES
    return MESSAGES / took


def raw_pgmq_throughput(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pgmq.create('bench_raw')")
        conn.execute(
            "SELECT pgmq.send_batch('bench_raw', %s)", ([Jsonb({"n": i}) for i in range(MESSAGES)],)
        )
        started = time.perf_counter()
        done = 0
        while True:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT msg_id FROM pgmq.read('bench_raw', 30, 100)"
                ).fetchall()
            ]
            if not ids:
                break
            conn.execute("SELECT pgmq.archive('bench_raw', %s::bigint[])", (ids,))
            done += len(ids)
        took = time.perf_counter() - started
    assert done == MESSAGES
    return MESSAGES / took


def _ensure_procrastinate() -> None:
    if importlib.util.find_spec("procrastinate") is None:
        print("installing procrastinate (the `bench` extra)", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "procrastinate>=3,<4"], check=True
        )


def procrastinate_throughput(
    url: str, cpu: CpuUse | None = None, first: bool = True, concurrency: int = CONCURRENCY
) -> float:
    _ensure_procrastinate()
    import logging

    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop(n: int) -> None:
        return None

    async def main() -> float:
        async with app.open_async():
            if first:
                await app.schema_manager.apply_schema_async()
            for i in range(0, MESSAGES, 500):
                await noop.batch_defer_async(*({"n": n} for n in range(i, i + 500)))
            if cpu:
                cpu.start()
            started = time.perf_counter()
            await app.run_worker_async(
                concurrency=concurrency, wait=False, install_signal_handlers=False
            )
            took = time.perf_counter() - started
            if cpu:
                cpu.stop(MESSAGES)
            return took

    took = run_async(main())  # the same event loop as `wapipe worker`
    return MESSAGES / took


async def _latency_run(url: str) -> None:
    worker = Worker(_config(), url, health_checks=False)
    task = asyncio.create_task(worker.run())
    while not worker.listening:
        await asyncio.sleep(0.01)
    total = LATENCY_RATE_PER_S * LATENCY_SECONDS
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn:
        started = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, started + i / LATENCY_RATE_PER_S - time.perf_counter()))
            await conn.execute(
                "SELECT wapipe.ingest_webhook(%s, 'bench-latency')",
                (Jsonb(_webhook([_text(f"2508{i % 200:08d}", "hi")])),),
            )
    while worker.handled < total:
        await asyncio.sleep(0.01)
    worker.request_stop()
    await task


def latency(url: str) -> tuple[float, float, int]:
    run_async(_latency_run(url))
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),"
            "       percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), count(*)"
            " FROM (SELECT extract(epoch FROM o.created_at - m.received_at) * 1000 AS ms"
            "       FROM wapipe.processed_messages m JOIN wapipe.outbox o ON o.source_key = m.wamid"
            "       WHERE m.correlation_id = 'bench-latency') x"
        ).fetchone()
    assert row is not None
    return float(row[0]), float(row[1]), int(row[2])


Round = tuple[float, CpuUse, float, CpuUse]


def _report(concurrency: int, rounds: list[Round]) -> None:
    print(f"(a) concurrency {concurrency} (batch {concurrency}), {len(rounds)} rounds:")
    for r, (ours_r, our_cpu, theirs_r, their_cpu) in enumerate(rounds, 1):
        print(
            f"  round {r}: wapipe {ours_r:6.0f} msg/s ({our_cpu}); "
            f"procrastinate {theirs_r:5.0f} jobs/s ({their_cpu}); ratio {ours_r / theirs_r:.1f}x"
        )
    middle = sorted(rounds, key=lambda x: x[0] / x[2])[len(rounds) // 2]
    ours, theirs = middle[0], middle[2]
    print(
        f"    wapipe worker: {ours:8.0f} msg/s (claim, rate limit, route, memory, breaker, "
        "no-op agent, complete; the median round)"
    )
    print(f"    procrastinate: {theirs:8.0f} jobs/s (no-op jobs, the same round)")
    print(
        f"    ratio wapipe/procrastinate at concurrency {concurrency}: {ours / theirs:.1f}x "
        f"(median of {len(rounds)}; goal >= 10x)"
    )


def run() -> None:
    os.environ.setdefault("WAPIPE_LOG_LEVEL", "WARNING")
    from wapipe.log import configure_logging

    configure_logging("bench")
    measured: dict[int, list[Round]] = {c: [] for c in CONCURRENCIES}
    with bench_database() as db:
        r = 0
        for _ in range(ROUNDS):
            for concurrency in CONCURRENCIES:
                our_cpu, their_cpu = CpuUse(db), CpuUse(db)
                ours = wapipe_throughput(db, our_cpu, r, concurrency)
                theirs = procrastinate_throughput(db, their_cpu, r == 0, concurrency)
                measured[concurrency].append((ours, our_cpu, theirs, their_cpu))
                r += 1
        raw = raw_pgmq_throughput(db)
        p50, p99, n = latency(db)
    print(f"messages={MESSAGES} per run")
    for concurrency, rounds in measured.items():
        _report(concurrency, rounds)
    best = max(statistics.median(x[0] for x in rounds) for rounds in measured.values())
    print(f"(b) raw pgmq read(100)+archive: {raw:8.0f} msg/s")
    print(f"    ratio wapipe (best median above)/raw pgmq: {best / raw:.2f}x (goal >= 0.3x)")
    print(
        f"(c) ingest -> reply in outbox at {LATENCY_RATE_PER_S} msg/s for "
        f"{LATENCY_SECONDS} s, concurrency {CONCURRENCY} (n={n}): p50={p50:.1f} ms p99={p99:.1f} ms"
    )


if __name__ == "__main__":
    run()

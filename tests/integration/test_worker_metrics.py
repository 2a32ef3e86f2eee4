"""Worker metrics: the names the dashboard uses, counted by a real `wapipe worker` process
scraped over HTTP; the queue gauges come from the database at most once per interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import AsyncConnectionPool

from tests.fakes import WorkerProcess, fast_retries, scalar, send_text, wait_for, write_config
from tests.fakes.agent_server import FakeAgent, free_port
from tests.unit.test_grafana_dashboard import WORKER_METRICS
from worker.metrics import MetricsServer, WorkerMetrics, send_result_code

TRANSITIONS = "wapipe_worker_breaker_transitions_total"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert response.status_code == 200
    return parse(response.text)


# -- unit ----------------------------------------------------------------------------


def test_every_documented_worker_series_is_exposed() -> None:
    metrics = WorkerMetrics()
    metrics.set_queue_gauges(3, 12.5, 1, ["agent-a"], [], deferred={"agent-a": 2})
    metrics.handle_seconds.observe(0.1)
    metrics.sender_results.labels("ok").inc()
    names = {s[0] for s in parse(generate_latest(metrics.registry).decode())}
    for name, kind in WORKER_METRICS.items():
        wanted = name + "_bucket" if kind == "histogram" else name
        assert wanted in names, f"{wanted} is documented but not exposed"


def test_send_result_codes() -> None:
    assert send_result_code("sent", None, 200) == "ok"
    assert send_result_code("retry", 130429, 429) == "130429"
    assert send_result_code("fail", 131047, 400) == "131047"
    assert send_result_code("retry", None, 502) == "http_502"
    assert send_result_code("unknown", None, None) == "unknown"


def test_breaker_states_and_transitions() -> None:
    metrics = WorkerMetrics()
    metrics.known_breakers(["waiter", "whatsapp-graph"])
    metrics.set_queue_gauges(0, None, 0, ["waiter"], ["payments"])
    samples = parse(generate_latest(metrics.registry).decode())
    assert value(samples, "wapipe_breaker_state", service="waiter") == 2
    assert value(samples, "wapipe_breaker_state", service="payments") == 1
    assert value(samples, "wapipe_breaker_state", service="whatsapp-graph") == 0
    assert value(samples, "wapipe_queue_oldest_age_seconds") == 0
    # a breaker no longer listed goes back to closed (0), it does not keep its old value
    metrics.set_queue_gauges(0, None, 0, [], [])
    samples = parse(generate_latest(metrics.registry).decode())
    assert value(samples, "wapipe_breaker_state", service="waiter") == 0
    assert value(samples, "wapipe_breaker_state", service="payments") == 0

    for state in ["closed", "closed", "open", "open", "half_open", "closed"]:
        metrics.observe_breaker("waiter", state)
    samples = parse(generate_latest(metrics.registry).decode())
    transitions = {
        state: value(
            samples, "wapipe_worker_breaker_transitions_total", service="waiter", state=state
        )
        for state in ("open", "half_open", "closed")
    }
    assert transitions == {"open": 1.0, "half_open": 1.0, "closed": 1.0}


# -- the cached database read ---------------------------------------------------------


class CountingPool:
    """Delegates to a real pool and counts the connections taken."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.taken = 0

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:
        self.taken += 1
        async with self.pool.connection(timeout=timeout) as conn:
            yield conn


def test_queue_gauges_are_read_once_per_interval_not_per_scrape(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    send_text(conn, "250788000101", "first")
    send_text(conn, "250788000102", "second")
    conn.execute(
        "INSERT INTO wapipe.breakers (name, kind, state, opened_at) "
        "VALUES ('waiter', 'agent', 'open', now())"
    )
    metrics = WorkerMetrics()
    metrics.known_breakers(["whatsapp-graph"])
    server = MetricsServer.start(metrics, "127.0.0.1", 0)
    assert server is not None

    async def run() -> tuple[list[Samples], Samples, int, int]:
        async with AsyncConnectionPool(
            db_url, min_size=1, max_size=2, kwargs={"autocommit": True}
        ) as real_pool:
            pool = CountingPool(real_pool)
            loop_task = asyncio.create_task(metrics.refresh_loop(pool, 3600))  # type: ignore[arg-type]
            try:
                await asyncio.to_thread(
                    wait_for, lambda: pool.taken == 1 and metrics.gauges_refreshed._value.get() > 0
                )
                scrapes = [await asyncio.to_thread(scrape, server.port) for _ in range(5)]
                taken_after_scrapes = pool.taken
                # the database changes; the gauges only follow at the next refresh
                await asyncio.to_thread(send_text, conn, "250788000103", "third")
                stale = await asyncio.to_thread(scrape, server.port)
                assert await metrics.refresh_gauges(pool)  # type: ignore[arg-type]
                fresh = await asyncio.to_thread(scrape, server.port)
            finally:
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop_task
            assert value(stale, "wapipe_queue_depth") == 2
            return scrapes, fresh, taken_after_scrapes, pool.taken

    try:
        scrapes, fresh, taken_after_scrapes, taken_total = asyncio.run(run())
    finally:
        server.stop()
    assert taken_after_scrapes == 1, "five scrapes must not query the database"
    assert taken_total == 2
    first = scrapes[0]
    assert value(first, "wapipe_queue_depth") == 2
    assert (value(first, "wapipe_queue_oldest_age_seconds") or 0) >= 0
    assert value(first, "wapipe_dead_letters") == 0
    assert value(first, "wapipe_breaker_state", service="waiter") == 2
    assert value(first, "wapipe_breaker_state", service="whatsapp-graph") == 0
    stamps = {value(s, "wapipe_worker_gauges_refreshed_timestamp_seconds") for s in scrapes}
    assert len(stamps) == 1
    assert value(fresh, "wapipe_queue_depth") == 3


# -- a real worker process -------------------------------------------------------------


def test_worker_process_serves_its_metrics(
    db_url: str,
    conn: psycopg.Connection[Any],
    server_tmp: Path,
    agent: FakeAgent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WHATSAPP_ACCESS_TOKEN", raising=False)  # replies are dry_run
    monkeypatch.setenv("WAPIPE_WORKER_METRICS_REFRESH_SECONDS", "0.3")
    fast_retries(conn, initial=0.1, max_attempts=2, cap=0.2)
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    port = free_port()
    worker = WorkerProcess(db_url, config, server_tmp, "--metrics-port", str(port))
    try:
        send_text(conn, "250788000201", "hello one")
        send_text(conn, "250788000202", "hello two")
        wait_for(
            lambda: (
                scalar(conn, "SELECT count(*) FROM wapipe.outbox WHERE status = 'dry_run'") == 2
            ),
            what="two dry-run replies",
        )
        agent.status = 500  # the next message fails twice: a retry, then the dead letters
        send_text(conn, "250788000203", "this one fails")
        wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.dead_letters") == 1, what="DLQ")

        def settled() -> Samples | None:
            try:
                samples = scrape(port)
            except httpx.HTTPError:
                return None
            if value(samples, "wapipe_dead_letters") != 1:
                return None
            if value(samples, "wapipe_sender_results_total", code="dry_run") != 2:
                return None
            return samples

        samples = wait_for(settled, what="metrics matching the database", timeout=30)
        assert worker.terminate() == 0
    finally:
        worker.close()
    assert value(samples, "wapipe_worker_messages_total", outcome="done") == 2
    assert value(samples, "wapipe_worker_messages_total", outcome="retry") == 1
    assert value(samples, "wapipe_worker_messages_total", outcome="dead") == 1
    assert value(samples, "wapipe_worker_handle_seconds_count") == 4
    endpoint = agent.url
    ok = value(
        samples,
        "wapipe_worker_agent_call_seconds_count",
        service="waiter",
        endpoint=endpoint,
        result="ok",
    )
    failed = value(
        samples,
        "wapipe_worker_agent_call_seconds_count",
        service="waiter",
        endpoint=endpoint,
        result="error",
    )
    assert (ok, failed) == (2, 2)
    assert value(samples, "wapipe_queue_depth") == 0
    assert value(samples, "wapipe_queue_oldest_age_seconds") == 0
    assert value(samples, "wapipe_breaker_state", service="whatsapp-graph") == 0
    assert value(samples, "wapipe_breaker_state", service="waiter") in (0, 1, 2)
    assert value(samples, "wapipe_worker_in_flight") == 0
    log = worker.log_path.read_text()
    assert "metrics_listening" in log
    assert "worker_stopped" in log

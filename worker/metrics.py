"""Prometheus metrics of `wapipe worker` (its own port: --metrics-port, WAPIPE_WORKER_METRICS_PORT).

The names are the contract of docs/OPERATIONS.md ("Metrics and dashboard") and
monitoring/grafana-dashboard.json. Counters and histograms are what this process
saw; the queue gauges (depth, oldest age, pending dead letters, breaker states)
are the database's numbers from `wapipe.system_health()`, read by one background
task every `refresh_seconds` - never once per scrape, so any number of scrapers
costs the database one query per interval per worker.

Each Worker gets its own registry (tests run several in one process).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIServer

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from wapipe import db, queries
from wapipe.errors import DatabaseRefusal, DatabaseUnavailable
from wapipe.log import get_logger

log = get_logger("worker.metrics")

_HANDLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
GAUGES_TIMEOUT_SECONDS = 5
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def send_result_code(outcome: str, error_code: int | None, http_status: int | None) -> str:
    """The `code` label of wapipe_sender_results_total: ok, dry_run, the Graph error code,
    http_<status> for an answer without one, else the outcome (unknown, retry, fail)."""
    if outcome == "sent":
        return "ok"
    if error_code is not None:
        return str(error_code)
    if http_status is not None:
        return f"http_{http_status}"
    return outcome


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "wapipe_worker_messages",
            "Messages this worker finished, by outcome (done: completed or answered by a "
            "fallback / rate-limit notice; retry: failed attempt, backing off; deferred: "
            "its service was unavailable, given back without spending an attempt; "
            "dead: dead-lettered)",
            ["outcome"],
            registry=r,
        )
        for outcome in ("done", "retry", "deferred", "dead"):
            self.messages.labels(outcome)
        self.handle_seconds = Histogram(
            "wapipe_worker_handle_seconds",
            "Claim to complete / retry / dead letter of one message",
            buckets=_HANDLE_BUCKETS,
            registry=r,
        )
        self.unfinished = Counter(
            "wapipe_worker_messages_unfinished",
            "Messages this worker left without an outcome (claim lost, database unreachable): "
            "their lease expires and another attempt takes them",
            ["reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "wapipe_worker_in_flight", "Messages this worker is handling now", registry=r
        )
        # counted by the handler as a plain int, read when scraped (a gauge's inc and dec
        # take a lock each, twice per message)
        self.handling = 0
        self.in_flight.set_function(lambda: self.handling)
        self.agent_call_seconds = Histogram(
            "wapipe_worker_agent_call_seconds",
            "Agent / service calls by service, endpoint and result (ok, error)",
            ["service", "endpoint", "result"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.breaker_transitions = Counter(
            "wapipe_worker_breaker_transitions",
            "Breaker state changes this worker observed (breaker_allow / breaker_record answers)",
            ["service", "state"],
            registry=r,
        )
        self.sender_results = Counter(
            "wapipe_sender_results",
            "Outbound sends per result: ok, dry_run, the Graph API error code, http_<status>, "
            "unknown (no answer)",
            ["code"],
            registry=r,
        )
        self.typing_indicators = Counter(
            "wapipe_typing_indicators",
            "Read receipt + typing indicator calls per outcome: sent, read_only (the reply was "
            "queued before the call left: marked read without the indicator), failed (Graph "
            "API error or network), timeout, paced (no token in the number's send bucket), "
            "breaker_open (whatsapp-graph not closed); best effort, never the message's fate",
            ["outcome"],
            registry=r,
        )
        for outcome in ("sent", "read_only", "failed", "timeout", "paced", "breaker_open"):
            self.typing_indicators.labels(outcome)
        self.media_fetches = Counter(
            "wapipe_media_fetches",
            "Media of inbound messages per outcome: stored (downloaded now), cached (stored "
            "before: a retry or another worker), oversize (described, not downloaded), gone "
            "(expired media id: dead letter), failed (retried with backoff), breaker_open",
            ["outcome"],
            registry=r,
        )
        for outcome in ("stored", "cached", "oversize", "gone", "failed", "breaker_open"):
            self.media_fetches.labels(outcome)
        self.media_bytes = Counter(
            "wapipe_media_bytes", "Bytes of media downloaded and stored", registry=r
        )
        self.media_fetch_seconds = Histogram(
            "wapipe_media_fetch_seconds",
            "Media id -> URL -> bytes -> stored, per download",
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "wapipe_queue_depth",
            "Unfinished inbound messages (queued + processing), from wapipe.system_health()",
            registry=r,
        )
        self.queue_oldest_age = Gauge(
            "wapipe_queue_oldest_age_seconds",
            "Age of the oldest unfinished inbound message (0 when none)",
            registry=r,
        )
        self.dead_letters = Gauge(
            "wapipe_dead_letters", "Pending (not replayed) dead letters", registry=r
        )
        self.breaker_state = Gauge(
            "wapipe_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open (effective, shared by workers)",
            ["service"],
            registry=r,
        )
        self.deferred = Gauge(
            "wapipe_deferred_messages",
            "Messages waiting for an unavailable service (breaker open, no healthy endpoint) "
            "without spending attempts, by service (wapipe.system_health())",
            ["service"],
            registry=r,
        )
        self._deferred_services: set[str] = set()
        self.gauges_refreshed = Gauge(
            "wapipe_worker_gauges_refreshed_timestamp_seconds",
            "When the queue / breaker gauges were last read from the database",
            registry=r,
        )
        self._breakers_seen: dict[str, str] = {}
        self._breaker_names: set[str] = set()
        # labelled children, looked up once (labels() takes a lock and builds a key)
        self._outcomes: dict[str, Any] = {}
        self._calls: dict[tuple[str, str, str], Any] = {}

    # -- instrumentation helpers --------------------------------------------------

    def message_finished(self, outcome: str, seconds: float) -> None:
        """One message handled to an outcome (done, retry, dead): counted and timed."""
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes[outcome] = self.messages.labels(outcome)
        child.inc()
        self.handle_seconds.observe(seconds)

    def agent_call(self, service: str, endpoint: str, result: str, seconds: float) -> None:
        key = (service, endpoint, result)
        child = self._calls.get(key)
        if child is None:
            child = self._calls[key] = self.agent_call_seconds.labels(service, endpoint, result)
        child.observe(seconds)

    def observe_breaker(self, service: str, state: str) -> None:
        """Count a transition when `state` differs from what this worker last saw."""
        previous = self._breakers_seen.get(service)
        self._breakers_seen[service] = state
        if previous is not None and previous != state:
            self.breaker_transitions.labels(service, state).inc()

    def known_breakers(self, names: Iterable[str]) -> None:
        """Breakers whose gauge is published even while closed (0)."""
        self._breaker_names.update(names)

    def set_queue_gauges(
        self,
        depth: int,
        oldest_age_seconds: float | None,
        dead_letters: int,
        breakers_open: Iterable[str],
        breakers_half_open: Iterable[str],
        now: dt.datetime | None = None,
        deferred: Mapping[str, int] | None = None,
    ) -> None:
        self.queue_depth.set(depth)
        self.queue_oldest_age.set(max(oldest_age_seconds or 0.0, 0.0))
        self.dead_letters.set(dead_letters)
        states = {name: "half_open" for name in breakers_half_open}
        states.update({name: "open" for name in breakers_open})
        self._breaker_names.update(states)
        for name in self._breaker_names:
            self.breaker_state.labels(name).set(BREAKER_STATE_VALUES[states.get(name, "closed")])
        deferred = deferred or {}
        self._deferred_services.update(deferred)
        for name in self._deferred_services:  # a service no longer waited for shows 0
            self.deferred.labels(name).set(int(deferred.get(name, 0)))
        self.gauges_refreshed.set((now or dt.datetime.now(dt.UTC)).timestamp())

    # -- the cached database read -------------------------------------------------

    async def refresh_gauges(self, pool: db.ConnectionSource) -> bool:
        """One read of system_health() into the gauges; False (logged) when it failed."""
        try:
            rows = await db.call(
                pool,
                queries.SYSTEM_HEALTH__GAUGES,
                retry=db.ONCE,
                deadline=time.monotonic() + GAUGES_TIMEOUT_SECONDS,
            )
        except (DatabaseUnavailable, DatabaseRefusal, psycopg.Error) as exc:
            log.warning("metrics_refresh_failed", error=db.reason(exc))
            return False
        row = rows[0] if rows else None
        if row is None:
            return False
        depth, age, dead, open_names, half_open, deferred = row
        self.set_queue_gauges(
            int(depth), age, int(dead), open_names, half_open, deferred=dict(deferred or {})
        )
        return True

    async def refresh_loop(self, pool: db.ConnectionSource, interval_seconds: float) -> None:
        while True:
            await self.refresh_gauges(pool)
            await asyncio.sleep(interval_seconds)


class MetricsServer:
    """prometheus_client's HTTP server in a thread, stopped with the worker."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @classmethod
    def start(cls, metrics: WorkerMetrics, host: str, port: int) -> MetricsServer | None:
        """Serve GET /metrics; None (logged) when the port cannot be bound: the worker
        still works, it only has no metrics endpoint."""
        try:
            server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            log.error("metrics_port_unavailable", host=host, port=port, error=exc.strerror)
            return None
        log.info("metrics_listening", host=host, port=int(server.server_port))
        return cls(server, thread)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

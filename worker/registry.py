"""Service registry: where each agent/service lives, whether it is healthy, how to call it.

Each service (from WAPIPE_CONFIG) has a kind (timeout class and breaker policy,
pushed with breaker_configure), one or more endpoints, a health path and a
fallback. Health is known two ways: active checks (GET health_path every
health_interval_seconds per endpoint, recorded with record_endpoint_health) and
passively (a connection failure marks the endpoint down at once; the shared
circuit breaker counts every call's outcome for all worker processes). A call
goes to a healthy endpoint chosen by power of two choices on in-flight requests.

A call that cannot reach the service (breaker open, no healthy endpoint, every
endpoint refusing the connection) raises ServiceUnavailable with `available_at`
in its context: when it is worth trying again (the next health check; None for an
open breaker, whose next trial the database knows). The handler defers the message
until then without spending an attempt (wapipe.defer_message).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from wapipe.log import get_logger
from worker.agents import in_process_agent
from worker.config import ServiceConfig, WorkerConfig
from worker.errors import AgentError, ServiceUnavailable, StoreUnavailable
from worker.metrics import WorkerMetrics
from worker.store import Store
from worker.success_batch import SuccessBatch

T = TypeVar("T")
log = get_logger("worker.registry")

HEALTH_CHECK_TIMEOUT_SECONDS = 5.0
# When every endpoint of a service is marked down, a call re-checks them at once
# (at most this often) instead of waiting for the next periodic round: an agent
# that started after the worker, or came back, is used within a second or two.
ON_DEMAND_RECHECK_SECONDS = 2.0
# While an endpoint is down it is checked this often rather than every
# health_interval_seconds: a short outage drains within seconds of its end (messages
# waiting for the service come back at the next check), for one GET every few
# seconds to an endpoint that is down anyway.
DOWN_RECHECK_SECONDS = 5.0


@dataclass
class Endpoint:
    url: str
    healthy: bool = True
    in_flight: int = 0


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.endpoints = [Endpoint(url) for url in config.endpoints]
        self.rechecked_at = float("-inf")  # monotonic time of the last on-demand re-check
        self.checked_at = time.monotonic()  # monotonic time of the last health check

    @property
    def name(self) -> str:
        return self.config.name

    def choose(self, exclude: set[str] | None = None) -> Endpoint:
        """Power of two choices among healthy endpoints: the one with fewer calls in flight."""
        excluded = exclude or ()
        healthy = [e for e in self.endpoints if e.healthy and e.url not in excluded]
        if not healthy:
            raise ServiceUnavailable(
                f"{self.name}: no healthy endpoint", code="no_healthy_endpoint"
            )
        if len(healthy) == 1:
            return healthy[0]
        a, b = random.sample(healthy, 2)
        return a if a.in_flight <= b.in_flight else b


class ServiceRegistry:
    def __init__(
        self,
        config: WorkerConfig,
        store: Store,
        client: httpx.AsyncClient,
        checked_by: str,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or WorkerMetrics()
        self.store = store
        self.client = client
        self.checked_by = checked_by
        self.services = {s.name: Service(s) for s in config.services}
        for svc in config.services:  # an in-process agent that cannot load stops the start
            if svc.in_process:
                in_process_agent(svc.endpoints[0])
        self.metrics.known_breakers(self.services)
        # successes while closed, recorded in batches (worker.success_batch)
        self._successes = SuccessBatch(self._record_successes)

    def service(self, name: str) -> Service:
        return self.services[name]

    def next_health_check_at(self, name: str) -> dt.datetime:
        """When this worker next checks the service's endpoints (wall clock).

        The periodic round comes health_interval_seconds after the last check; a call
        re-checks on demand, at most every ON_DEMAND_RECHECK_SECONDS, so never sooner
        than that. A check that finds an endpoint healthy again also wakes the deferred
        messages at once (record_endpoint_health), whichever worker makes it.
        """
        svc = self.services[name]
        since = time.monotonic() - svc.checked_at
        wait = max(self._check_interval() - since, ON_DEMAND_RECHECK_SECONDS)
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)

    def _unavailable(self, name: str, message: str, code: str) -> ServiceUnavailable:
        """ServiceUnavailable for a call that reached no endpoint, with when to try again."""
        available_at = None if code == "breaker_open" else self.next_health_check_at(name)
        return ServiceUnavailable(
            message, code=code, context={"service": name, "available_at": available_at}
        )

    async def configure_breakers(self) -> None:
        for svc in self.services.values():
            p = svc.config.breaker
            await self.store.breaker_configure(
                svc.name,
                svc.config.kind,
                failure_rate=p.failure_rate,
                open_seconds=p.open_seconds,
                window_seconds=p.window_seconds,
                min_calls=p.min_calls,
                half_open_calls=p.half_open_calls,
            )

    async def call(
        self, name: str, fn: Callable[[str], Awaitable[T]], *, breaker_closed: bool = False
    ) -> T:
        """fn(endpoint_url) under the service's shared breaker, on a healthy endpoint.

        ServiceUnavailable (breaker open, nothing healthy) lets the caller apply the
        fallback; AgentError is a failed call, already counted by the breaker.
        breaker_closed: the caller read the breaker as closed moments ago
        (message_contexts), so breaker_allow, whose closed answer is that same read,
        is not asked again; open and half-open always go through breaker_allow.
        """
        svc = self.services[name]
        if not any(e.healthy for e in svc.endpoints):
            now = time.monotonic()
            if now - svc.rechecked_at >= ON_DEMAND_RECHECK_SECONDS:
                svc.rechecked_at = now
                await asyncio.gather(*(self._check(svc, ep) for ep in svc.endpoints))
        state = "closed" if breaker_closed else await self.store.breaker_allow(name)
        self.metrics.observe_breaker(name, state)
        if state == "open":
            raise self._unavailable(name, f"{name}: circuit breaker open", "breaker_open")
        tried: set[str] = set()
        while True:
            try:
                endpoint = svc.choose(exclude=tried)
            except ServiceUnavailable as exc:
                raise self._unavailable(name, str(exc), exc.code) from None
            tried.add(endpoint.url)
            endpoint.in_flight += 1
            started = time.monotonic()
            try:
                result = await fn(endpoint.url)
            except AgentError as exc:
                took = int((time.monotonic() - started) * 1000)
                self._observe_call(name, endpoint.url, "error", started)
                await self._record(name, False, took, endpoint.url, exc.stored_text())
                if exc.code in ("agent_unreachable", "agent_http_503"):
                    # passive detection: nothing was sent, or the endpoint refused the work
                    # (503: not processed), so another endpoint may take it. Without it a
                    # worker whose periodic health check is not due spends every attempt
                    # within seconds while the shared breaker's window is full of successes.
                    endpoint.healthy = False
                    if any(e.healthy and e.url not in tried for e in svc.endpoints):
                        continue
                    # no endpoint took the work: the message waits, its attempt unspent
                    raise self._unavailable(
                        name, f"{name}: no endpoint available ({exc})", "no_healthy_endpoint"
                    ) from exc
                raise
            except asyncio.CancelledError:
                # shutdown or lost claim: not the service's fault, nothing recorded;
                # a half-open trial slot is freed by breaker_allow after open_seconds
                raise
            finally:
                endpoint.in_flight -= 1
            took = int((time.monotonic() - started) * 1000)
            self._observe_call(name, endpoint.url, "ok", started)
            if state == "closed":
                self._successes.add(name, endpoint.url, took)
            else:  # a half-open trial: its success may close the breaker now
                await self._record(name, True, took, endpoint.url, None)
            return result

    async def close(self) -> None:
        """Record the successes still waiting for their flush, now; no flush comes later."""
        await self._successes.aclose()

    async def _record_successes(self, name: str, endpoint: str, durations: list[int]) -> None:
        try:
            await self.store.breaker_record_successes(name, endpoint, durations)
        except StoreUnavailable:
            log.warning("breaker_record_failed", service=name, calls=len(durations))

    def _observe_call(self, name: str, endpoint: str, result: str, started: float) -> None:
        self.metrics.agent_call(name, endpoint, result, time.monotonic() - started)

    async def _record(
        self, name: str, ok: bool, took_ms: int, endpoint: str, error: str | None
    ) -> None:
        if not ok:
            await self._successes.before_failure(name)
        try:
            state = await self.store.breaker_record(name, ok, took_ms, endpoint, error)
        except StoreUnavailable:
            log.warning("breaker_record_failed", service=name)
            return
        self.metrics.observe_breaker(name, state)

    async def check_all(self) -> None:
        """One active health check of every endpoint, recorded in service_endpoints."""
        checks = [self._check(svc, ep) for svc in self.services.values() for ep in svc.endpoints]
        await asyncio.gather(*checks)

    async def _check(self, svc: Service, endpoint: Endpoint) -> None:
        if svc.config.in_process:
            # it runs in this process: up while the worker is; the breaker sees its failures
            healthy, error = True, None
        else:
            healthy, error = await self._get_health(svc, endpoint)
        svc.checked_at = time.monotonic()
        if healthy != endpoint.healthy:
            log.info(
                "endpoint_health_changed",
                service=svc.name,
                endpoint=endpoint.url,
                healthy=healthy,
                error=error,
            )
        endpoint.healthy = healthy
        with contextlib.suppress(StoreUnavailable):  # the next round records it
            await self.store.record_endpoint_health(
                svc.name, endpoint.url, healthy, error, self.checked_by
            )

    async def _get_health(self, svc: Service, endpoint: Endpoint) -> tuple[bool, str | None]:
        """GET the endpoint's health path: (healthy, why not)."""
        try:
            response = await self.client.get(
                endpoint.url + svc.config.health_path, timeout=HEALTH_CHECK_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            return False, type(exc).__name__
        if response.status_code < 300:
            return True, None
        return False, f"HTTP {response.status_code}"

    def _any_down(self) -> bool:
        return any(
            not e.healthy
            for svc in self.services.values()
            if not svc.config.in_process
            for e in svc.endpoints
        )

    def _check_interval(self, interval_seconds: float | None = None) -> float:
        interval = (
            self.config.health_interval_seconds if interval_seconds is None else interval_seconds
        )
        return min(interval, DOWN_RECHECK_SECONDS) if self._any_down() else interval

    async def health_loop(self, interval_seconds: float) -> None:
        """Check every endpoint every interval_seconds, and every DOWN_RECHECK_SECONDS
        while one is down (also one a call has just marked down)."""
        step = min(1.0, interval_seconds, DOWN_RECHECK_SECONDS)
        while True:
            await self.check_all()
            checked = time.monotonic()
            while time.monotonic() - checked < self._check_interval(interval_seconds):
                await asyncio.sleep(step)

"""The shared breaker judges a failure with every call that came before it.

Successes while the breaker is closed are recorded in batches, at most a second late
(worker.success_batch, used by the agent registry and the typing indicator). A failure
records its breaker's waiting successes first: a burst of failures just after a second
of successes is judged against a window that holds them. Before, the failures could
reach the database first, see a window without the successes (100 % failures) and open
the breaker for every worker (found by a fresh-clone run of
tests/faults/test_agent_503_defers.py, whose drain then waited out the agent breaker's
120 s).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import psycopg

from worker.config import ServiceConfig, TypingConfig, WorkerConfig
from worker.errors import AgentError
from worker.graph import Outcome, SendResult
from worker.registry import ServiceRegistry
from worker.store import Store
from worker.typing_indicator import BREAKER_NAME, TypingIndicator

SERVICE = "flushed"


def _registry(store: Store, client: httpx.AsyncClient) -> ServiceRegistry:
    config = WorkerConfig(
        services=(ServiceConfig(name=SERVICE, endpoints=("http://127.0.0.1:9",)),),
        default_agent=SERVICE,
        health_interval_seconds=30.0,
    )
    return ServiceRegistry(config, store=store, client=client, checked_by="t")


async def _ok(_url: str) -> str:
    return "ok"


async def _times_out(_url: str) -> str:
    # a failed call that leaves the endpoint healthy (not unreachable, not a 503)
    raise AgentError("no answer in time", code="agent_timeout")


async def _calls(url: str, successes: int, failures: int) -> list[str]:
    """successes then failures through the registry, closed breaker as read by the
    claim; returns the breaker's state after each failure as the database saw it."""
    store = Store(url, min_size=1, max_size=2, name="test")
    await store.open()
    states: list[str] = []
    try:
        async with httpx.AsyncClient() as client:
            registry = _registry(store, client)
            await registry.configure_breakers()
            for _ in range(successes):
                await registry.call(SERVICE, _ok, breaker_closed=True)
            for _ in range(failures):
                with contextlib.suppress(AgentError):
                    await registry.call(SERVICE, _times_out, breaker_closed=True)
                states.append(await store.breaker_allow(SERVICE))
            await registry.close()
    finally:
        await store.close()
    return states


def test_failures_after_a_second_of_successes_do_not_open_the_breaker(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    # agent kind: opens at 60 % failures once 10 calls are in the window; 20 successes
    # and 12 failures are 37.5 % (without the successes, 12 failures are 100 %)
    states = asyncio.run(_calls(db_url, successes=20, failures=12))
    assert states == ["closed"] * 12
    row = conn.execute(
        "SELECT sum(calls), sum(failures) FROM wapipe.breaker_buckets WHERE name = %s",
        (SERVICE,),
    ).fetchone()
    assert row == (32, 12)


def test_failures_alone_still_open_it(db_url: str) -> None:
    states = asyncio.run(_calls(db_url, successes=0, failures=12))
    assert states[-1] == "open"
    assert "closed" in states  # below min_calls it stays closed


async def _typing_calls(url: str, successes: int, failures: int) -> list[str]:
    """Typing indicator calls' outcomes as the worker records them (sent, then Graph API
    5xx); the shared Graph API breaker's state after each failure."""
    store = Store(url, min_size=1, max_size=2, name="test")
    await store.open()
    typing = TypingIndicator(calls=None, pool=store.pool, config=TypingConfig())
    states: list[str] = []
    try:
        for _ in range(successes):
            await typing._record(SendResult(Outcome.SENT, 40))
        for _ in range(failures):
            await typing._record(SendResult(Outcome.RETRY, 40, http_status=503))
            states.append(await store.breaker_allow(BREAKER_NAME))
    finally:
        await typing.aclose()  # closes the pool it was given
    return states


def test_typing_failures_after_a_second_of_sends_do_not_open_the_graph_breaker(
    db_url: str,
) -> None:
    # the Graph API breaker (standard kind): 50 % once 10 calls are in the window
    assert asyncio.run(_typing_calls(db_url, successes=20, failures=12)) == ["closed"] * 12


def test_typing_failures_alone_still_open_it(db_url: str) -> None:
    assert asyncio.run(_typing_calls(db_url, successes=0, failures=12))[-1] == "open"

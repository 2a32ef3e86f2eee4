"""Unit (no database): an endpoint that is down is checked again within seconds, not at the
next 30 s round, so messages waiting for the service come back soon after an outage ends."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import httpx

from worker.config import ServiceConfig, WorkerConfig
from worker.registry import DOWN_RECHECK_SECONDS, ServiceRegistry


def registry() -> ServiceRegistry:
    config = WorkerConfig(
        services=(ServiceConfig(name="waiter", endpoints=("http://127.0.0.1:9",)),),
        default_agent="waiter",
        health_interval_seconds=30.0,
    )
    return ServiceRegistry(config, store=object(), client=httpx.AsyncClient(), checked_by="t")  # type: ignore[arg-type]


def test_next_check_comes_sooner_while_an_endpoint_is_down() -> None:
    reg = registry()
    now = dt.datetime.now(dt.UTC)
    assert reg.next_health_check_at("waiter") - now > dt.timedelta(seconds=20)
    reg.service("waiter").endpoints[0].healthy = False
    assert reg.next_health_check_at("waiter") - now <= dt.timedelta(
        seconds=DOWN_RECHECK_SECONDS + 1
    )


def test_health_loop_rechecks_a_down_endpoint_every_few_seconds() -> None:
    reg = registry()
    rounds: list[float] = []

    async def check_all(*_args: Any) -> None:
        rounds.append(asyncio.get_running_loop().time())
        reg.service("waiter").endpoints[0].healthy = False  # still down

    reg.check_all = check_all  # type: ignore[method-assign]

    async def scenario() -> None:
        loop_task = asyncio.create_task(reg.health_loop(30.0))
        try:
            # wait for three rounds (not for a duration a loaded machine could outrun) ...
            deadline = asyncio.get_running_loop().time() + 90
            while len(rounds) < 3 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            loop_task.cancel()
            await asyncio.gather(loop_task, return_exceptions=True)
            await reg.client.aclose()

    asyncio.run(scenario())
    assert len(rounds) >= 3, rounds
    # ... then judge their spacing: about DOWN_RECHECK_SECONDS apart, where the 30 s interval
    # alone would space them 30 s apart (the margin is for a loaded machine's late timers)
    gaps = [later - earlier for earlier, later in itertools.pairwise(rounds)]
    assert all(gap < DOWN_RECHECK_SECONDS + 15 for gap in gaps), gaps

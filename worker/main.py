"""Entry points of `wapipe worker` and `wapipe demo-agent`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from wapipe.db import connect
from wapipe.log import configure_logging
from wapipe.settings import database_url
from worker.config import DEMO_AGENT_PORT, load_config
from worker.metrics import metrics_port_from_env, refresh_seconds_from_env
from worker.runner import Worker

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed (uvicorn[standard] brings it).

    The worker's own time per message is mostly event-loop work (tasks, futures,
    socket readiness for the pool and the agents): uvloop does that in C.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed with uvicorn[standard]
        return asyncio.run(main)
    return uvloop.run(main)


def run_worker(
    concurrency: int | None = None,
    batch: int | None = None,
    lock_seconds: int | None = None,
    grace_seconds: float | None = None,
    sender: bool = True,
    metrics_port: int | None = None,
) -> int:
    configure_logging("worker")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per agent call is noise
    config = load_config()
    config = dataclasses.replace(
        config,
        concurrency=concurrency or config.concurrency,
        batch=batch or config.batch,
        lock_seconds=lock_seconds or config.lock_seconds,
        grace_seconds=config.grace_seconds if grace_seconds is None else grace_seconds,
    )
    url = database_url()
    with connect(url):  # fail fast, one line, when the database is not there at all
        pass

    async def main() -> None:
        worker = Worker(
            config,
            url,
            sender=sender,
            metrics_port=metrics_port_from_env() if metrics_port is None else metrics_port,
            metrics_refresh_seconds=refresh_seconds_from_env(),
        )
        worker.install_signal_handlers()
        await worker.run()

    run_async(main())
    return 0


def run_demo_agent(
    host: str = "127.0.0.1", port: int | None = None, think_seconds: float = 0.0
) -> int:
    import uvicorn

    from worker import demo_agent

    demo_agent.THINK_SECONDS = think_seconds  # the app below is this module's, in-process
    configure_logging("demo-agent")
    uvicorn.run(
        "worker.demo_agent:app",
        host=host,
        port=port or DEMO_AGENT_PORT,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return 0

"""Entry points of `wapipe worker` and `wapipe demo-agent`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from wapipe.db import connect
from wapipe.log import configure_logging
from wapipe.settings import Settings, load_settings
from worker.config import load_config
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
    settings: Settings | None = None,
) -> int:
    settings = settings or load_settings()
    configure_logging("worker", settings.log)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per agent call is noise
    config = load_config(settings.config_path, demo_agent_url=settings.worker.demo_agent_url)
    config = dataclasses.replace(
        config,
        concurrency=concurrency or config.concurrency,
        batch=batch or config.batch,
        lock_seconds=lock_seconds or config.lock_seconds,
        grace_seconds=config.grace_seconds if grace_seconds is None else grace_seconds,
    )
    url = settings.database_url
    with connect(url):  # fail fast, one line, when the database is not there at all
        pass

    async def main() -> None:
        worker = Worker(
            config,
            url,
            sender=sender,
            metrics_port=settings.worker.metrics_port if metrics_port is None else metrics_port,
            metrics_refresh_seconds=settings.worker.metrics_refresh_seconds,
            settings=settings,
        )
        worker.install_signal_handlers()
        await worker.run()

    run_async(main())
    return 0


def run_demo_agent(
    host: str = "127.0.0.1",
    port: int | None = None,
    think_seconds: float = 0.0,
    settings: Settings | None = None,
) -> int:
    import uvicorn

    from worker import demo_agent

    demo_agent.THINK_SECONDS = think_seconds  # the app below is this module's, in-process
    settings = settings or load_settings()
    configure_logging("demo-agent", settings.log)
    uvicorn.run(
        "worker.demo_agent:app",
        host=host,
        port=port or settings.worker.demo_agent_port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return 0

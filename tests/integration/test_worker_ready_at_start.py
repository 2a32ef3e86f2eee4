"""Issue 16, the typing indicator at a cold start: a worker is ready when it says it is.

A worker registers in wapipe.workers (what operators, deploy scripts and benches wait
for) only once its pools' connections are open and warmed - each new connection
rehearses its first calls in a transaction rolled back (a claim; two typing
admissions) - and its LISTEN connection listens. The rehearsals keep nothing: no token
spent, no bucket row, no claim, no request to the Graph API. And the typing call of a
turn leaves before its agent is called, not after the batch's agents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.fakes import MIN_WAIT_SECONDS, ingest, scalar
from tests.fakes.graph_api import FakeGraphApi
from tests.payloads import text_message
from wapipe import db, queries
from worker.agents import AgentRequest
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig, WorkerConfig
from worker.runner import Worker
from worker.store import ClaimedMessage

# wamids whose typing task had started when the agent was called for them
TYPING_STARTED: set[str] = set()
AGENT_SAW_TYPING: list[bool] = []


async def agent_checking_typing(request: AgentRequest) -> dict[str, Any]:
    """An in-process agent that answers at once (no await before it records)."""
    AGENT_SAW_TYPING.append(request.message["id"] in TYPING_STARTED)
    return {"reply": "ok"}


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraphApi]:
    fake = FakeGraphApi().start()
    monkeypatch.setenv("WHATSAPP_API_URL", fake.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "test-token")
    monkeypatch.setenv("WAPIPE_SEND_RATE_PER_SECOND", "1000")
    TYPING_STARTED.clear()
    AGENT_SAW_TYPING.clear()
    yield fake
    fake.stop()


def _config() -> WorkerConfig:
    agent = "tests.integration.test_worker_ready_at_start:agent_checking_typing"
    return WorkerConfig(
        services=(
            ServiceConfig(
                name="rec", protocol="python", endpoints=(f"{PYTHON_ENDPOINT_PREFIX}{agent}",)
            ),
        ),
        default_agent="rec",
        concurrency=4,
        batch=4,
        poll_interval_seconds=0.2,
    )


async def _until(check: Callable[[], Any], timeout: float = MIN_WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    return check()


def _with_worker(worker: Worker, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        task = asyncio.create_task(worker.run())
        try:
            await body()
        finally:
            worker.request_stop()
            await task

    asyncio.run(main())


def test_registered_only_once_its_connections_are_open_warmed_and_listening(
    db_url: str,
    conn: psycopg.Connection[Any],
    graph: FakeGraphApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rehearsed: list[tuple[str, str | None]] = []  # (what, refusal) in the order they ran
    real_rehearse = db.rehearse

    async def rehearse(c: psycopg.AsyncConnection[Any], statements: Any) -> str | None:
        refused = await real_rehearse(c, statements)
        what = "claim" if statements[0][0] == queries.CLAIM_MESSAGES else "admit"
        rehearsed.append((what, refused))
        return refused

    monkeypatch.setattr(db, "rehearse", rehearse)
    worker = Worker(_config(), db_url, health_checks=False)
    assert worker.typing.pool is not None, "typing on (a Graph API URL is set)"
    at_registration: dict[str, Any] = {}
    register = worker.store.register_worker

    async def spy(*args: Any) -> None:
        assert worker.typing.pool is not None
        at_registration.update(
            store=worker.store.pool.get_stats()["pool_size"],
            typing=worker.typing.pool.get_stats()["pool_size"],
            rehearsed=list(rehearsed),
            listening=worker.listening,
        )
        await register(*args)

    monkeypatch.setattr(worker.store, "register_worker", spy)

    async def body() -> None:
        assert await _until(lambda: scalar(conn, "SELECT count(*) FROM wapipe.workers") == 1)
        before = len(rehearsed)
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as new:
            await worker._warm_connection(new)  # a connection the pool opens once registered
        assert len(rehearsed) == before, "no claim rehearsed once the worker may claim"

    _with_worker(worker, body)
    assert at_registration["listening"], "LISTEN before the registration"
    assert at_registration["store"] >= worker.store.pool.min_size == 2
    assert at_registration["typing"] == 2, "both typing connections open"
    claims = [r for w, r in at_registration["rehearsed"] if w == "claim"]
    admits = [r for w, r in at_registration["rehearsed"] if w == "admit"]
    assert len(claims) >= 2, "each store connection rehearsed a claim before it was used"
    assert len(admits) == 2, "each typing connection rehearsed the admission"
    assert set(claims) | set(admits) == {None}, "no rehearsal refused"
    assert graph.requests == [] and graph.read_calls() == [], "no request to Graph at start"


def test_the_rehearsals_keep_nothing(
    db_url: str,
    conn: psycopg.Connection[Any],
    graph: FakeGraphApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued = text_message("250788000101", "queued before the worker started")
    ingest(conn, [queued])
    worker = Worker(_config(), db_url, health_checks=False)
    seen: dict[str, Any] = {}
    register = worker.store.register_worker
    attempts = "SELECT attempts FROM wapipe.processed_messages WHERE wamid = %s"

    async def spy(*args: Any) -> None:
        def look() -> None:
            seen["buckets"] = scalar(conn, "SELECT count(*) FROM wapipe.rate_limit_buckets")
            seen["attempts"] = scalar(conn, attempts, queued["id"])

        await asyncio.to_thread(look)
        await register(*args)

    monkeypatch.setattr(worker.store, "register_worker", spy)

    async def body() -> None:
        done = "SELECT status FROM wapipe.processed_messages WHERE wamid = %s"
        assert await _until(lambda: scalar(conn, done, queued["id"]) == "done"), "not handled"

    _with_worker(worker, body)
    assert seen["buckets"] == 0, "no token taken, no bucket row kept by the warm-up"
    assert seen["attempts"] == 0, "the rehearsed claim was rolled back"
    assert scalar(conn, attempts, queued["id"]) == 1, "handled on its first attempt"
    warm_up_buckets = "SELECT count(*) FROM wapipe.rate_limit_buckets WHERE key LIKE %s"
    assert scalar(conn, warm_up_buckets, "%warm-up%") == 0


def test_the_typing_call_leaves_before_the_agent_is_called(
    db_url: str,
    conn: psycopg.Connection[Any],
    graph: FakeGraphApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = [text_message(f"25078800020{i}", f"hello {i}") for i in range(4)]
    worker = Worker(_config(), db_url, health_checks=False)
    real_show = worker.typing.show

    async def show(msg: ClaimedMessage, typing: bool = True) -> str:
        TYPING_STARTED.add(msg.wamid)
        return await real_show(msg, typing)

    monkeypatch.setattr(worker.typing, "show", show)

    async def body() -> None:
        assert await _until(lambda: scalar(conn, "SELECT count(*) FROM wapipe.workers") == 1)
        await asyncio.to_thread(ingest, conn, messages)  # one batch: claimed together
        assert await _until(lambda: len(AGENT_SAW_TYPING) == len(messages)), "not handled"
        assert await _until(lambda: not worker.typing._tasks), "a typing call still running"

    _with_worker(worker, body)
    assert all(AGENT_SAW_TYPING), "typing started before each agent call"
    assert len(AGENT_SAW_TYPING) == len(messages)
    assert {c.json["message_id"] for c in graph.read_calls()} == {m["id"] for m in messages}

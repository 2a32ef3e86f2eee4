"""Unit (no database): an in-process (`python`) agent call. An agent that answers without
waiting runs to its end at once, with no timer; one that waits is under the service's
timeout from the call's start, and cancellation, exceptions and results pass through
the resumed coroutine as they would through a plain await."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from worker.agents import AgentRequest, call_agent
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig
from worker.errors import AgentError

EVENTS: list[str] = []
RELEASE: asyncio.Event | None = None


async def at_once(request: AgentRequest) -> dict[str, Any]:
    EVENTS.append("ran")
    return {"reply": f"at once: {request.text}"}


async def waits_then_answers(request: AgentRequest) -> dict[str, Any]:
    EVENTS.append("before")
    await asyncio.sleep(0)
    assert RELEASE is not None
    await RELEASE.wait()
    EVENTS.append("after")
    return {"reply": "waited"}


async def never_answers(request: AgentRequest) -> dict[str, Any]:
    EVENTS.append("waiting")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        EVENTS.append("cancelled")
        raise
    finally:
        EVENTS.append("cleaned up")
    return {"reply": "never"}


async def fails_after_a_wait(request: AgentRequest) -> dict[str, Any]:
    await asyncio.sleep(0)
    raise ValueError("the agent's own bug")


def _service(function: str, timeout_seconds: float = 60.0) -> ServiceConfig:
    return ServiceConfig(
        name="inproc",
        protocol="python",
        endpoints=(f"{PYTHON_ENDPOINT_PREFIX}{__name__}:{function}",),
        timeout_seconds=timeout_seconds,
    )


def _request(text: str = "hi") -> AgentRequest:
    return AgentRequest(
        agent="inproc", user="u1", message={}, text=text, history=[], context={},
        correlation_id="c1",
    )  # fmt: skip


async def _call(function: str, timeout_seconds: float = 60.0) -> Any:
    service = _service(function, timeout_seconds)
    return await call_agent(None, service, service.endpoints[0], _request())  # type: ignore[arg-type]


def setup_function() -> None:
    EVENTS.clear()


def test_an_agent_that_does_not_wait_is_answered_without_a_timer() -> None:
    async def scenario() -> tuple[Any, list[float]]:
        loop = asyncio.get_running_loop()
        timers: list[float] = []
        call_at = loop.call_at

        def counted_call_at(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            timers.append(when)
            return call_at(when, *args, **kwargs)

        loop.call_at = counted_call_at  # type: ignore[method-assign]
        return await _call("at_once"), timers

    reply, timers = asyncio.run(scenario())
    assert reply.messages == [{"type": "text", "text": {"body": "at once: hi"}}]
    assert EVENTS == ["ran"]
    assert timers == []


def test_an_agent_that_waits_is_resumed_until_it_answers() -> None:
    async def scenario() -> Any:
        global RELEASE
        RELEASE = asyncio.Event()
        call = asyncio.create_task(_call("waits_then_answers"))
        while EVENTS != ["before"]:
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not call.done()  # still waiting for RELEASE
        RELEASE.set()
        return await call

    reply = asyncio.run(scenario())
    assert reply.messages == [{"type": "text", "text": {"body": "waited"}}]
    assert EVENTS == ["before", "after"]


def test_an_agent_that_waits_too_long_times_out_and_is_cancelled() -> None:
    with pytest.raises(AgentError) as caught:
        asyncio.run(_call("never_answers", timeout_seconds=0.05))
    assert caught.value.code == "agent_timeout"
    assert EVENTS == ["waiting", "cancelled", "cleaned up"]


def test_the_agent_is_cancelled_with_the_calling_task() -> None:
    async def scenario() -> bool:
        call = asyncio.create_task(_call("never_answers"))
        while EVENTS != ["waiting"]:
            await asyncio.sleep(0)
        call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(scenario())
    assert EVENTS == ["waiting", "cancelled", "cleaned up"]


def test_an_error_after_a_wait_is_the_agents_failure() -> None:
    with pytest.raises(AgentError) as caught:
        asyncio.run(_call("fails_after_a_wait"))
    assert caught.value.code == "agent_exception"
    assert "ValueError" in str(caught.value)

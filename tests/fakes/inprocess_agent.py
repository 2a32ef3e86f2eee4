"""In-process agents for the `python` protocol tests: imported by the worker subprocess."""

from __future__ import annotations

import asyncio
from typing import Any

from worker.agents import AgentRequest


async def echo(request: AgentRequest) -> dict[str, Any]:
    """Echo the text; count turns in the memory context (it sees its history)."""
    return {
        "reply": f"in-process: {request.text}",
        "context": {"turns": len(request.history) // 2 + 1},
    }


def plain(request: AgentRequest) -> str:
    """A plain (not async) function answering just the reply text."""
    return f"plain: {request.text}"


async def boom(request: AgentRequest) -> dict[str, Any]:
    raise RuntimeError("the agent's own bug")


async def slow(request: AgentRequest) -> dict[str, Any]:
    await asyncio.sleep(30)
    return {"reply": "too late"}


not_callable = 42


async def nap(request: AgentRequest) -> dict[str, Any]:
    """A second's thought, then an answer: keeps a worker's slots busy for a while."""
    await asyncio.sleep(1.0)
    return {"reply": "rested"}


# Set (inside its event loop) by a test that runs the worker in-process: `held` waits for it.
RELEASE: asyncio.Event | None = None


async def held(request: AgentRequest) -> dict[str, Any]:
    """Answers once the test sets RELEASE: keeps slots busy exactly as long as a test needs."""
    assert RELEASE is not None, "set inprocess_agent.RELEASE = asyncio.Event() first"
    await RELEASE.wait()
    return {"reply": "released"}


# Users whose messages `recorder` was asked about, in call order (in-process workers only).
CALLS: list[str] = []


async def recorder(request: AgentRequest) -> dict[str, Any]:
    """Note who asked, then answer at once."""
    CALLS.append(request.user)
    return {"reply": f"noted: {request.text}"}

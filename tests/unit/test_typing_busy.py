"""Unit (no database): a worker shows at most [typing] max_pending indicators at once;
past it a turn gets none ("busy") instead of queueing a call that would arrive late."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from worker.config import TypingConfig
from worker.metrics import WorkerMetrics
from worker.typing_indicator import TypingIndicator


def test_turns_past_max_pending_get_no_indicator() -> None:
    async def scenario() -> tuple[int, float]:
        metrics = WorkerMetrics()
        typing = TypingIndicator(
            calls=object(),  # type: ignore[arg-type]
            pool=object(),  # type: ignore[arg-type]
            config=TypingConfig(max_pending=2),
            metrics=metrics,
        )
        release = asyncio.Event()

        async def held_call(_msg: Any, _turn: Any) -> None:
            await release.wait()

        typing._run = held_call  # type: ignore[method-assign]
        msgs = [SimpleNamespace(msg_id=i) for i in range(5)]
        turns = [typing.turn(m) for m in msgs]  # type: ignore[arg-type]
        started = len(typing._tasks)
        busy = metrics.typing_indicators.labels("busy")._value.get()
        release.set()
        for t in turns:
            t.stop()
        await asyncio.gather(*typing._tasks)
        return started, busy

    started, busy = asyncio.run(scenario())
    assert started == 2
    assert busy == 3


def test_a_burst_is_marked_read_at_its_newest_message() -> None:
    from worker.store import TurnMessage
    from worker.typing_indicator import newest_wamid

    head = SimpleNamespace(wamid="wamid.head", burst=None)
    assert newest_wamid(head) == "wamid.head"  # type: ignore[arg-type]
    burst = tuple(TurnMessage(i, i, f"wamid.b{i}", {"text": {"body": "x"}}) for i in range(2))
    head = SimpleNamespace(wamid="wamid.head", burst=burst)
    assert newest_wamid(head) == "wamid.b1"  # type: ignore[arg-type]

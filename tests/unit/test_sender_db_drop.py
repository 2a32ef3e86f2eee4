"""Unit (no database): the database drops in the middle of a batch. The rows whose send
never started are given back as soon as it answers again (not left to wait out their
30 s lease); the row whose start was in flight is not (its outcome is unknown: giving
it back could send it twice)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from worker.graph import Outcome, SendResult
from worker.sender import OutboxRow, SenderConfig, SenderUnavailable, _Sender


def row(i: int) -> OutboxRow:
    return OutboxRow(
        id=i,
        phone_number_id="300100200300400",
        recipient="250788123456",
        body={"type": "text", "text": {"body": f"reply {i}"}},
        attempts=1,
        correlation_id=None,
        window_open=True,
        locked_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30),
    )


class Store:
    """Claims rows 1-4 once; the database drops during the start of row 2."""

    def __init__(self) -> None:
        self.claims = 0
        self.released: list[list[int]] = []
        self.sent: list[int] = []

    async def claim(self, worker_id: str, batch: int, lock_seconds: int) -> list[OutboxRow]:
        self.claims += 1
        return [row(i) for i in range(1, 5)] if self.claims == 1 else []

    async def start_send(self, outbox_id: int, worker_id: str, rate: int) -> int:
        if outbox_id == 2:
            raise SenderUnavailable("server closed the connection unexpectedly")
        return 0

    async def breaker_allow(self, name: str) -> str:
        return "closed"

    async def breaker_record(self, name: str, result: SendResult) -> str:
        return "closed"

    async def mark_sent(self, outbox_id: int, worker_id: str, wamid: str | None) -> None:
        self.sent.append(outbox_id)

    async def release(self, ids: list[int], worker_id: str, retry_after_seconds: int) -> int:
        self.released.append(list(ids))
        return len(ids)


class Graph:
    async def send(self, pnid: str, to: str, body: dict[str, Any], cb: str) -> SendResult:
        return SendResult(Outcome.SENT, 1, wamid=f"wamid.{cb}")


def test_unstarted_rows_of_a_dropped_batch_are_given_back_when_the_database_answers() -> None:
    store = Store()

    async def scenario() -> None:
        sender = _Sender(store, Graph(), SenderConfig(), asyncio.Event(), "w1")  # type: ignore[arg-type]
        try:
            await sender.cycle()
        except SenderUnavailable:
            pass
        else:
            raise AssertionError("the drop did not reach the loop")
        await sender.cycle()  # the database answers again

    asyncio.run(scenario())
    assert store.sent == [1]
    assert store.released == [[3, 4]]  # not 2: its start may have committed

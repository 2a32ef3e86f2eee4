"""asyncio helpers the worker's loops share."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, for at most `seconds`; True when it was set.

    asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for loses a
    cancellation that arrives while the event is being set (it returns the result
    instead of raising), and a loop around it then never ends — a cancelled worker
    hung for good. tests/faults/test_worker_cancel.py holds this helper to it.
    """
    if event.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
        return True
    return False

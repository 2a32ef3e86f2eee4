"""Two real sessions meet the same user's BSUID for the first time at once: one key.

The user wrote before 2026 by phone (a conversation under the phone exists). Session
A stores a message with the user's BSUID and holds its transaction open; session B
then stores another message with that BSUID. B must wait for A's row of the BSUID and
file its message under the key A chose: with a BSUID-only message B alone could only
have proposed the BSUID itself as the key (invariant 8).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import Connect

PNID = "300100200300400"
BSUID = "RW.7770001112223"
PHONE = "250788777000"


def payload(phone: str | None, bsuid: str | None, wamid: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": wamid,
        "timestamp": "1780000000",
        "type": "text",
        "text": {"body": "hi"},
    }
    contact: dict[str, Any] = {"profile": {"name": "N"}}
    if phone:
        message["from"] = phone
        contact["wa_id"] = phone
    if bsuid:
        message["from_user_id"] = bsuid
        contact["user_id"] = bsuid
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": PNID},
                            "contacts": [contact],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }


def wait_until_blocked(watcher: psycopg.Connection[Any], pid: int) -> None:
    """Until backend `pid` waits for a lock (polled; never a timed assertion)."""
    deadline = time.monotonic() + 60  # a condition's bound, generous for a loaded machine
    while time.monotonic() < deadline:
        row = watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError("the second session never waited for the first")


@pytest.mark.parametrize(
    ("first", "second"),
    [((PHONE, BSUID), (None, BSUID)), ((None, BSUID), (PHONE, BSUID))],
    ids=["phone-and-bsuid-first", "bsuid-only-first"],
)
def test_concurrent_first_sights_share_one_key(
    connect: Connect, first: tuple[str | None, str | None], second: tuple[str | None, str | None]
) -> None:
    a = connect(autocommit=False)
    b = connect()
    watcher = connect()
    watcher.execute(
        "SELECT wapipe.ingest_webhook(%s, 'old')", (Jsonb(payload(PHONE, None, "wamid.old")),)
    )
    a.execute("SELECT wapipe.ingest_webhook(%s, 'a')", (Jsonb(payload(*first, "wamid.a")),))
    b_pid = b.info.backend_pid
    errors: list[BaseException] = []

    def second_session() -> None:
        try:
            b.execute(
                "SELECT wapipe.ingest_webhook(%s, 'b')", (Jsonb(payload(*second, "wamid.b")),)
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second_session)
    thread.start()
    wait_until_blocked(watcher, b_pid)
    a.commit()
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    rows = watcher.execute(
        "SELECT wamid, conversation_key FROM wapipe.processed_messages ORDER BY wamid"
    ).fetchall()
    assert [r[0] for r in rows] == ["wamid.a", "wamid.b", "wamid.old"]
    # the phone's conversation continues when A saw the phone; else A chose the BSUID
    expected = f"{PNID}:{PHONE}" if first[0] else f"{PNID}:{BSUID}"
    assert rows[0][1] == rows[1][1] == expected, rows
    keys = watcher.execute(
        "SELECT DISTINCT user_key FROM wapipe.user_identifiers WHERE phone_number_id = %s", (PNID,)
    ).fetchall()
    assert len(keys) == 1, keys

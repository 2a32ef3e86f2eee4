"""End to end with a real worker process, the fake agent and the fake Graph API: a user
known only by business-scoped user ID gets a reply addressed by BSUID (`recipient`),
then writes again with phone and BSUID, and the agent sees one continuous memory."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.fakes import WorkerProcess, scalar, wait_for, write_config
from tests.fakes.agent_server import FakeAgent
from tests.fakes.graph_api import FakeGraphApi

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp"
BSUID = "RW.4471902245518830"
PHONE = "250788444555"


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    fake = FakeGraphApi().start()
    try:
        yield fake
    finally:
        fake.stop()


def ingest(conn: psycopg.Connection[Any], payload: dict[str, Any]) -> None:
    conn.execute("SELECT wapipe.ingest_webhook(%s, 'e2e')", (Jsonb(payload),))


def test_username_only_user_is_answered_by_bsuid_and_keeps_memory_when_a_phone_appears(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    graph: FakeGraphApi,
    workers: list[WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WHATSAPP_API_URL", graph.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAAG-identity-e2e")
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    first = json.loads((FIXTURES / "text_username_only.json").read_text())
    # written now: the 24-hour window is open (the sample's own time is months ago)
    now = int(time.time())
    first["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(now)
    ingest(conn, first)
    w = WorkerProcess(db_url, config, server_tmp, "--concurrency", "2")
    workers.append(w)
    wait_for(lambda: len(graph.delivered()) == 1, timeout=30, what="the reply to the BSUID user")
    sent = graph.delivered()[0]
    assert sent.address == BSUID
    assert "to" not in sent.json and sent.json["recipient"] == BSUID

    # the same user now also shares a phone number: one conversation, one memory
    second = json.loads(json.dumps(first))
    value = second["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = PHONE
    message = value["messages"][0]
    message.update({"from": PHONE, "id": "wamid.identity-e2e-2", "timestamp": str(now + 1)})
    message["text"]["body"] = "and now with my number"
    ingest(conn, second)
    wait_for(lambda: len(graph.delivered()) == 2, timeout=30, what="the second reply")
    assert len(agent.calls) == 2
    assert agent.calls[0].user == agent.calls[1].user == BSUID
    assert (
        scalar(
            conn,
            "SELECT context->>'seen' FROM wapipe.ai_conversation_memory WHERE user_phone = %s",
            BSUID,
        )
        == "2"
    ), "the agent saw the first turn in its history"
    assert (
        scalar(conn, "SELECT count(DISTINCT conversation_key) FROM wapipe.processed_messages") == 1
    )
    assert w.terminate() == 0
    log = w.output()
    assert BSUID not in log and PHONE not in log and "@keza.rw" not in log

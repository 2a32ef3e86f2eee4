"""The 24-hour window and handing a conversation to a human (issue 17), end to end: a real
worker process, the fake agent and the fake Graph API, and the `wapipe` CLI as operators
run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.fakes import PROJECT, WorkerProcess, scalar, send_text, wait_for, write_config
from tests.fakes.agent_server import FakeAgent
from tests.fakes.graph_api import FakeGraphApi
from tests.payloads import BUSINESS_NUMBER_ID

USER = "250788100200"
OTHER = "250788300400"


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraphApi]:
    fake = FakeGraphApi().start()
    monkeypatch.setenv("WHATSAPP_API_URL", fake.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAAG-window-handoff-e2e")
    try:
        yield fake
    finally:
        fake.stop()


def start_worker(
    db_url: str, server_tmp: Path, agent: FakeAgent, workers: list[WorkerProcess], **sections: Any
) -> WorkerProcess:
    config = write_config(
        server_tmp / f"w-{uuid.uuid4().hex[:6]}.toml",
        [{"name": "waiter", "endpoints": [agent.url]}],
        **sections,
    )
    w = WorkerProcess(db_url, config, server_tmp, "--concurrency", "2")
    workers.append(w)
    return w


def echo(conn: psycopg.Connection[Any], to: str, body: str) -> None:
    """Staff answer `to` from the WhatsApp Business app on the same number (coexistence)."""
    conn.execute(
        "SELECT wapipe.ingest_webhook(%s, 'echo')",
        (
            Jsonb(
                {
                    "object": "whatsapp_business_account",
                    "entry": [
                        {
                            "id": "1",
                            "changes": [
                                {
                                    "field": "smb_message_echoes",
                                    "value": {
                                        "messaging_product": "whatsapp",
                                        "metadata": {
                                            "display_phone_number": "15550001111",
                                            "phone_number_id": BUSINESS_NUMBER_ID,
                                        },
                                        "message_echoes": [
                                            {
                                                "from": "15550001111",
                                                "to": to,
                                                "id": f"wamid.echo.{uuid.uuid4().hex}",
                                                "timestamp": str(int(time.time())),
                                                "type": "text",
                                                "text": {"body": body},
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ),
        ),
    )


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wapipe.cli", *args],
        cwd=PROJECT,
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,  # outlasts `send --wait 90`
    )


def handled_by(conn: psycopg.Connection[Any], wamid: str) -> Any:
    return scalar(
        conn,
        "SELECT handled_by FROM wapipe.processed_messages WHERE wamid = %s AND status = 'done'",
        wamid,
    )


def test_an_echo_pauses_the_bot_and_its_next_turn_sees_what_was_said(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    graph: FakeGraphApi,
    workers: list[WorkerProcess],
) -> None:
    w = start_worker(db_url, server_tmp, agent, workers)
    send_text(conn, USER, "hello")
    wait_for(lambda: len(graph.delivered()) == 1, timeout=30, what="the bot's first answer")

    echo(conn, USER, "Eric from the front desk: your table is ready")
    paused = send_text(conn, USER, "great, which table?")
    wait_for(lambda: handled_by(conn, paused), timeout=30, what="the paused message handled")
    assert handled_by(conn, paused) == "handoff"
    assert len(agent.calls) == 1, "no agent call while a human has the conversation"
    assert len(graph.delivered()) == 1, "no automatic reply"
    assert graph.read_calls(paused) == [], "no read receipt or typing indicator"
    listed = cli(db_url, "handoff", "list")
    assert listed.returncode == 0, listed.stderr
    assert "business_app" in listed.stdout and USER not in listed.stdout

    ended = cli(db_url, "handoff", "end", USER, "--by", "eric")
    assert ended.returncode == 0 and "ended" in ended.stdout, ended.stdout + ended.stderr
    send_text(conn, USER, "thanks!")
    wait_for(lambda: len(agent.calls) == 2, timeout=30, what="the bot answering again")
    history = [m["content"] for m in agent.calls[1].body["history"]]
    assert "[staff] Eric from the front desk: your table is ready" in history
    assert "great, which table?" in history
    assert history.index("[staff] Eric from the front desk: your table is ready") < history.index(
        "great, which table?"
    )
    assert agent.calls[1].body["window_closes_at"], "the agent is told when the window closes"
    assert w.terminate() == 0
    assert USER not in w.output()


def test_the_agent_or_a_keyword_hands_the_conversation_to_a_human(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    graph: FakeGraphApi,
    workers: list[WorkerProcess],
) -> None:
    agent.answer = {
        "reply": "Let me get a colleague for your refund.",
        "handoff": {"reason": "refund", "minutes": 15},
    }
    start_worker(
        db_url,
        server_tmp,
        agent,
        workers,
        handoff={"keywords": ["human"], "notice": "A person will answer you here."},
    )
    asked_at = scalar(conn, "SELECT clock_timestamp()")
    send_text(conn, USER, "I want my money back")
    wait_for(lambda: len(graph.delivered()) == 1, timeout=30, what="the agent's reply")
    # 15 minutes from when the handoff started, which is after the text was sent and before
    # now: bounds that hold however long the turn took (a loaded machine could take over
    # the minute that 'until > now() + 14 minutes' allowed)
    row = conn.execute(
        "SELECT started_by, reason, until >= %s + interval '15 minutes',"
        " until <= clock_timestamp() + interval '15 minutes' FROM wapipe.list_handoffs()",
        (asked_at,),
    ).fetchone()
    assert row == ("agent:waiter", "refund", True, True)
    later = send_text(conn, USER, "hello?")
    wait_for(lambda: handled_by(conn, later), timeout=30, what="the message kept for staff")
    assert handled_by(conn, later) == "handoff" and len(agent.calls) == 1

    asked = send_text(conn, OTHER, "can I talk to a HUMAN please")
    wait_for(lambda: len(graph.to(OTHER)) == 1, timeout=30, what="the handoff notice")
    assert graph.to(OTHER)[0].json["text"]["body"] == "A person will answer you here."
    assert handled_by(conn, asked) == "handoff:rule"
    assert len(agent.calls) == 1, "a keyword hands off without calling the agent"
    assert (
        scalar(
            conn,
            "SELECT started_by FROM wapipe.list_handoffs() WHERE user_key = %s",
            OTHER,
        )
        == "rule:human"
    )


def test_wapipe_send_delivers_once_per_key_and_resolves_a_bsuid(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    graph: FakeGraphApi,
    workers: list[WorkerProcess],
) -> None:
    bsuid = "RW.4471902245518830"
    msg = {
        "from": USER,
        "from_user_id": bsuid,
        "id": f"wamid.test.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "hi"},
    }
    conn.execute(
        "SELECT wapipe.ingest_webhook(%s, 'e2e')",
        (
            Jsonb(
                {
                    "object": "whatsapp_business_account",
                    "entry": [
                        {
                            "id": "1",
                            "changes": [
                                {
                                    "field": "messages",
                                    "value": {
                                        "messaging_product": "whatsapp",
                                        "metadata": {
                                            "display_phone_number": "15550001111",
                                            "phone_number_id": BUSINESS_NUMBER_ID,
                                        },
                                        "contacts": [
                                            {
                                                "wa_id": USER,
                                                "user_id": bsuid,
                                                "profile": {"name": "A"},
                                            }
                                        ],
                                        "messages": [msg],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ),
        ),
    )
    w = start_worker(db_url, server_tmp, agent, workers)
    wait_for(lambda: len(graph.delivered()) == 1, timeout=30, what="the bot's answer")
    # --wait is the CLI's own budget for the sender's delivery (exit 1 past it): generous,
    # a loaded machine's sender may take seconds to poll, claim and send
    first = cli(
        db_url, "send", bsuid, "Eric here, how can I help?", "--key", "k-42", "--wait", "90"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "sent" in first.stdout
    second = cli(
        db_url, "send", bsuid, "Eric here, how can I help?", "--key", "k-42", "--wait", "5"
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "not again" in second.stdout
    time.sleep(1)  # a second row, were there one, would be claimed within the sender's poll
    staff = [
        r
        for r in graph.delivered()
        if r.json.get("text", {}).get("body") == "Eric here, how can I help?"
    ]
    assert len(staff) == 1, "the same key is delivered once"
    assert (
        scalar(conn, "SELECT count(*) FROM wapipe.outbox WHERE source_key = 'operator:k-42'") == 1
    )
    for out in (first.stdout, second.stdout):
        assert bsuid not in out and USER not in out
    assert w.terminate() == 0
    assert bsuid not in w.output() and "Eric here" not in w.output()


def test_a_reply_released_25_hours_late_is_not_sent_free_form(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    graph: FakeGraphApi,
    workers: list[WorkerProcess],
) -> None:
    late = int(time.time()) - 25 * 3600
    template = {"type": "template", "template": {"name": "we_replied", "language": {"code": "en"}}}
    # the agent answers both; only OTHER's answer carries an outside_window template
    send_text(conn, USER, "are you open tomorrow?", ts=late)
    agent.answer = {"reply": "Yes, from 8."}
    w = start_worker(db_url, server_tmp, agent, workers)
    wait_for(
        lambda: (
            scalar(conn, "SELECT status FROM wapipe.outbox WHERE to_wa_id = %s", USER)
            == "window_closed"
        ),
        timeout=30,
        what="the late reply held back",
    )
    assert graph.to(USER) == [], "nothing free-form went to Meta"
    assert "24-hour" in scalar(
        conn, "SELECT last_error FROM wapipe.outbox WHERE to_wa_id = %s", USER
    )

    agent.answer = {"reply": "Yes, from 8.", "outside_window": template}
    send_text(conn, OTHER, "are you open tomorrow?", ts=late)
    wait_for(lambda: len(graph.to(OTHER)) == 1, timeout=30, what="the template instead")
    sent = graph.to(OTHER)[0].json
    assert sent["type"] == "template" and "text" not in sent and "outside_window" not in sent
    assert scalar(
        conn, "SELECT window_fallback_at IS NOT NULL FROM wapipe.outbox WHERE to_wa_id = %s", OTHER
    )
    listed = cli(db_url, "window", "list")
    assert listed.returncode == 0 and "checked" in listed.stdout, listed.stdout + listed.stderr
    assert USER not in listed.stdout
    health = cli(db_url, "health", "--json")
    assert '"outbox_window_closed_last_day": 1' in health.stdout, health.stdout
    assert w.terminate() == 0


def test_an_operator_starts_a_handoff_by_phone_and_unknown_users_are_refused(
    conn: psycopg.Connection[Any], db_url: str
) -> None:
    send_text(conn, USER, "hello")
    asked_at = scalar(conn, "SELECT clock_timestamp()")
    started = cli(db_url, "handoff", "start", f"+{USER}", "--minutes", "45", "--by", "eric")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "started" in started.stdout and USER not in started.stdout
    # 45 minutes from a start between asked_at and now, however slow the CLI was
    row = conn.execute(
        "SELECT started_by, until >= %s + interval '45 minutes',"
        " until <= clock_timestamp() + interval '45 minutes' FROM wapipe.list_handoffs()",
        (asked_at,),
    ).fetchone()
    assert row == ("operator:eric", True, True)
    again = cli(db_url, "handoff", "start", USER, "--minutes", "90")
    assert "extended" in again.stdout, again.stdout + again.stderr
    unknown = cli(db_url, "handoff", "start", "250700009999")
    assert unknown.returncode != 0 and "no conversation" in unknown.stderr
    assert "250700009999" not in unknown.stderr

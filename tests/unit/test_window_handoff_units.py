"""Issue 17 without a database: the agent's handoff / outside_window fields (every protocol),
the [handoff] settings, the sender's message without wapipe's own key, and the status page's
handoff board (masked)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ingress.status import render_page
from ingress.store import StatusSnapshot
from wapipe.errors import WapipeError
from worker.config import parse_config
from worker.errors import AgentError
from worker.replies import openai_answer, python_answer, wapipe_answer
from worker.sender import OutboxRow

TEMPLATE = {"type": "template", "template": {"name": "follow_up", "language": {"code": "en"}}}


def test_wapipe_answer_carries_handoff_and_outside_window() -> None:
    answer = wapipe_answer(
        {
            "reply": "one moment",
            "handoff": {"reason": "refund", "minutes": 15},
            "outside_window": TEMPLATE,
        }
    )
    assert answer.handoff == {"reason": "refund", "minutes": 15}
    assert answer.outside_window == TEMPLATE
    assert wapipe_answer({"reply": "hi", "handoff": True}).handoff == {
        "reason": None,
        "minutes": None,
    }
    assert wapipe_answer({"reply": "hi"}).handoff is None
    assert python_answer({"reply": None, "handoff": {"minutes": 5}}).handoff == {
        "reason": None,
        "minutes": 5,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reply": "x", "handoff": "now"}, "handoff"),
        ({"reply": "x", "handoff": {"minutes": 0}}, "handoff.minutes"),
        ({"reply": "x", "handoff": {"minutes": "15"}}, "handoff.minutes"),
        ({"reply": "x", "handoff": {"reason": 3}}, "handoff.reason"),
        ({"reply": "x", "outside_window": {"type": "template"}}, "outside_window"),
    ],
)
def test_a_malformed_handoff_or_fallback_is_a_bad_reply(body: dict[str, Any], field: str) -> None:
    with pytest.raises(AgentError) as caught:
        wapipe_answer(body, agent="waiter")
    assert caught.value.code == "agent_bad_reply"
    assert f"waiter: {field}" in str(caught.value)


def test_openai_answers_use_the_wapipe_field_convention() -> None:
    body = {
        "choices": [{"message": {"role": "assistant", "content": "a colleague will help"}}],
        "wapipe": {"handoff": {"reason": "asked"}, "outside_window": TEMPLATE},
    }
    answer = openai_answer(body)
    assert answer.messages == [{"type": "text", "text": {"body": "a colleague will help"}}]
    assert answer.handoff == {"reason": "asked", "minutes": None}
    assert answer.outside_window == TEMPLATE
    with pytest.raises(AgentError):
        openai_answer({**body, "wapipe": "handoff"})


def test_handoff_settings_in_the_worker_toml() -> None:
    cfg = parse_config({"handoff": {"keywords": ["Human", "agent"], "minutes": 20, "notice": ""}})
    assert cfg.handoff.keywords == ("human", "agent")
    assert (cfg.handoff.minutes, cfg.handoff.notice) == (20, "")
    assert parse_config({}).handoff.keywords == ()
    with pytest.raises(WapipeError):
        parse_config({"handoff": {"minutes": 0}})


def test_the_sender_sends_the_message_without_its_fallback() -> None:
    row = OutboxRow(
        1,
        "300100200300400",
        "250788123456",
        {"type": "text", "text": {"body": "hi"}, "outside_window": TEMPLATE},
        1,
        None,
        True,
        dt.datetime.now(dt.UTC),
    )
    assert row.message == {"type": "text", "text": {"body": "hi"}}
    assert row.has_window_fallback and not row.is_template
    free_form = {"type": "text", "text": {"body": "hi"}, "outside_window": {"type": "text"}}
    assert not OutboxRow(
        2, "1", "2", free_form, 1, None, False, row.locked_until
    ).has_window_fallback


def test_the_status_page_lists_handed_off_conversations_masked() -> None:
    now = dt.datetime.now(dt.UTC)
    health = ("ok", [], 0, None, 0, 0, 0, 0, 1, 0, 0, now, now)
    snapshot = StatusSnapshot(
        health=health,
        series=[],
        breakers=[],
        handoffs=[
            (
                "300100200300400:250788123456",
                now - dt.timedelta(minutes=5),
                "business_app",
                now + dt.timedelta(minutes=25),
            )
        ],
    )
    page = render_page(snapshot)
    assert 'id="handoffs"' in page and "business_app" in page
    assert "250788123456" not in page
    assert "The bot answers every conversation" in render_page(
        StatusSnapshot(health=health, series=[], breakers=[])
    )


def test_a_workflow_step_is_told_when_the_window_closes() -> None:
    from worker.store import _context_of

    closes = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    row = [True, 0, 7, "order", "choose_item", {}, 1, None, None, None, None, None]
    context = _context_of(row, None, None, closes)
    assert context.workflow is not None and context.workflow.window_closes_at == closes
    assert context.window_closes_at == closes and context.handed_off is None

"""Webhook shapes the Cloud API really sends, POSTed to a real ingress and database.

tests/fixtures/whatsapp/real_world/ holds one file per shape, written for wapipe from Meta's
webhook reference and from the shapes SDKs parse (pywa, whatsapp-api-js, heyoo,
WhatsApp-Nodejs-SDK): every message type, statuses with pricing, group and BSUID
recipients, the non-message fields, and unusual but valid envelopes (two changes, two
entries, statuses beside messages, no contacts, numbers for timestamps, unknown fields).
Each must be answered 200 and every item in it understood: stored with the rule of its
kind, nothing in quarantine.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest

from ingress.app import create_app
from tests.integration.test_ingress_app import ingress_settings, signed_headers

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

SHAPES = Path(__file__).parents[1] / "fixtures" / "whatsapp" / "real_world"
SENT_AT = 1764633841  # every fixture's timestamp


class Expected(NamedTuple):
    queued: int = 0  # messages queued for the agent
    recorded: int = 0  # messages recorded, not queued (reaction, system, ...)
    statuses: int = 0
    updates: int = 0  # other fields, kept as webhook_updates
    errors: int = 0  # value.errors


ONE = Expected(queued=1)
EXPECTED: dict[str, Expected] = {
    "text_reply_forwarded": ONE,
    "text_product_inquiry": ONE,
    "image_with_caption": ONE,
    "audio_voice_note": ONE,
    "video": ONE,
    "document": ONE,
    "sticker_animated": ONE,
    "location_named": ONE,
    "contacts_card": ONE,
    "interactive_button_reply": ONE,
    "interactive_list_reply": ONE,
    "interactive_flow_nfm_reply": ONE,
    "template_quick_reply_button": ONE,
    "order": ONE,
    "ctwa_referral": ONE,
    "unsupported_with_errors": ONE,
    "request_welcome": ONE,
    "group_text": ONE,
    "username_user_with_bsuid_only": ONE,
    "reaction_and_unreaction": Expected(recorded=2),
    "system_customer_changed_number": Expected(recorded=1),
    "status_sent_with_pricing": Expected(statuses=1),
    "status_delivered_utility_regular": Expected(statuses=1),
    "status_failed_window_closed": Expected(statuses=1),
    "status_played_voice": Expected(statuses=1),
    "status_read_group_participant": Expected(statuses=1),
    "status_read_bsuid_recipient": Expected(statuses=1),
    "template_status_approved": Expected(updates=1),
    "template_quality_update": Expected(updates=1),
    "phone_number_quality_update": Expected(updates=1),
    "account_update_verified": Expected(updates=1),
    "calls_connect": Expected(updates=1),
    "user_preferences_stop_marketing": Expected(updates=1),
    "value_errors_only": Expected(errors=1),
    "envelope_statuses_and_messages_together": Expected(queued=1, statuses=1),
    "envelope_entry_with_two_changes": Expected(queued=1, statuses=1),
    "envelope_two_entries": Expected(queued=2),
    "envelope_no_contacts": ONE,
    "envelope_numeric_timestamps_and_extras": Expected(queued=1, statuses=1),
}


def shape(name: str) -> bytes:
    return (SHAPES / f"{name}.json").read_bytes()


def messages_in(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m
        for entry in body["entry"]
        for change in entry["changes"]
        if change.get("field", "messages") == "messages"
        for m in change["value"].get("messages", [])
    ]


def statuses_in(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for entry in body["entry"]
        for change in entry["changes"]
        if change.get("field", "messages") == "messages"
        for s in change["value"].get("statuses", [])
    ]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app(ingress_settings(db_url), configure_logs=False)
    with TestClient(app) as c:
        yield c


def test_every_shape_has_an_expectation() -> None:
    assert sorted(p.stem for p in SHAPES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_real_shape_is_understood(client: TestClient, db_url: str, name: str) -> None:
    body = shape(name)
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text

    parsed = json.loads(body)
    expected = EXPECTED[name]
    with psycopg.connect(db_url, autocommit=True) as conn:
        quarantined = conn.execute("SELECT reason FROM wapipe.quarantine").fetchall()
        assert quarantined == [], "nothing that can be understood is quarantined"
        stored = {
            wamid: (status, handled_by, message_type, queued, int(sent))
            for wamid, status, handled_by, message_type, queued, sent in conn.execute(
                "SELECT wamid, status, handled_by, message_type, queue_msg_id IS NOT NULL,"
                " extract(epoch FROM wa_timestamp) FROM wapipe.processed_messages"
            )
        }
        statuses = dict(
            conn.execute("SELECT wamid, status FROM wapipe.message_statuses").fetchall()
        )
        updates = conn.execute("SELECT field FROM wapipe.webhook_updates").fetchall()
        errors = conn.execute("SELECT code FROM wapipe.webhook_errors").fetchall()
        event = conn.execute(
            "SELECT new_messages, statuses, errors, quarantined, updates FROM wapipe.webhook_events"
        ).fetchall()

    messages = messages_in(parsed)
    assert len(stored) == len(messages) == expected.queued + expected.recorded
    for m in messages:
        status, handled_by, message_type, queued, sent = stored[m["id"]]
        assert message_type == m["type"], m["id"]
        assert sent == SENT_AT, "the WhatsApp time is read, string or number"
        if queued:
            assert status == "queued"
        else:
            assert (status, handled_by) == ("done", f"recorded:{m['type']}")
    assert sum(1 for s in stored.values() if s[3]) == expected.queued

    assert statuses == {s["id"]: s["status"] for s in statuses_in(parsed)}
    assert len(statuses) == expected.statuses
    assert [f for (f,) in updates] == [
        c["field"] for e in parsed["entry"] for c in e["changes"] if c["field"] != "messages"
    ]
    assert len(updates) == expected.updates
    assert len(errors) == expected.errors
    assert event == [
        (len(messages), expected.statuses, expected.errors, 0, expected.updates)
    ], "the raw event counts what it held"


def test_all_shapes_in_one_post_are_each_understood(client: TestClient, db_url: str) -> None:
    """Meta batches: every shape's entries in one POST (the general walk) store the same."""
    entries = [e for name in sorted(EXPECTED) for e in json.loads(shape(name))["entry"]]
    body = json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM wapipe.quarantine),"
            " (SELECT count(*) FROM wapipe.processed_messages WHERE queue_msg_id IS NOT NULL),"
            " (SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'),"
            " (SELECT count(*) FROM wapipe.message_statuses),"
            " (SELECT count(*) FROM wapipe.webhook_updates),"
            " (SELECT count(*) FROM wapipe.webhook_errors)"
        ).fetchone()
    assert row == (
        0,
        sum(e.queued for e in EXPECTED.values()),
        sum(e.recorded for e in EXPECTED.values()),
        sum(e.statuses for e in EXPECTED.values()),
        sum(e.updates for e in EXPECTED.values()),
        sum(e.errors for e in EXPECTED.values()),
    )

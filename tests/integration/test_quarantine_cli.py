"""`wapipe quarantine list|show|replay` as an operator runs it, on a real database."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.integration.test_ops_cli import run_wapipe

BROKEN = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "metadata": {"display_phone_number": "15550001111"},
                        "messages": [
                            {
                                "from": "250788123456",
                                "id": "wamid.quarantined-cli",
                                "timestamp": "1780000000",
                                "type": "text",
                                "text": {"body": "a body that stays private"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}


def test_list_show_and_replay_after_a_repair(conn: psycopg.Connection[Any], db_url: str) -> None:
    conn.execute("SELECT wapipe.ingest_webhook(%s, 'cli')", (Jsonb(BROKEN),))
    listed = run_wapipe(db_url, "quarantine", "list")
    assert listed.returncode == 0, listed.stderr
    assert "the change needs metadata.phone_number_id" in listed.stdout
    assert "250788123456" not in listed.stdout

    as_json = json.loads(run_wapipe(db_url, "quarantine", "list", "--json").stdout)
    assert as_json["total"] == 1
    item_id = as_json["items"][0]["id"]

    shown = run_wapipe(db_url, "quarantine", "show", str(item_id))
    assert shown.returncode == 0, shown.stderr
    assert "a body that stays private" not in shown.stdout
    assert "entry[0].changes[0].value.messages[0]" in shown.stdout

    still = run_wapipe(db_url, "quarantine", "replay", str(item_id))
    assert still.returncode == 0, still.stderr
    assert f"{item_id}: still_unreadable" in still.stdout

    # the upgrade that teaches wapipe to read it, played by a repair of the envelope
    conn.execute(
        "UPDATE wapipe.quarantine SET replay_payload = jsonb_set(replay_payload,"
        " '{entry,0,changes,0,value,metadata,phone_number_id}', '\"300100200300400\"')"
    )
    dry = run_wapipe(db_url, "quarantine", "replay", "--reason", "%phone_number_id%", "--dry-run")
    assert f"{item_id}: would_replay" in dry.stdout
    done = run_wapipe(db_url, "quarantine", "replay", str(item_id))
    assert done.returncode == 0, done.stderr
    assert f"{item_id}: replayed" in done.stdout
    status = conn.execute(
        "SELECT status FROM wapipe.processed_messages WHERE wamid = 'wamid.quarantined-cli'"
    ).fetchone()
    assert status == ("queued",)
    assert "nothing in quarantine" in run_wapipe(db_url, "quarantine", "list").stdout

    refused = run_wapipe(db_url, "quarantine", "replay")
    assert refused.returncode != 0
    assert "give quarantine ids" in refused.stderr


def test_health_counts_the_quarantine(conn: psycopg.Connection[Any], db_url: str) -> None:
    conn.execute("SELECT wapipe.ingest_webhook(%s, 'cli')", (Jsonb(BROKEN),))
    health = run_wapipe(db_url, "health", "--json")
    report = json.loads(health.stdout)
    assert report["details"]["quarantined"] == 1
    assert any("quarantine" in r for r in report["reasons"])
    discarded = run_wapipe(db_url, "quarantine", "discard", "--reason", "%phone_number_id%")
    assert discarded.returncode == 0, discarded.stderr
    assert "discarded 1" in discarded.stdout
    report = json.loads(run_wapipe(db_url, "health", "--json").stdout)
    assert report["details"]["quarantined"] == 0

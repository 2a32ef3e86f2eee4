"""The operator commands through the real `wapipe` console script against a test database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.payloads import text_message, webhook

WAPIPE = Path(sys.executable).parent / "wapipe"


def run_wapipe(
    db_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "WAPIPE_HEALTH_THRESHOLDS"}
    }
    full_env["DATABASE_URL"] = db_url
    full_env.update(env or {})
    return subprocess.run(
        [str(WAPIPE), *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def beat(conn: psycopg.Connection[Any], worker_id: str) -> None:
    """A heartbeat now (wapipe.worker_heartbeat, as a running worker sends it): the worker
    stays alive (stale after 30 s) for the next command however slowly the commands before it
    ran on a loaded machine."""
    row = conn.execute("SELECT wapipe.worker_heartbeat(%s)", (worker_id,)).fetchone()
    assert row == (True,), f"{worker_id} is not a running registered worker"


def ingest(conn: psycopg.Connection[Any], *senders: str) -> None:
    for sender in senders:
        conn.execute(
            "SELECT * FROM wapipe.ingest_webhook(%s, 'ops-test')",
            (Jsonb(webhook([text_message(sender, "hello")])),),
        )


def dead_letter_all(conn: psycopg.Connection[Any], error: str) -> list[int]:
    """Claims every waiting head and fails it for good; returns the new dead letter ids."""
    claimed = conn.execute(
        "SELECT msg_id FROM wapipe.get_next_queue_message('w-ops', 30, 100)"
    ).fetchall()
    for (msg_id,) in claimed:
        conn.execute(
            "SELECT wapipe.schedule_message_retry(%s, 'w-ops', %s, false)", (msg_id, error)
        )
    rows = conn.execute(
        "SELECT id FROM wapipe.dead_letters WHERE last_error = %s ORDER BY id", (error,)
    ).fetchall()
    return [r[0] for r in rows]


def test_health_ok_on_a_fresh_database(db_url: str) -> None:
    result = run_wapipe(db_url, "health")
    assert result.returncode == 0, result.stderr
    assert "wapipe health: OK" in result.stdout
    assert "queue depth" in result.stdout and "workers alive" in result.stdout
    assert "\033[" not in result.stdout  # piped: no colour


def test_health_degraded_then_critical_with_exit_codes(
    conn: psycopg.Connection[Any], db_url: str
) -> None:
    conn.execute("SELECT wapipe.register_worker('w-live', 'host-a', 4242)")
    ingest(conn, "250700000001")
    conn.execute("UPDATE wapipe.processed_messages SET received_at = now() - interval '90 seconds'")

    degraded = run_wapipe(db_url, "health")
    row = conn.execute(
        "SELECT round(extract(epoch FROM clock_timestamp() - received_at))::int"
        " FROM wapipe.processed_messages"
    ).fetchone()
    assert degraded.returncode == 1, degraded.stdout + degraded.stderr
    assert "wapipe health: DEGRADED" in degraded.stdout
    # 90 s and what the command took (not "9x s": a slow run could reach 100)
    waited = re.search(r"oldest message waiting (\d+) s", degraded.stdout)
    assert waited and row is not None and 90 <= int(waited.group(1)) <= row[0], degraded.stdout

    # thresholds from a flag and from the environment
    beat(conn, "w-live")
    relaxed = run_wapipe(db_url, "health", "--threshold", "oldest_age_degraded_seconds=600")
    assert relaxed.returncode == 0, relaxed.stdout
    beat(conn, "w-live")
    strict = run_wapipe(
        db_url, "health", env={"WAPIPE_HEALTH_THRESHOLDS": '{"oldest_age_critical_seconds": 30}'}
    )
    assert strict.returncode == 2, strict.stdout
    assert "critical at 30 s" in strict.stdout

    # no live worker while a message waits: critical
    conn.execute("UPDATE wapipe.workers SET heartbeat_at = now() - interval '5 minutes'")
    critical = run_wapipe(db_url, "health", "--threshold", "oldest_age_degraded_seconds=600")
    assert critical.returncode == 2
    assert "wapipe health: CRITICAL" in critical.stdout
    assert "no live worker while 1 messages wait" in critical.stdout


def test_health_json_parses(conn: psycopg.Connection[Any], db_url: str) -> None:
    ingest(conn, "250700000001", "250700000002")
    result = run_wapipe(db_url, "health", "--json")
    assert result.returncode == 2  # two messages and no worker
    data = json.loads(result.stdout)
    assert data["status"] == "critical"
    assert data["queue_depth"] == 2
    assert data["workers_alive"] == 0
    assert isinstance(data["oldest_message_age"], float)
    assert data["details"]["thresholds"]["oldest_age_degraded_seconds"] == 60


def test_health_refuses_an_unknown_threshold_in_one_line(db_url: str) -> None:
    result = run_wapipe(db_url, "health", "--threshold", "oldest_age_degarded_seconds=5")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert 'unknown health threshold "oldest_age_degarded_seconds"' in result.stderr


def test_unreachable_database_is_one_line_and_nonzero() -> None:
    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    health = run_wapipe(url, "health")
    assert health.returncode == 2
    assert health.stderr.startswith("wapipe: error: cannot connect to")
    assert health.stderr.strip().count("\n") == 0
    workers = run_wapipe(url, "workers")
    assert workers.returncode == 1
    assert workers.stderr.strip().count("\n") == 0


def test_dlq_list_and_show(conn: psycopg.Connection[Any], db_url: str) -> None:
    ingest(conn, "250700000001", "250700000002")
    timeouts = dead_letter_all(conn, "timeout: agent did not answer in 120 s")
    ingest(conn, "250700000003")
    http = dead_letter_all(conn, "E500: agent answered 500")
    assert len(timeouts) == 2 and len(http) == 1

    listing = run_wapipe(db_url, "dlq", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "dead", "at", "(UTC)"]
    assert "3 dead letter(s) waiting" in listing.stdout
    assert "250700000001" not in listing.stdout  # phone numbers masked
    assert "+250700***001" in listing.stdout

    only = run_wapipe(db_url, "dlq", "list", "--error-code", "timeout", "--json")
    data = json.loads(only.stdout)
    assert data["total"] == 2
    assert sorted(r["id"] for r in data["dead_letters"]) == timeouts
    assert run_wapipe(db_url, "dlq", "list", "--type", "image").stdout.startswith(
        "no dead letters waiting that match"
    )
    assert "3 dead letter(s)" in run_wapipe(db_url, "dlq", "list", "--since", "1h").stdout

    show = run_wapipe(db_url, "dlq", "show", str(http[0]))
    assert show.returncode == 0
    assert "E500" in show.stdout and "not replayed, message now dead" in show.stdout
    assert "error history" in show.stdout and "w-ops" in show.stdout
    assert '"body": "hello"' not in show.stdout  # the payload only on request
    with_payload = run_wapipe(db_url, "dlq", "show", str(http[0]), "--payload")
    assert '"body": "hello"' in with_payload.stdout

    missing = run_wapipe(db_url, "dlq", "show", "999999")
    assert missing.returncode == 1
    assert "no dead letter with id 999999" in missing.stderr


def pending_dead(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM wapipe.dead_letters WHERE replayed_at IS NULL"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_dlq_replay_dry_run_changes_nothing_and_replay_requeues(
    conn: psycopg.Connection[Any], db_url: str
) -> None:
    ingest(conn, "250700000001", "250700000002", "250700000003")
    ids = dead_letter_all(conn, "timeout: agent did not answer")
    ingest(conn, "250700000004")
    other = dead_letter_all(conn, "E500: boom")

    dry = run_wapipe(
        db_url, "dlq", "replay", "--all-matching", "--error-code", "timeout", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run: would replay 3 dead letter(s)" in dry.stdout
    assert pending_dead(conn) == 4
    statuses = conn.execute("SELECT DISTINCT status FROM wapipe.processed_messages").fetchall()
    assert statuses == [("dead",)]

    one = run_wapipe(db_url, "dlq", "replay", str(other[0]))
    assert one.returncode == 0, one.stderr
    assert f"dead letter {other[0]}: message" in one.stdout
    assert "replayed 1 dead letter(s)" in one.stdout
    row = conn.execute(
        "SELECT m.status, m.attempts FROM wapipe.processed_messages m"
        " JOIN wapipe.dead_letters d ON d.message_id = m.id WHERE d.id = %s",
        (other[0],),
    ).fetchone()
    assert row == ("queued", 0)

    again = run_wapipe(db_url, "dlq", "replay", str(other[0]))
    assert again.returncode == 1
    assert "replayed 0 dead letter(s); 1 skipped" in again.stdout

    chunked = run_wapipe(
        db_url, "dlq", "replay", "--all-matching", "--error-code", "timeout", "--chunk-size", "2"
    )
    assert chunked.returncode == 0, chunked.stderr
    assert chunked.stderr.splitlines() == [
        "replayed 2 of 3 (2 checked)",
        "replayed 3 of 3 (3 checked)",
    ]
    assert "replayed 3 dead letter(s)" in chunked.stdout
    assert pending_dead(conn) == 0
    queued = conn.execute(
        "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'queued'"
    ).fetchone()
    assert queued == (4,)
    depth = conn.execute("SELECT count(*) FROM pgmq.q_wapipe_inbound").fetchone()
    assert depth == (4,)
    assert sorted(ids) == ids


def test_dlq_replay_refuses_without_a_choice(db_url: str) -> None:
    nothing = run_wapipe(db_url, "dlq", "replay")
    assert nothing.returncode == 1
    assert "give dead letter ids, or --all-matching" in nothing.stderr
    unfiltered = run_wapipe(db_url, "dlq", "replay", "--all-matching")
    assert unfiltered.returncode == 1
    assert "--all-matching needs a filter" in unfiltered.stderr
    bad_since = run_wapipe(db_url, "dlq", "list", "--since", "yesterday")
    assert bad_since.returncode == 1
    assert "--since must be like" in bad_since.stderr


def test_workers_lists_registered_workers(conn: psycopg.Connection[Any], db_url: str) -> None:
    conn.execute("SELECT wapipe.register_worker('w-test', 'host-x', 4242)")
    conn.execute("SELECT wapipe.register_worker('w-crashed', 'host-y', 77)")
    conn.execute(
        "UPDATE wapipe.workers SET heartbeat_at = now() - interval '2 minutes'"
        " WHERE worker_id = 'w-crashed'"
    )
    conn.execute("SELECT wapipe.register_worker('w-gone', 'host-z', 78)")
    conn.execute("SELECT wapipe.worker_stopped('w-gone')")

    result = run_wapipe(db_url, "workers")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["worker", "host", "pid", "state", "heartbeat"]
    assert lines[1].split()[:4] == ["w-test", "host-x", "4242", "alive"]
    assert lines[2].split()[:4] == ["w-crashed", "host-y", "77", "dead"]
    assert "2 min" in lines[2]
    assert "w-gone" not in result.stdout
    assert "1 alive, 1 dead, 0 stopped shown" in result.stdout
    everything = run_wapipe(db_url, "workers", "--all")
    assert "w-gone" in everything.stdout and "stopped" in everything.stdout
    beat(conn, "w-test")  # alive (stale after 30 s) however long the runs above took
    as_json = json.loads(run_wapipe(db_url, "workers", "--json").stdout)
    assert {w["worker_id"]: w["state"] for w in as_json} == {
        "w-test": "alive",
        "w-crashed": "dead",
        "w-gone": "stopped",
    }


@pytest.mark.parametrize("flag", ["health", "workers", "dlq list"])
def test_no_colour_when_no_color_is_set(db_url: str, flag: str) -> None:
    result = run_wapipe(db_url, *flag.split(), env={"NO_COLOR": "1"})
    assert "\033[" not in result.stdout + result.stderr

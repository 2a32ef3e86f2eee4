"""The outbox sender end to end: real Postgres, run_sender, and a fake Graph API on localhost."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.fakes.graph_api import Drop, Error, FakeGraphApi, Http
from tests.payloads import BUSINESS_NUMBER_ID, text_message, webhook
from wapipe.log import configure_logging
from wapipe.settings import Settings
from worker.sender import SenderConfig, run_sender

TOKEN = "test-token"
USER_A = "250788123456"
USER_B = "250788654321"
FAST = SenderConfig(
    idle_poll_seconds=0.02, breaker_wait_seconds=0.1, http_timeout_seconds=30, lock_seconds=30
)


@pytest.fixture
def fake() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as api:
        yield api


@pytest.fixture
def db(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    # Short real delays so retries happen within a test.
    conn.execute(
        "UPDATE wapipe.settings SET value = '0.05' WHERE key = 'outbox.initial_delay_seconds'"
    )
    return conn


def inbound(
    conn: psycopg.Connection[Any],
    wa_id: str,
    *,
    hours_ago: float = 0,
    phone_number_id: str = BUSINESS_NUMBER_ID,
) -> None:
    ts = int(time.time() - hours_ago * 3600)
    payload = webhook([text_message(wa_id, "hi there", timestamp=ts)], phone_number_id)
    conn.execute("SELECT wapipe.ingest_webhook(%s::jsonb, 'test')", (json.dumps(payload),))


def queue_reply(
    conn: psycopg.Connection[Any],
    wa_id: str,
    text: str = "the secret reply",
    *,
    phone_number_id: str = BUSINESS_NUMBER_ID,
    body: dict[str, Any] | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO wapipe.outbox (source_key, phone_number_id, to_wa_id, body)"
        " VALUES ('test:' || gen_random_uuid(), %s, %s, %s::jsonb) RETURNING id",
        (phone_number_id, wa_id, json.dumps(body or {"type": "text", "text": {"body": text}})),
    ).fetchone()
    assert row is not None
    return int(row[0])


def outbox(conn: psycopg.Connection[Any], row_id: int) -> dict[str, Any]:
    cur = conn.execute(
        "SELECT status, attempts, sent_wamid, error_code, last_error"
        " FROM wapipe.outbox WHERE id = %s",
        (row_id,),
    )
    row = cur.fetchone()
    assert row is not None
    return dict(
        zip(("status", "attempts", "sent_wamid", "error_code", "last_error"), row, strict=True)
    )


def statuses(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT status FROM wapipe.outbox ORDER BY id")]


def run_until(
    db_url: str,
    api_url: str,
    until: Callable[[], bool],
    *,
    token: str = TOKEN,
    config: SenderConfig = FAST,
    timeout: float = 60.0,  # a condition's deadline: generous for a loaded CI machine
    linger: float = 0.0,
) -> None:
    """Run the sender until `until()` holds (then `linger` more seconds); fail after timeout."""

    async def main() -> None:
        settings = Settings(database_url=db_url, access_token=token, api_url=api_url)
        stop = asyncio.Event()
        async with AsyncConnectionPool(
            db_url, min_size=1, max_size=3, kwargs={"autocommit": True}, open=False
        ) as pool:
            task = asyncio.create_task(
                run_sender(pool, settings, stop, "sender-test", config=config)
            )
            deadline = time.monotonic() + timeout
            try:
                while not until():
                    if task.done() or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(linger)
            finally:
                stop.set()
                await task
        assert until(), "the sender did not reach the expected state in time"

    asyncio.run(main())


def test_text_reply_sent_once_and_wamid_stored(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("sender-test")
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["status"] == "sent", linger=0.2)

    assert len(fake.requests) == 1
    req = fake.requests[0]
    assert req.phone_number_id == BUSINESS_NUMBER_ID
    assert req.authorization == f"Bearer {TOKEN}"
    assert req.json == {
        "type": "text",
        "text": {"body": "the secret reply"},
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER_A,
        "biz_opaque_callback_data": f"outbox:{row_id}",
    }
    assert outbox(db, row_id)["sent_wamid"] == req.answer.removeprefix("wamid:")
    logs = capsys.readouterr().err
    assert "outbox_sent" in logs
    assert USER_A not in logs, "a full phone number reached the logs"
    assert "the secret reply" not in logs, "a message body reached the logs"


def test_throughput_limit_is_retried_and_delivered_once(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    fake.script(Error(130429), Error(131000))
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["status"] == "sent", linger=0.2)
    assert [r.answer.split(":")[0] for r in fake.requests] == ["error", "error", "wamid"]
    assert len(fake.delivered()) == 1
    assert outbox(db, row_id)["attempts"] == 3


def test_window_closed_is_checked_before_sending_and_not_retried(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    inbound(db, USER_A, hours_ago=25)
    stale = queue_reply(db, USER_A)
    template = queue_reply(
        db,
        USER_A,
        body={
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        },
    )
    inbound(db, USER_B)
    meta_says_closed = queue_reply(db, USER_B)
    fake.script(Error(131047))
    run_until(
        db_url,
        fake.url,
        lambda: (
            outbox(db, template)["status"] == "sent"
            and outbox(db, meta_says_closed)["status"] == "window_closed"
        ),
        linger=0.3,
    )
    # held back before calling Meta (issue 17): window_closed, no Meta code, not retried
    assert outbox(db, stale)["status"] == "window_closed"
    assert outbox(db, stale)["error_code"] is None
    assert outbox(db, stale)["attempts"] == 1
    assert [r.json["to"] for r in fake.requests].count(USER_A) == 1, "only the template went to A"
    assert fake.to(USER_A)[0].json["type"] == "template"
    assert len(fake.to(USER_B)) == 1, "131047 from Meta is not retried"
    assert outbox(db, meta_says_closed)["error_code"] == 131047


def test_pair_rate_limit_backs_off_that_recipient_only(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    db.execute("UPDATE wapipe.settings SET value = '1.5' WHERE key = 'outbox.pair_backoff_seconds'")
    inbound(db, USER_A)
    inbound(db, USER_B)
    a1, a2 = queue_reply(db, USER_A, "a1"), queue_reply(db, USER_A, "a2")
    b1, b2 = queue_reply(db, USER_B, "b1"), queue_reply(db, USER_B, "b2")
    fake.script(Error(131056))
    run_until(db_url, fake.url, lambda: statuses(db)[2:] == ["sent", "sent"])
    assert len(fake.to(USER_A)) == 1, "A is backing off"
    assert outbox(db, a1)["error_code"] == 131056
    assert outbox(db, a2)["status"] == "pending"
    run_until(db_url, fake.url, lambda: statuses(db) == ["sent"] * 4)
    assert [r.json["text"]["body"] for r in fake.to(USER_A)] == ["a1", "a1", "a2"], "order kept"
    assert outbox(db, b1)["attempts"] == outbox(db, b2)["attempts"] == 1


def test_bad_token_fails_and_logs_an_alert(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("sender-test")
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    fake.script(Error(190, http_status=401, message="Error validating access token"))
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["status"] == "failed", linger=0.2)
    assert outbox(db, row_id)["error_code"] == 190
    assert len(fake.requests) == 1
    alert = [
        json.loads(line)
        for line in capsys.readouterr().err.splitlines()
        if "graph_access_token_invalid" in line
    ]
    assert alert and alert[0]["level"] == "critical" and alert[0]["alert"] is True


def test_server_errors_and_network_errors_are_retried(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    db.execute(
        "UPDATE wapipe.settings SET value = '0' WHERE key = 'outbox.unknown_outcome_grace_seconds'"
    )
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    fake.script(Http(500), Http(503), Drop(accepted=False))
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["status"] == "sent", linger=0.2)
    assert [r.answer for r in fake.requests][:3] == ["http:500", "http:503", "drop-unprocessed"]
    assert len(fake.delivered()) == 1
    assert outbox(db, row_id)["attempts"] == 4


def test_connection_refused_is_retried(db: psycopg.Connection[Any], db_url: str) -> None:
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    dead = FakeGraphApi().start()  # a port where nothing listens any more
    dead.stop()
    run_until(
        db_url,
        dead.url,
        lambda: outbox(db, row_id)["attempts"] >= 1 and outbox(db, row_id)["status"] == "pending",
    )
    assert "ConnectError" in (outbox(db, row_id)["last_error"] or "")
    with FakeGraphApi() as live:
        run_until(db_url, live.url, lambda: outbox(db, row_id)["status"] == "sent")
        assert len(live.requests) == 1


def test_breaker_opens_after_failures_and_the_sender_waits(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    db.execute("SELECT wapipe.breaker_configure('whatsapp-graph', 'default', 0.5, 3600, 60, 3, 1)")
    users = [f"25078800000{i}" for i in range(5)]
    ids = []
    for user in users:
        inbound(db, user)
        ids.append(queue_reply(db, user))
    fake.script(Http(500), Http(500), Http(500))

    def state() -> tuple[Any, ...] | None:
        return db.execute(
            "SELECT state FROM wapipe.breakers WHERE name = 'whatsapp-graph'"
        ).fetchone()

    run_until(db_url, fake.url, lambda: state() == ("open",), linger=0.5)
    assert len(fake.requests) == 3, "no call while the breaker is open"
    assert statuses(db) == ["pending"] * 5
    assert [outbox(db, i)["attempts"] for i in ids] == [1, 1, 1, 0, 0], "waiting is not an attempt"
    # the open period is over: one trial call closes it, then everything goes out
    db.execute(
        "UPDATE wapipe.breakers SET opened_at = now() - interval '2 hours'"
        " WHERE name = 'whatsapp-graph'"
    )
    run_until(db_url, fake.url, lambda: statuses(db) == ["sent"] * 5)
    assert state() == ("closed",)
    assert len(fake.delivered()) == 5


def test_pacing_per_business_number(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    rate, per_number = 10, 35
    other_number = "300100200300999"
    for i in range(per_number):
        for number in (BUSINESS_NUMBER_ID, other_number):
            user = f"2507880{i:05d}"
            inbound(db, user, phone_number_id=number)
            queue_reply(db, user, phone_number_id=number)
    config = SenderConfig(
        idle_poll_seconds=0.02, rate_per_second=rate, batch=50, http_timeout_seconds=30
    )
    run_until(db_url, fake.url, lambda: statuses(db) == ["sent"] * (2 * per_number), config=config)

    def max_in_one_second(number: str | None = None) -> int:
        """Most sends started (send_started_at: stamped by the database as the token is
        taken) within any one-second window. Measured where the pacing is decided, not at
        the fake: arrival times there add the HTTP path's jitter, and a loaded machine that
        stalls it bunches paced sends into one second (a count's upper bound on arrivals
        was timing-dependent)."""
        rows = db.execute(
            "SELECT extract(epoch FROM send_started_at)::float8 FROM wapipe.outbox"
            " WHERE %(number)s::text IS NULL OR phone_number_id = %(number)s",
            {"number": number},
        ).fetchall()
        times = sorted(float(r[0]) for r in rows)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    # The bucket holds a tenth of a second's tokens (burst = rate // 10, at least 1)
    # refilled at `rate`: any one-second window admits at most rate + burst sends
    # (+2 for the stamp's statement start preceding the bucket's clock); unpaced, all 35
    # would land in one.
    bound = rate + max(1, rate // 10) + 2
    assert max_in_one_second(BUSINESS_NUMBER_ID) <= bound
    assert max_in_one_second(other_number) <= bound
    assert max_in_one_second() > max_in_one_second(BUSINESS_NUMBER_ID), "numbers are paced apart"


def test_dry_run_without_token_calls_nothing(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    inbound(db, USER_A)
    ids = [queue_reply(db, USER_A, "one"), queue_reply(db, USER_A, "two")]
    run_until(db_url, fake.url, lambda: statuses(db) == ["dry_run", "dry_run"], token="")
    assert fake.requests == []
    assert all(outbox(db, i)["sent_wamid"] is None for i in ids)


def status_webhook(wamid: str, recipient: str, callback_data: str) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "100200300400500",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001111",
                                "phone_number_id": BUSINESS_NUMBER_ID,
                            },
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": "delivered",
                                    "timestamp": str(int(time.time())),
                                    "recipient_id": recipient,
                                    "biz_opaque_callback_data": callback_data,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def test_unknown_outcome_of_a_killed_worker_is_resolved_from_a_status(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    # a worker claimed and started it, Meta accepted it, the worker died before recording
    # the wamid; once its lease is over the status webhook settles it (no grace to wait)
    db.execute("SELECT * FROM wapipe.claim_outbox('dead-worker', 10, 30)")
    db.execute(
        "SELECT wapipe.start_outbox_send(%s, 'dead-worker', 8, '1 second'::interval)", (row_id,)
    )
    payload = status_webhook("wamid.accepted.before.crash", USER_A, f"outbox:{row_id}")
    db.execute("SELECT wapipe.ingest_webhook(%s::jsonb, 'test')", (json.dumps(payload),))
    db.execute(
        "UPDATE wapipe.outbox SET locked_until = now() - interval '1 second',"
        " next_attempt_at = now() - interval '1 second' WHERE id = %s",
        (row_id,),
    )
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["status"] == "sent", linger=0.2)
    assert fake.requests == [], "not sent again"
    assert outbox(db, row_id)["sent_wamid"] == "wamid.accepted.before.crash"


def test_dropped_answer_is_not_resent_when_meta_reports_the_message(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi
) -> None:
    inbound(db, USER_A)
    row_id = queue_reply(db, USER_A)
    fake.script(Drop(accepted=True))
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["last_error"] is not None)
    assert outbox(db, row_id)["status"] == "sending", "outcome unknown: parked, not retried"
    later = queue_reply(db, USER_A, "the next reply")
    payload = status_webhook("wamid.fake.1", USER_A, f"outbox:{row_id}")
    db.execute("SELECT wapipe.ingest_webhook(%s::jsonb, 'test')", (json.dumps(payload),))
    # the webhook frees the user's next reply at once, within the grace
    run_until(db_url, fake.url, lambda: outbox(db, later)["status"] == "sent", linger=0.2)
    assert outbox(db, row_id)["status"] == "sending", "settled when its grace is over"
    db.execute(
        "UPDATE wapipe.outbox SET locked_until = now() - interval '31 seconds',"
        " next_attempt_at = now() - interval '1 second' WHERE id = %s",
        (row_id,),
    )
    run_until(db_url, fake.url, lambda: outbox(db, row_id)["status"] == "sent", linger=0.2)
    assert len(fake.requests) == 2, "the first reply once, then the next one"
    assert outbox(db, row_id)["sent_wamid"] == "wamid.fake.1"


def test_reply_to_a_bsuid_is_sent_with_recipient_and_131062_is_not_retried(
    db: psycopg.Connection[Any], db_url: str, fake: FakeGraphApi, capfd: pytest.CaptureFixture[str]
) -> None:
    bsuid, other = "RW.4471902245518830", "RW.ENT.9903318274405126"
    # templates: no 24-hour window needed, so no inbound message has to be faked for a BSUID
    template = {"type": "template", "template": {"name": "hello", "language": {"code": "en"}}}
    first = queue_reply(db, bsuid, body=template)
    refused = queue_reply(db, other, body=template)
    fake.script(Error(131062, message="Business-scoped User ID recipients are not supported"))
    configure_logging("sender-test")
    run_until(
        db_url,
        fake.url,
        lambda: {outbox(db, first)["status"], outbox(db, refused)["status"]} == {"sent", "failed"},
    )
    sent, failed = (first, refused) if outbox(db, first)["status"] == "sent" else (refused, first)
    assert outbox(db, failed)["error_code"] == 131062
    assert outbox(db, failed)["attempts"] == 1, "not retried"
    for request in fake.requests:
        assert "to" not in request.json and request.json["recipient"] in (bsuid, other)
        assert request.json["recipient_type"] == "individual"
    assert len(fake.requests) == 2
    assert outbox(db, sent)["sent_wamid"].startswith("wamid.fake.")
    logged = capfd.readouterr()
    assert bsuid not in logged.out + logged.err and other not in logged.out + logged.err

"""The ingress through Starlette's TestClient, on a real migrated database."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingress.app import IngressConfigError, create_app
from ingress.signature import sign
from wapipe.errors import DatabaseUnavailable
from wapipe.settings import LogSettings, Settings

with warnings.catch_warnings():
    # starlette 0.52's testclient touches an alias anyio 4.16 deprecates (import time only).
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

SAMPLES = Path(__file__).parents[1] / "fixtures" / "whatsapp"
SECRET = "test-app-secret"
ROTATED_SECRET = "test-app-secret-next"
VERIFY_TOKEN = "verify-me-123"
LIMIT = 4 * 1024 * 1024


def ingress_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "app_secrets": (SECRET, ROTATED_SECRET),
        "verify_token": VERIFY_TOKEN,
        "pool_min_size": 1,
        "pool_max_size": 4,
        # the statement timeout too: generous, so a loaded CI machine cannot turn a slow
        # ingest into a 503 (tests of the timeout itself pass their own)
        "db_timeout_seconds": 30.0,
        "readiness_cache_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.json").read_bytes()


def text_message(text: str = "hello", wamid: str | None = None) -> bytes:
    """text.json with a fresh (or given) wamid, compact."""
    payload = json.loads(sample("text"))
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = wamid or f"wamid.test-{uuid.uuid4().hex}"
    message["text"]["body"] = text
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str = SECRET, **extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret), **extra}


def stored_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM wapipe.webhook_events),
                   (SELECT count(*) FROM wapipe.processed_messages),
                   (SELECT count(DISTINCT conversation_key) FROM wapipe.processed_messages),
                   (SELECT count(*) FROM wapipe.message_statuses),
                   (SELECT count(*) FROM pgmq.q_wapipe_inbound)
            """
        ).fetchone()
    assert row is not None
    keys = ("events", "messages", "conversations", "statuses", "queued")
    return dict(zip(keys, (int(v) for v in row), strict=True))


RECORDED_SAMPLES = frozenset({"reaction", "smb_message_echo"})
NOTHING_STORED = {"events": 0, "messages": 0, "conversations": 0, "statuses": 0, "queued": 0}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app(ingress_settings(db_url), configure_logs=False)
    with TestClient(app) as c:
        yield c


# -- every sample ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in SAMPLES.glob("*.json")))
def test_every_sample_is_accepted_and_stored(client: TestClient, db_url: str, name: str) -> None:
    body = sample(name)
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    result = response.json()
    counts = stored_counts(db_url)
    assert counts["events"] == 1
    assert counts["messages"] == result["new_messages"]
    # reactions and the business's echoes are recorded, never queued for the agent
    recorded = name in RECORDED_SAMPLES
    assert counts["queued"] == (0 if recorded else counts["messages"])
    assert counts["statuses"] == result["statuses"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT correlation_id FROM wapipe.webhook_events").fetchone()
    assert row == (response.headers["x-correlation-id"],)


def test_batch_two_users_gives_three_messages_in_two_conversations(
    client: TestClient, db_url: str
) -> None:
    body = sample("batch_two_users")
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert response.json()["new_messages"] == 3
    assert response.json()["statuses"] == 1
    assert stored_counts(db_url) == {
        "events": 1,
        "messages": 3,
        "conversations": 2,
        "statuses": 1,
        "queued": 3,
    }


def test_a_redelivered_webhook_is_stored_as_an_event_but_queued_once(
    client: TestClient, db_url: str
) -> None:
    body = text_message()
    first = client.post("/webhook", content=body, headers=signed_headers(body))
    again = client.post("/webhook", content=body, headers=signed_headers(body))
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["new_messages"], again.json()["duplicates"]) == (1, 1)
    assert stored_counts(db_url)["queued"] == 1


# -- handshake -------------------------------------------------------------------


def test_handshake_with_the_right_token_echoes_the_challenge(client: TestClient) -> None:
    response = client.get(
        "/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158"},
    )
    assert response.status_code == 200
    assert response.text == "1158"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
    ids=["wrong-token", "wrong-mode", "no-token", "no-challenge", "no-mode", "nothing"],
)
def test_handshake_refused(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/webhook", params=params).status_code == 403


def test_handshake_refused_when_no_token_is_configured(db_url: str) -> None:
    app = create_app(ingress_settings(db_url, verify_token=""), configure_logs=False)
    with TestClient(app) as c:
        params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
        assert c.get("/webhook", params=params).status_code == 403


# -- signature -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("", 401),
        ("sha256=", 401),
        ("sha256=xyz", 401),
        ("sha1=" + "0" * 40, 401),
        ("sha256=" + "0" * 63, 401),
        ("sha256=" + "0" * 64, 403),
    ],
    ids=["missing", "empty", "no-hex", "not-hex", "sha1", "short", "mismatch"],
)
def test_bad_signatures_store_nothing(
    client: TestClient, db_url: str, header: str | None, status: int
) -> None:
    body = text_message()
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    response = client.post("/webhook", content=body, headers=headers)
    assert response.status_code == status
    assert stored_counts(db_url) == NOTHING_STORED


def test_signature_with_another_secret_is_a_mismatch(client: TestClient, db_url: str) -> None:
    body = text_message()
    response = client.post("/webhook", content=body, headers=signed_headers(body, "other"))
    assert response.status_code == 403
    assert stored_counts(db_url) == NOTHING_STORED


def test_signature_of_other_bytes_is_a_mismatch(client: TestClient) -> None:
    body = text_message()
    headers = signed_headers(body)
    response = client.post("/webhook", content=body.replace(b"hello", b"hellO"), headers=headers)
    assert response.status_code == 403


def test_rotated_second_secret_is_accepted(client: TestClient, db_url: str) -> None:
    body = text_message()
    response = client.post("/webhook", content=body, headers=signed_headers(body, ROTATED_SECRET))
    assert response.status_code == 200
    assert stored_counts(db_url)["messages"] == 1


def test_uppercase_hex_signature_is_accepted(client: TestClient) -> None:
    body = text_message()
    header = "sha256=" + sign(body, SECRET).removeprefix("sha256=").upper()
    response = client.post("/webhook", content=body, headers={"X-Hub-Signature-256": header})
    assert response.status_code == 200


def test_start_refused_without_a_secret(db_url: str) -> None:
    app = create_app(ingress_settings(db_url, app_secrets=()), configure_logs=False)
    with pytest.raises(IngressConfigError, match="WHATSAPP_APP_SECRET"), TestClient(app):
        pass


def test_dev_flag_starts_without_a_secret_and_skips_the_check(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ingress_settings(db_url, app_secrets=(), allow_unsigned=True)
    app = create_app(settings)  # configures logging: JSON lines on stderr
    with TestClient(app) as c:
        body = text_message()
        assert c.post("/webhook", content=body).status_code == 200
    assert "INSECURE" in capsys.readouterr().err


@pytest.mark.parametrize(("level", "stored_lines"), [("INFO", 0), ("DEBUG", 1)])
def test_a_stored_post_is_logged_at_debug_a_refused_one_as_a_warning(
    db_url: str, capsys: pytest.CaptureFixture[str], level: str, stored_lines: int
) -> None:
    settings = ingress_settings(db_url, log=LogSettings(level=level))
    with TestClient(create_app(settings)) as c:  # configures logging: JSON lines on stderr
        body = text_message()
        stored = c.post("/webhook", content=body, headers=signed_headers(body))
        refused = c.post("/webhook", content=body, headers=signed_headers(body, "wrong secret"))
        metrics = c.get("/metrics").text
    assert (stored.status_code, refused.status_code) == (200, 403)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    stored_log = [line for line in lines if line["event"] == "webhook stored"]
    assert [line["correlation_id"] for line in stored_log] == (
        [stored.headers["x-correlation-id"]] * stored_lines
    )
    refusals = [line for line in lines if line["event"] == "webhook signature refused"]
    assert [(line["level"], line["correlation_id"]) for line in refusals] == [
        ("warning", refused.headers["x-correlation-id"])
    ]
    # at any level the stored POST is counted
    assert 'wapipe_ingress_messages_total{outcome="accepted"} 1.0' in metrics
    assert 'wapipe_ingress_requests_total{route="/webhook",status="200"} 1.0' in metrics


def test_start_fails_fast_when_the_database_is_not_there() -> None:
    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    app = create_app(ingress_settings(url), configure_logs=False)
    with pytest.raises(DatabaseUnavailable, match="cannot connect to"), TestClient(app):
        pass


# -- body size -------------------------------------------------------------------


def padded(body: bytes, size: int) -> bytes:
    """body followed by JSON whitespace up to size bytes (still the same JSON)."""
    return body + b" " * (size - len(body))


def test_body_exactly_at_the_limit_is_accepted(client: TestClient, db_url: str) -> None:
    body = padded(text_message(), LIMIT)
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert stored_counts(db_url)["messages"] == 1


def test_body_one_byte_over_the_limit_is_refused(client: TestClient, db_url: str) -> None:
    body = padded(text_message(), LIMIT + 1)
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 413
    assert stored_counts(db_url) == NOTHING_STORED


def test_chunked_body_over_the_limit_is_refused(client: TestClient, db_url: str) -> None:
    body = padded(text_message(), LIMIT + 10)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            sent.append(start)
            yield body[start : start + 65536]

    response = client.post("/webhook", content=chunks(), headers=signed_headers(body))
    assert response.status_code == 413
    assert stored_counts(db_url) == NOTHING_STORED


def test_a_client_gone_before_its_body_is_complete_gets_a_400_and_nothing_is_stored(
    client: TestClient, db_url: str
) -> None:
    body = text_message()
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook",
        "raw_path": b"/webhook",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "state": client.app_state.copy(),
    }
    portal = client.portal  # the app's event loop, while the client is open
    assert portal is not None
    portal.call(client.app, scope, receive, send)
    assert sent[0]["status"] == 400
    assert sent[1]["body"] == b"client disconnected before the body was complete\n"
    assert stored_counts(db_url) == NOTHING_STORED


def test_malformed_content_length_is_refused(client: TestClient) -> None:
    body = text_message()
    headers = signed_headers(body, **{"Content-Length": "12abc"})
    response = client.post("/webhook", content=body, headers=headers)
    assert response.status_code == 400


# -- bad bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"object": "whatsapp_business_account", "entry": [NaN]}', "not valid JSON"),
        (b'{"text": "caf\xe9"}', "not valid UTF-8"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
    ids=["truncated", "empty", "nan", "latin1", "bom16", "deep"],
)
def test_invalid_json_or_utf8_is_a_400_with_a_one_line_reason(
    client: TestClient, db_url: str, body: bytes, reason: str
) -> None:
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 400
    assert reason in response.text
    assert response.text.count("\n") == 1
    assert stored_counts(db_url) == NOTHING_STORED


@pytest.mark.parametrize(
    "payload",
    [
        {"hello": "world"},
        [1, 2, 3],
        "just a string",
        {"object": "page", "entry": []},
        {"entry": []},
        {"object": ["whatsapp_business_account"], "entry": []},
    ],
    ids=["object", "array", "string", "page", "no-object", "object-not-text"],
)
def test_json_that_is_not_a_webhook_is_a_400_and_stores_nothing(
    client: TestClient, db_url: str, payload: Any
) -> None:
    body = json.dumps(payload).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 400, response.text
    assert stored_counts(db_url) == NOTHING_STORED


# -- a signed WhatsApp webhook is always stored (invariant 6) ---------------------


def stored_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "whatsapp_business_account", "entry": {}},
        {"object": "whatsapp_business_account"},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"metadata": {}, "messages": [{"type": "text"}]}}]}],
        },
        {"object": "whatsapp_business_account", "entry": [{"changes": "?"}, 7]},
    ],
    ids=["entry-object", "no-entry", "message-no-id", "odd-entries"],
)
def test_a_whatsapp_webhook_that_cannot_be_read_is_stored_and_quarantined(
    client: TestClient, db_url: str, payload: Any
) -> None:
    body = json.dumps(payload).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    assert stored_counts(db_url)["events"] == 1
    held = stored_rows(db_url, "SELECT count(*) FROM wapipe.quarantine WHERE status = 'held'")
    assert held[0][0] >= 1


def test_one_username_only_user_among_100_sinks_nothing(client: TestClient, db_url: str) -> None:
    """One POST: 100 phone users and one user known only by BSUID -> 101 stored, 200."""
    doc = json.loads(sample("text_username_only"))
    value = doc["entry"][0]["changes"][0]["value"]
    for i in range(100):
        phone = f"2507881{i:05d}"
        value["contacts"].append({"profile": {"name": f"U{i}"}, "wa_id": phone})
        value["messages"].append(
            {
                "from": phone,
                "id": f"wamid.batch{i:03d}",
                "timestamp": "1780000001",
                "type": "text",
                "text": {"body": f"hi {i}"},
            }
        )
    body = json.dumps(doc).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    assert response.json()["new_messages"] == 101
    counts = stored_counts(db_url)
    assert counts["messages"] == counts["queued"] == 101
    assert counts["conversations"] == 101
    rows = stored_rows(
        db_url,
        "SELECT conversation_key, contact->'identity' FROM wapipe.processed_messages"
        " WHERE from_wa_id LIKE 'RW.%'",
    )
    assert rows == [
        (
            "300100200300400:RW.4471902245518830",
            {
                "user": "RW.4471902245518830",
                "bsuid": "RW.4471902245518830",
                "parent_bsuid": "RW.ENT.9903318274405126",
                "username": "@keza.rw",
                "name": "Keza",
            },
        )
    ]


def test_a_text_with_nul_is_stored_with_its_raw_bytes(client: TestClient, db_url: str) -> None:
    doc = json.loads(text_message("before"))
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "a\u0000b \ud800c"
    body = json.dumps(doc, ensure_ascii=True).encode()
    assert b"\\u0000" in body and b"\\ud800" in body
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    assert response.json()["new_messages"] == 1
    rows = stored_rows(
        db_url,
        "SELECT m.payload #>> '{text,body}', e.raw_body, e.payload ? 'wapipe_raw_body'"
        " FROM wapipe.processed_messages m JOIN wapipe.webhook_events e"
        " ON e.id = m.webhook_event_id",
    )
    assert rows == [("a\ufffdb \ufffdc", body, False)]


# -- correlation id, probes, metrics, routing ------------------------------------


def test_correlation_id_is_kept_when_sane_and_stored(client: TestClient, db_url: str) -> None:
    body = text_message()
    headers = signed_headers(body, **{"X-Correlation-Id": "meta-abc.123"})
    response = client.post("/webhook", content=body, headers=headers)
    assert response.headers["x-correlation-id"] == "meta-abc.123"
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.correlation_id, m.correlation_id FROM wapipe.webhook_events e "
            "JOIN wapipe.processed_messages m ON m.webhook_event_id = e.id"
        ).fetchall()
    assert rows == [("meta-abc.123", "meta-abc.123")]


@pytest.mark.parametrize("given", [b"", b"has space", b"x" * 200, b"<script>", "é".encode()])
def test_insane_correlation_id_is_replaced(client: TestClient, given: bytes) -> None:
    response = client.get("/healthz", headers={"X-Correlation-Id": given})
    cid = response.headers["x-correlation-id"]
    assert cid.encode() != given
    assert len(cid) == 32


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("PUT", "/webhook", 405),
        ("DELETE", "/webhook", 405),
        ("POST", "/healthz", 405),
    ],
)
def test_other_routes_and_methods(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["x-correlation-id"]


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 200, response.text


def test_readyz_reports_pending_migrations(client: TestClient, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM public._yoyo_migration WHERE migration_id = '0002_core_tables'")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "0002_core_tables" in response.text


def test_metrics_count_requests_messages_signatures_and_sizes(client: TestClient) -> None:
    body = text_message()
    client.post("/webhook", content=body, headers=signed_headers(body))
    client.post("/webhook", content=body, headers=signed_headers(body))
    client.post("/webhook", content=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    text = client.get("/metrics").text
    assert 'wapipe_ingress_requests_total{route="/webhook",status="200"} 2.0' in text
    assert 'wapipe_ingress_requests_total{route="/webhook",status="403"} 1.0' in text
    assert 'wapipe_ingress_messages_total{outcome="accepted"} 1.0' in text
    assert 'wapipe_ingress_messages_total{outcome="duplicate"} 1.0' in text
    assert 'wapipe_ingress_signature_failures_total{reason="mismatch"} 1.0' in text
    assert "wapipe_ingress_payload_bytes_count 3.0" in text
    assert "wapipe_ingress_ingest_seconds_count 2.0" in text

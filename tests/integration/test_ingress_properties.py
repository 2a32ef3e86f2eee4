"""Property-based: whatever the body and headers, the ingress never answers 5xx."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress.app import create_app
from tests.integration.test_ingress_app import TestClient, ingress_settings, sample, signed_headers
from wapipe.testing.harness import ScratchDatabases

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Webhook-shaped payloads with random pieces where Meta puts ids, numbers, types.
messages = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=30) | st.integers(),
        "from": st.text(max_size=20) | st.integers() | st.none(),
        "timestamp": st.text(max_size=15) | st.integers(min_value=-(10**15), max_value=10**15),
        "type": st.text(max_size=12) | st.sampled_from(["text", "image", "reaction", "order"]),
        "text": st.fixed_dictionaries({"body": st.text(max_size=50)}),
    },
)
statuses = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=20),
        "status": st.sampled_from(["sent", "delivered", "read", "failed"]) | st.text(max_size=8),
        "timestamp": st.text(max_size=15),
        "recipient_id": st.text(max_size=15),
    },
)
webhooks = st.builds(
    lambda pnid, msgs, sts, extra: {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": pnid},
                            "messages": msgs,
                            "statuses": sts,
                            **extra,
                        },
                    }
                ],
            }
        ],
    },
    st.text(max_size=16) | st.integers() | st.none(),
    st.lists(messages, max_size=3),
    st.lists(statuses, max_size=2),
    st.dictionaries(st.sampled_from(["errors", "contacts"]), json_values, max_size=2),
)


@pytest.fixture(scope="module")
def client(test_dbs: ScratchDatabases) -> Iterator[TestClient]:
    url = test_dbs.clone("props")
    try:
        app = create_app(ingress_settings(url), configure_logs=False)
        app.state.url = url  # the tests read what was stored
        with TestClient(app) as c:
            yield c
    finally:
        test_dbs.drop(url)


@PROPERTY_SETTINGS
@given(
    body=st.binary(max_size=2048),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "X-Hub-Signature-256",
                "Content-Type",
                "X-Correlation-Id",
                "Content-Encoding",
                "X-Other",
            ]
        ),
        header_text,
        max_size=4,
    ),
)
def test_random_bodies_and_headers_never_5xx(
    client: TestClient, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/webhook", content=body, headers=headers)
    assert response.status_code in {400, 401, 403}
    assert response.headers["x-correlation-id"]


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=2048))
def test_correctly_signed_random_bytes_never_5xx(client: TestClient, body: bytes) -> None:
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code in {200, 400}


@PROPERTY_SETTINGS
@given(payload=json_values)
def test_correctly_signed_random_json_never_5xx(client: TestClient, payload: Any) -> None:
    body = json.dumps(payload).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 400, response.text


@PROPERTY_SETTINGS
@given(payload=webhooks)
def test_correctly_signed_webhook_shapes_are_stored(client: TestClient, payload: Any) -> None:
    """A WhatsApp webhook object is always stored and answered 200 (invariant 6)."""
    body = json.dumps(payload).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text


# Any unicode, NUL and lone surrogates included (json.dumps escapes them).
odd_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
# JSON as Meta could send it: no Infinity (not JSON; refused with 400 by design).
finite_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
junk_items = st.one_of(
    finite_json,
    messages,
    st.fixed_dictionaries({"id": st.text(min_size=1, max_size=10), "type": finite_json}),
    st.fixed_dictionaries({"from_user_id": odd_text, "type": st.just("text")}),
)


@PROPERTY_SETTINGS
@given(
    junk=st.lists(junk_items, max_size=4),
    where=st.lists(st.integers(min_value=0, max_value=6), max_size=4),
    bodies=st.lists(odd_text, min_size=2, max_size=2),
    extra=st.dictionaries(st.text(max_size=6), finite_json, max_size=3),
    junk_change=finite_json,
)
def test_mutated_envelopes_keep_every_valid_message(
    client: TestClient,
    test_dbs: ScratchDatabases,
    junk: list[Any],
    where: list[int],
    bodies: list[str],
    extra: dict[str, Any],
    junk_change: Any,
) -> None:
    """Random junk among valid messages (removed fields, wrong types, unknown fields,
    odd unicode): 200, and every valid message is stored and queued."""
    run = uuid.uuid4().hex[:12]
    good = [
        {
            "from": "250788000111",
            "from_user_id": "RW.11112222333",
            "id": f"wamid.{run}.{i}",
            "timestamp": "1780000000",
            "type": "text",
            "text": {"body": text},
        }
        for i, text in enumerate(bodies)
    ]
    items: list[Any] = list(good)
    for n, item in enumerate(junk):
        items.insert(where[n] % (len(items) + 1) if n < len(where) else len(items), item)
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "300100200300400"},
                            "messages": items,
                            **extra,
                        },
                    },
                    junk_change,
                ],
            },
            junk_change,
        ],
    }
    body = json.dumps(doc).encode()
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    with psycopg.connect(client.app.state.url, autocommit=True) as conn:  # type: ignore[attr-defined]
        stored = conn.execute(
            "SELECT count(*) FROM wapipe.processed_messages WHERE wamid LIKE %s"
            " AND status = 'queued'",
            (f"wamid.{run}.%",),
        ).fetchone()
    assert stored == (len(good),)


@PROPERTY_SETTINGS
@given(cut=st.integers(min_value=0, max_value=2000), flip=st.integers(min_value=0, max_value=255))
def test_corrupted_samples_never_5xx(client: TestClient, cut: int, flip: int) -> None:
    original = sample("batch_two_users")
    index = cut % len(original)
    body = original[:index] + bytes([flip]) + original[index + 1 :]
    response = client.post("/webhook", content=body, headers=signed_headers(body))
    assert response.status_code in {200, 400}, response.text

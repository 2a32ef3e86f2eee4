"""Unit tests of worker.graph: the send request and the classification of Meta's answers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from worker.graph import (
    BSUID_NOT_SUPPORTED,
    GraphClient,
    InvalidRecipient,
    Outcome,
    SendResult,
    build_message,
    classify_error,
    mask_recipient,
    parse_response,
    recipient_fields,
)


def test_build_message_wraps_the_outbox_body() -> None:
    body = {"type": "text", "text": {"body": "hello"}}
    assert build_message("250700000001", body, "outbox:7") == {
        "type": "text",
        "text": {"body": "hello"},
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "250700000001",
        "biz_opaque_callback_data": "outbox:7",
    }


@pytest.mark.parametrize("code", [130429, 131000, 131016, 1, 2, 4, 80007, 131056])
def test_retryable_codes(code: int) -> None:
    assert classify_error(code, 400) is Outcome.RETRY


@pytest.mark.parametrize("code", [131047, 131026, 131048, 190, 131062])
def test_non_retryable_codes(code: int) -> None:
    assert classify_error(code, 400) is Outcome.FAIL
    assert classify_error(code, 500) is Outcome.FAIL


def test_http_5xx_without_code_is_retried_other_4xx_are_not() -> None:
    assert classify_error(None, 502) is Outcome.RETRY
    assert classify_error(100, 400) is Outcome.FAIL


def test_parse_success_takes_the_wamid() -> None:
    body = json.dumps({"messages": [{"id": "wamid.X"}]}).encode()
    result = parse_response(200, body, 12)
    assert (result.outcome, result.wamid, result.breaker_ok) == (Outcome.SENT, "wamid.X", True)


def test_parse_error_keeps_code_but_not_details() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "Re-engagement message",
                "code": 131047,
                "error_data": {"details": "secret text 250788123456"},
                "fbtrace_id": "T",
            }
        }
    ).encode()
    result = parse_response(400, body, 5)
    assert result.outcome is Outcome.FAIL
    assert result.error_code == 131047
    assert "secret" not in result.error and "250788123456" not in result.error
    assert result.breaker_ok  # a closed window says nothing about the Graph API's health


def test_parse_non_json_5xx_and_2xx_without_id() -> None:
    assert parse_response(503, b"<html>", 1).outcome is Outcome.RETRY
    assert not parse_response(503, b"<html>", 1).breaker_ok
    assert parse_response(200, b"{}", 1).outcome is Outcome.UNKNOWN
    assert not parse_response(400, b'{"error": {"code": 190}}', 1).breaker_ok


ADDRESSING = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "graph_api" / "send_addressing.json").read_text()
)
TEXT = {"type": "text", "text": {"body": "hello"}}


@pytest.mark.parametrize("case", ADDRESSING["cases"], ids=lambda c: c["name"])
def test_send_request_addresses_each_kind_of_recipient_as_the_cloud_api_documents(
    case: dict[str, Any],
) -> None:
    message = build_message(case["recipient"], TEXT, "outbox:9")
    assert message == {
        "type": "text",
        "text": {"body": "hello"},
        "messaging_product": "whatsapp",
        **case["address"],
        "biz_opaque_callback_data": "outbox:9",
    }
    # Meta lets "to" win when both are present: a BSUID send must carry no "to"
    assert not ("to" in message and "recipient" in message)


@pytest.mark.parametrize("recipient", ADDRESSING["refused"])
def test_an_address_that_is_no_phone_bsuid_or_group_is_refused(recipient: str) -> None:
    with pytest.raises(InvalidRecipient):
        recipient_fields(recipient)


def test_address_keys_in_the_body_never_override_the_envelope() -> None:
    body = {**TEXT, "to": "250700000999", "recipient": "RW.1", "recipient_type": "group"}
    message = build_message("RW.4471902245518830", body, "outbox:1")
    assert "to" not in message
    assert (message["recipient"], message["recipient_type"]) == (
        "RW.4471902245518830",
        "individual",
    )


def test_bsuid_not_supported_is_failed_not_retried_nor_counted_against_the_api() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "Business-scoped User ID recipients are not supported for this message",
                "code": BSUID_NOT_SUPPORTED,
                "fbtrace_id": "T",
            }
        }
    ).encode()
    result = parse_response(400, body, 3)
    assert (result.outcome, result.error_code, result.breaker_ok) == (Outcome.FAIL, 131062, True)
    assert "not supported" in result.error


@pytest.mark.parametrize(
    ("recipient", "masked"),
    [
        ("250788123456", "+250788***456"),
        ("RW.4471902245518830", "RW.44***830"),
        ("RW.ENT.9903318274405126", "RW.EN***126"),
        ("group:120363027445891234", "group:+120363***234"),
        ("RW.12345", "RW***"),
    ],
)
def test_logs_get_a_masked_recipient(recipient: str, masked: str) -> None:
    assert mask_recipient(recipient) == masked
    assert recipient.removeprefix("group:") not in mask_recipient(recipient)


def test_an_invalid_address_fails_without_a_request() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    async def send() -> SendResult:
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(transport=transport) as client:
            graph = GraphClient("http://graph.invalid/v21.0", "t", client=client)
            return await graph.send("300100200300400", "someone@example", TEXT, "outbox:2")

    result = asyncio.run(send())
    assert calls == []
    assert (result.outcome, result.http_status, result.breaker_ok) == (Outcome.FAIL, None, True)
    assert "someone@example" not in result.error

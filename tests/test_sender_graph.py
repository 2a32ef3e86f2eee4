"""Unit tests of worker.graph: the send request and the classification of Meta's answers."""

from __future__ import annotations

import json

import pytest

from worker.graph import Outcome, build_message, classify_error, parse_response


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


@pytest.mark.parametrize("code", [131047, 131026, 131048, 190])
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

"""WhatsApp Cloud API (Graph) client of the sender: build the send request, classify the answer.

`POST {api_url}/{phone_number_id}/messages` with the outbox body plus
messaging_product, recipient_type, `to` and biz_opaque_callback_data
("outbox:<id>", echoed by status webhooks: the link that settles a send whose
outcome was lost). Every answer becomes one typed `SendResult`:

- sent: HTTP 2xx with messages[0].id (the wamid);
- retry: codes 130429, 131000, 131016, 1, 2, 4, 80007, any HTTP 5xx, and
  network errors before the request went out (connect errors) - with backoff;
  131056 (pair rate limit) is retried with the per-recipient pair backoff;
- fail: 131047 (24-hour window closed), 131026, 131048, 190 (token: alert),
  and any other Meta error on a 4xx - retrying cannot help;
- unknown: the request may have reached Meta but no answer came (read timeout,
  connection dropped mid-answer): not retried blindly, see worker/sender.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx

__all__ = [
    "BREAKER_FAILURE_CODES",
    "NON_RETRYABLE_CODES",
    "PAIR_RATE_LIMIT",
    "RETRYABLE_CODES",
    "TOKEN_INVALID",
    "WINDOW_CLOSED",
    "GraphClient",
    "Outcome",
    "SendResult",
    "build_message",
    "classify_error",
    "parse_response",
]

# Meta error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
RETRYABLE_CODES = frozenset({130429, 131000, 131016, 1, 2, 4, 80007})
PAIR_RATE_LIMIT = 131056
WINDOW_CLOSED = 131047
TOKEN_INVALID = 190
NON_RETRYABLE_CODES = frozenset({WINDOW_CLOSED, 131026, 131048, TOKEN_INVALID})
# Outcomes that say the Graph API (or our access to it) is unwell, as opposed to
# a problem with one message or one recipient: these count against the breaker.
BREAKER_FAILURE_CODES = frozenset({*RETRYABLE_CODES, TOKEN_INVALID})


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    duration_ms: int
    wamid: str | None = None
    http_status: int | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    # Short and free of message text and phone numbers: stored and logged.
    error: str = ""
    fbtrace_id: str | None = None

    @property
    def breaker_ok(self) -> bool:
        """False when this outcome should count as a Graph API failure for the breaker."""
        if self.outcome is Outcome.SENT:
            return True
        if self.http_status is None or self.http_status >= 500:
            return False  # network trouble or server error
        return self.error_code not in BREAKER_FAILURE_CODES


def build_message(to_wa_id: str, body: dict[str, Any], callback_data: str) -> dict[str, Any]:
    """The JSON of one send: the outbox body plus the envelope (the envelope wins on conflicts)."""
    return {
        **body,
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to_wa_id,
        "biz_opaque_callback_data": callback_data,
    }


def classify_error(error_code: int | None, http_status: int) -> Outcome:
    """RETRY or FAIL for a Meta error answer (the table in the module docstring)."""
    if error_code in RETRYABLE_CODES or error_code == PAIR_RATE_LIMIT:
        return Outcome.RETRY
    if error_code in NON_RETRYABLE_CODES:
        return Outcome.FAIL
    if http_status >= 500 or http_status == 429:
        return Outcome.RETRY
    return Outcome.FAIL


def parse_response(http_status: int, content: bytes, duration_ms: int) -> SendResult:
    """A SendResult from the HTTP status and body of Meta's answer."""
    data: Any
    try:
        data = json.loads(content) if content else None
    except ValueError:
        data = None
    if 200 <= http_status < 300:
        wamid = _wamid(data)
        if wamid:
            return SendResult(Outcome.SENT, duration_ms, wamid=wamid, http_status=http_status)
        # Accepted but no id to link statuses to: Meta may have sent it; do not resend blindly.
        return SendResult(
            Outcome.UNKNOWN,
            duration_ms,
            http_status=http_status,
            error=f"HTTP {http_status} without messages[0].id",
        )
    err = data.get("error") if isinstance(data, dict) else None
    code = _int_or_none(err.get("code")) if isinstance(err, dict) else None
    subcode = _int_or_none(err.get("error_subcode")) if isinstance(err, dict) else None
    trace = err.get("fbtrace_id") if isinstance(err, dict) else None
    title = ""
    if isinstance(err, dict):
        # error_data.details may quote the message; keep Meta's generic message only.
        title = str(err.get("message") or err.get("type") or "")[:200]
    text = f"HTTP {http_status}" + (f" code {code}" if code is not None else "")
    if title:
        text += f": {title}"
    return SendResult(
        classify_error(code, http_status),
        duration_ms,
        http_status=http_status,
        error_code=code,
        error_subcode=subcode,
        error=text,
        fbtrace_id=trace if isinstance(trace, str) else None,
    )


def _wamid(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    messages = data.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and wamid:
            return wamid
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


class GraphClient:
    """Sends one message at a time over a shared httpx.AsyncClient (keep-alive)."""

    def __init__(
        self,
        api_url: str,
        access_token: str,
        *,
        timeout_seconds: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if client is not None:
            self._client.headers["Authorization"] = f"Bearer {access_token}"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def url_for(self, phone_number_id: str) -> str:
        return f"{self.api_url}/{phone_number_id}/messages"

    async def send(
        self, phone_number_id: str, to_wa_id: str, body: dict[str, Any], callback_data: str
    ) -> SendResult:
        """POST one message; never raises for HTTP or network trouble (see SendResult)."""
        started = time.monotonic()
        try:
            response = await self._client.post(
                self.url_for(phone_number_id), json=build_message(to_wa_id, body, callback_data)
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached Meta: safe to retry.
            return SendResult(Outcome.RETRY, _ms_since(started), error=_network_text(exc))
        except httpx.TransportError as exc:
            # Read/write timeout, connection dropped: the request may have been accepted.
            return SendResult(Outcome.UNKNOWN, _ms_since(started), error=_network_text(exc))
        return parse_response(response.status_code, response.content, _ms_since(started))


def _ms_since(started: float) -> int:
    return max(int((time.monotonic() - started) * 1000), 0)


def _network_text(exc: httpx.TransportError) -> str:
    detail = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"network error {type(exc).__name__}" + (f": {detail}" if detail else "")

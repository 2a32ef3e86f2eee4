"""WhatsApp Cloud API (Graph) client of the sender: build the send request, classify the answer.

`POST {api_url}/{phone_number_id}/messages` with the outbox body plus
messaging_product, the address of the recipient and biz_opaque_callback_data
("outbox:<id>", echoed by status webhooks: the link that settles a send whose
outcome was lost).

The outbox row's recipient is the best address wapipe knows for the user, and
`recipient_fields` turns it into the Cloud API's fields:

- a phone number (digits only; a leading "+" is dropped): `"to": "<phone>"`;
- a business-scoped user ID (BSUID: two-letter country code, a dot,
  alphanumerics, e.g. `RW.4471902245518830`; parent BSUIDs such as
  `RW.ENT.9903318274405126`): `"recipient": "<BSUID>"` and no `to` (Meta lets
  `to` win when both are present, so a `to` or `recipient` inside the body is
  dropped);
- `group:<group_id>`: `"recipient_type": "group", "to": "<group_id>"`.
Anything else is refused before any request (FAIL, nothing sent).

Every answer becomes one typed `SendResult`:

- sent: HTTP 2xx with messages[0].id (the wamid);
- retry: codes 130429, 131000, 131016, 1, 2, 4, 80007, any HTTP 5xx, and
  network errors before the request went out (connect errors) - with backoff;
  131056 (pair rate limit) is retried with the per-recipient pair backoff;
- fail: 131047 (24-hour window closed), 131026, 131048, 190 (token: alert),
  131062 (BSUID recipients are not supported for this message, e.g. some
  template kinds), and any other Meta error on a 4xx - retrying cannot help;
- unknown: the request may have reached Meta but no answer came (read timeout,
  connection dropped mid-answer): not retried blindly, see worker/sender.py.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import anyio
import httpx

__all__ = [
    "BREAKER_FAILURE_CODES",
    "BSUID_NOT_SUPPORTED",
    "GROUP_PREFIX",
    "MEDIA_GONE_CODES",
    "NON_RETRYABLE_CODES",
    "PAIR_RATE_LIMIT",
    "RETRYABLE_CODES",
    "TOKEN_INVALID",
    "WINDOW_CLOSED",
    "GraphCalls",
    "GraphClient",
    "InvalidRecipient",
    "MediaFetchError",
    "MediaInfo",
    "MediaTooLarge",
    "Outcome",
    "SendResult",
    "build_message",
    "classify_error",
    "mask_recipient",
    "media_info_from",
    "pacing_bucket",
    "parse_ack",
    "parse_response",
    "recipient_fields",
    "typing_body",
]

# Meta error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
RETRYABLE_CODES = frozenset({130429, 131000, 131016, 1, 2, 4, 80007})
PAIR_RATE_LIMIT = 131056
WINDOW_CLOSED = 131047
TOKEN_INVALID = 190
# "Business-scoped User ID recipients are not supported for this message"
BSUID_NOT_SUPPORTED = 131062
NON_RETRYABLE_CODES = frozenset({WINDOW_CLOSED, 131026, 131048, TOKEN_INVALID, BSUID_NOT_SUPPORTED})
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
        if self.outcome is Outcome.FAIL and self.http_status is None:
            return True  # refused before any request (bad address): not the API's fault
        if self.http_status is None or self.http_status >= 500:
            return False  # network trouble or server error
        return self.error_code not in BREAKER_FAILURE_CODES


GROUP_PREFIX = "group:"
_PHONE_RE = re.compile(r"\+?([0-9]{5,20})")
# Country code, then one or more dot-separated alphanumeric parts (parent BSUIDs have two).
_BSUID_RE = re.compile(r"[A-Z]{2}(?:\.[A-Za-z0-9]+){1,3}")
_GROUP_ID_RE = re.compile(r"[A-Za-z0-9._=-]{1,128}")
# Body keys that address a message: only the envelope may set them.
_ADDRESS_KEYS = ("to", "recipient", "recipient_type")


class InvalidRecipient(ValueError):
    """An outbox recipient that is neither a phone number, a BSUID nor group:<id>."""


def recipient_fields(recipient: str) -> dict[str, str]:
    """The Cloud API address fields for an outbox recipient (see the module docstring)."""
    if recipient.startswith(GROUP_PREFIX):
        group_id = recipient[len(GROUP_PREFIX) :]
        if _GROUP_ID_RE.fullmatch(group_id):
            return {"recipient_type": "group", "to": group_id}
    elif phone := _PHONE_RE.fullmatch(recipient):
        return {"recipient_type": "individual", "to": phone.group(1)}
    elif _BSUID_RE.fullmatch(recipient):
        return {"recipient_type": "individual", "recipient": recipient}
    raise InvalidRecipient(f"not a phone number, BSUID or group:<id>: {mask_recipient(recipient)}")


def build_message(recipient: str, body: dict[str, Any], callback_data: str) -> dict[str, Any]:
    """The JSON of one send: the outbox body plus the envelope (the envelope wins on conflicts).

    Raises InvalidRecipient for an address the Cloud API cannot take."""
    message = {k: v for k, v in body.items() if k not in _ADDRESS_KEYS}
    message.update(
        {
            "messaging_product": "whatsapp",
            **recipient_fields(recipient),
            "biz_opaque_callback_data": callback_data,
        }
    )
    return message


def mask_recipient(recipient: str) -> str:
    """A recipient fit for a log line: the kind and a few characters, never the whole identifier.

    250788123456 -> +250788***456, RW.4471902245518830 -> RW.44***830,
    RW.ENT.9903318274405126 -> RW.EN***126, group:120363012345678901 -> group:+120363***901."""
    if recipient.startswith(GROUP_PREFIX):
        return GROUP_PREFIX + mask_recipient(recipient[len(GROUP_PREFIX) :])
    if phone := _PHONE_RE.fullmatch(recipient):
        digits = phone.group(1)
        return f"+{digits[:6]}***{digits[-3:]}" if len(digits) >= 10 else "***"
    if len(recipient) < 12:
        return f"{recipient[:2]}***"
    return f"{recipient[:5]}***{recipient[-3:]}"


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
        self, phone_number_id: str, recipient: str, body: dict[str, Any], callback_data: str
    ) -> SendResult:
        """POST one message; never raises for HTTP or network trouble (see SendResult)."""
        started = time.monotonic()
        try:
            message = build_message(recipient, body, callback_data)
        except InvalidRecipient as exc:
            return SendResult(Outcome.FAIL, 0, error=str(exc))
        try:
            response = await self._client.post(self.url_for(phone_number_id), json=message)
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


# -- read receipt + typing indicator, media (issue 16) ---------------------------------

# Meta's answers that say a webhook's media id is gone for good (ids expire 7 days
# after the webhook): the Graph API's "object does not exist" (code 100, subcode 33)
# and the Cloud API's media download errors. Retrying cannot bring it back.
MEDIA_GONE_CODES = frozenset({100, 131052, 131053})


def typing_body(wamid: str, typing: bool = True) -> dict[str, Any]:
    """The one call that marks an inbound message read and shows "typing…" to its sender
    (dismissed by the reply or after 25 s); typing=False: mark read only."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


def pacing_bucket(rate_per_second: int) -> tuple[int, str]:
    """(max_per_window, per) of the per-number send bucket check_rate_limit('send:<id>')
    that start_outbox_send spends: a tenth of a second's worth of tokens refilled at the
    full rate (worker/sender.py computes the same). Any caller of the bucket must pass the
    same two values, or it changes the bucket's capacity for the sender."""
    burst = max(1, rate_per_second // 10)
    return burst, f"{burst * 1000 / rate_per_second} milliseconds"


def parse_ack(http_status: int, content: bytes, duration_ms: int) -> SendResult:
    """A SendResult for a call whose success answer is {"success": true} (mark read +
    typing): SENT (no wamid) on 2xx, else classified like a send."""
    if 200 <= http_status < 300:
        return SendResult(Outcome.SENT, duration_ms, http_status=http_status)
    return parse_response(http_status, content, duration_ms)


@dataclass(frozen=True)
class MediaInfo:
    """GET {api}/{media_id}: where to download it (the URL lives for minutes) and what it is."""

    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | None = None


class MediaFetchError(Exception):
    """A media id -> URL -> bytes step failed; `gone`: expired or unknown, never retry."""

    def __init__(self, message: str, *, gone: bool = False, http_status: int | None = None):
        super().__init__(message)
        self.gone = gone
        self.http_status = http_status

    @property
    def breaker_failure(self) -> bool:
        """Counts against the media breaker: network trouble or a server error (not a
        missing object, which is the message's problem, not the API's)."""
        return not self.gone and (self.http_status is None or self.http_status >= 500)


class MediaTooLarge(Exception):
    """The file is larger than the configured limit (known from Meta or while reading)."""

    def __init__(self, size: int | None) -> None:
        super().__init__(f"larger than the limit ({size if size is not None else '?'} bytes)")
        self.size = size


def media_info_from(http_status: int, content: bytes) -> MediaInfo:
    """MediaInfo from Meta's answer to GET /{media_id}; MediaFetchError otherwise."""
    try:
        data: Any = json.loads(content) if content else None
    except ValueError:
        data = None
    if 200 <= http_status < 300 and isinstance(data, dict) and isinstance(data.get("url"), str):
        size = _int_or_none(data.get("file_size"))
        return MediaInfo(
            url=data["url"],
            mime_type=data.get("mime_type") if isinstance(data.get("mime_type"), str) else None,
            sha256=data.get("sha256") if isinstance(data.get("sha256"), str) else None,
            file_size=size,
        )
    err = data.get("error") if isinstance(data, dict) else None
    code = _int_or_none(err.get("code")) if isinstance(err, dict) else None
    gone = http_status in (404, 410) or code in MEDIA_GONE_CODES
    text = f"media id lookup: HTTP {http_status}" + (f" code {code}" if code is not None else "")
    raise MediaFetchError(text, gone=gone, http_status=http_status)


class GraphCalls:
    """The worker's own Graph API calls besides sends: mark read + typing, media id -> URL ->
    bytes. One keep-alive client with the access token; every call has its own timeout."""

    def __init__(
        self, api_url: str, access_token: str, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            headers={"Authorization": f"Bearer {access_token}"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        if client is not None:
            self._client.headers["Authorization"] = f"Bearer {access_token}"
        # A typing call is built here and sent as is (like worker.agents' agent calls):
        # httpx's per-call merging of client URL, headers and cookies is most of the
        # client-side CPU of a call, and the worker makes one per turn.
        self._typing_headers = [
            (b"Authorization", f"Bearer {access_token}".encode()),
            (b"Content-Type", b"application/json"),
        ]
        self._typing_urls: dict[str, httpx.URL] = {}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def warm_up(self) -> None:
        """Load the client's network backend for this event loop (anyio's asyncio backend,
        which httpx imports on its first request: tens of milliseconds on a loaded
        machine, paid by the first typing call otherwise). No connection is opened and
        nothing is sent: the Graph API sees no request at start."""
        await anyio.sleep(0)

    async def typing(
        self, phone_number_id: str, wamid: str, timeout_seconds: float, typing: bool = True
    ) -> SendResult:
        """Mark `wamid` read and show typing; never raises for HTTP or network trouble."""
        started = time.monotonic()
        url = self._typing_urls.get(phone_number_id)
        if url is None:
            url = self._typing_urls[phone_number_id] = httpx.URL(
                f"{self.api_url}/{phone_number_id}/messages"
            )
        request = httpx.Request(
            "POST",
            url,
            content=json.dumps(typing_body(wamid, typing), separators=(",", ":")).encode(),
            headers=self._typing_headers,
            extensions={"timeout": httpx.Timeout(timeout_seconds).as_dict()},
        )
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException as exc:
            return SendResult(Outcome.UNKNOWN, _ms_since(started), error=_network_text(exc))
        except httpx.TransportError as exc:
            return SendResult(Outcome.RETRY, _ms_since(started), error=_network_text(exc))
        return parse_ack(response.status_code, response.content, _ms_since(started))

    async def media_info(self, media_id: str, timeout_seconds: float) -> MediaInfo:
        """GET {api}/{media_id}: its download URL, mime type, sha256 and size."""
        try:
            response = await self._client.get(
                f"{self.api_url}/{media_id}", timeout=_media_timeout(timeout_seconds)
            )
        except httpx.TransportError as exc:
            raise MediaFetchError(_network_text(exc)) from exc
        return media_info_from(response.status_code, response.content)

    async def download(self, url: str, max_bytes: int, timeout_seconds: float) -> bytes:
        """The bytes at a media URL (with the access token), read up to max_bytes:
        MediaTooLarge beyond it, MediaFetchError (gone for 404/410) on failure."""
        try:
            async with self._client.stream(
                "GET", url, timeout=_media_timeout(timeout_seconds)
            ) as response:
                if response.status_code >= 300:
                    raise MediaFetchError(
                        f"media download: HTTP {response.status_code}",
                        gone=response.status_code in (404, 410),
                        http_status=response.status_code,
                    )
                declared = _int_or_none(response.headers.get("content-length"))
                if declared is not None and declared > max_bytes:
                    raise MediaTooLarge(declared)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(None)
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as exc:
            raise MediaFetchError(_network_text(exc)) from exc


def _media_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))

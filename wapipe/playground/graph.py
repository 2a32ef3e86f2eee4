"""The Graph API stand-in's shapes: what it accepts, what it answers, the status webhooks.

Pure functions, no I/O. The shapes follow the WhatsApp Cloud API:

- a send: `POST /{version}/{phone_number_id}/messages` with `messaging_product`,
  `to` (a phone number) or `recipient` (a business-scoped user id, BSUID), `type`
  and the object of that type; answered with `contacts` (`input` + `wa_id`, or
  `input` + `user_id`) and `messages[0].id`, a fresh wamid;
- mark as read (+ typing indicator): `{"messaging_product": "whatsapp",
  "status": "read", "message_id": …, "typing_indicator": {"type": "text"}}`,
  answered `{"success": true}`;
- a refused request: Meta's error object (`error.message`, `type`, `code`,
  `fbtrace_id`), code 100 for a bad parameter, HTTP 400;
- an unknown media id: Meta's "Unsupported get request" (code 100, subcode 33), HTTP 404
  (media ids, URLs and uploads: wapipe.playground.media);
- status webhooks (sent, delivered, read) addressed as the send was: `recipient_id`
  for a phone number, `recipient_user_id` (+ the contact) for a BSUID, with the
  send's `biz_opaque_callback_data` echoed.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MESSAGE_TYPES",
    "STATUS_ORDER",
    "WABA_ID",
    "GraphRequestError",
    "MarkRead",
    "Send",
    "error_answer",
    "media_not_found",
    "new_wamid",
    "parse_request",
    "send_answer",
    "status_webhook",
]

WABA_ID = "900800700600500"
# What a business may send (the Cloud API's message types).
MESSAGE_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    }
)
# The statuses the stand-in reports, in the order a phone reports them.
STATUS_ORDER = ("sent", "delivered", "read")


class GraphRequestError(Exception):
    """A request the Cloud API would refuse: answered with Meta's error object."""

    def __init__(self, message: str, code: int = 100, http_status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


@dataclass(frozen=True)
class Send:
    """A message the business sends to a user."""

    to: str | None  # phone number as given
    recipient: str | None  # BSUID
    message_type: str
    payload: dict[str, Any]
    callback_data: str | None

    @property
    def wa_id(self) -> str | None:
        """The phone number as Meta normalises it: digits only."""
        return "".join(c for c in self.to if c.isdigit()) if self.to else None

    @property
    def address(self) -> str:
        """Who it goes to: the BSUID when given, else the phone number."""
        return self.recipient or self.wa_id or ""


@dataclass(frozen=True)
class MarkRead:
    """Mark a user's message as read, optionally showing the typing indicator."""

    message_id: str
    typing: bool


def parse_request(payload: Any) -> Send | MarkRead:
    """A `/messages` request body as a Send or a MarkRead; GraphRequestError when refused."""
    if not isinstance(payload, dict):
        raise GraphRequestError("(#100) The request body must be a JSON object")
    if payload.get("messaging_product") != "whatsapp":
        raise GraphRequestError("(#100) The parameter messaging_product is required.")
    if "status" in payload:
        if payload.get("status") != "read":
            raise GraphRequestError("(#100) Param status must be one of {read}")
        message_id = payload.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise GraphRequestError("(#100) The parameter message_id is required.")
        typing = payload.get("typing_indicator")
        if typing is not None and (not isinstance(typing, dict) or typing.get("type") != "text"):
            raise GraphRequestError("(#100) Param typing_indicator[type] must be one of {text}")
        return MarkRead(message_id, typing is not None)
    to, recipient = payload.get("to"), payload.get("recipient")
    if to is not None and (not isinstance(to, str) or not any(c.isdigit() for c in to)):
        raise GraphRequestError("(#100) Invalid parameter: to")
    if recipient is not None and (not isinstance(recipient, str) or not recipient.strip()):
        raise GraphRequestError("(#100) Invalid parameter: recipient")
    if not to and not recipient:
        raise GraphRequestError("(#100) The parameter to is required.")
    message_type = payload.get("type", "text")
    if message_type not in MESSAGE_TYPES:
        choices = ", ".join(sorted(MESSAGE_TYPES))
        raise GraphRequestError(f"(#100) Param type must be one of {{{choices}}}")
    content = payload.get(message_type)
    if not isinstance(content, dict):
        raise GraphRequestError(f"(#100) The parameter {message_type} is required.")
    if message_type == "text" and not isinstance(content.get("body"), str):
        raise GraphRequestError("(#100) The parameter text['body'] is required.")
    if message_type == "interactive" and not isinstance(content.get("action"), dict):
        raise GraphRequestError("(#100) The parameter interactive['action'] is required.")
    if message_type == "template" and not isinstance(content.get("name"), str):
        raise GraphRequestError("(#100) The parameter template['name'] is required.")
    callback = payload.get("biz_opaque_callback_data")
    return Send(
        to=to or None,
        recipient=recipient or None,
        message_type=message_type,
        payload=payload,
        callback_data=callback if isinstance(callback, str) and callback else None,
    )


def new_wamid() -> str:
    """A fresh id in the shape of Meta's (wamid. + base64)."""
    raw = b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)
    return "wamid." + base64.b64encode(raw).decode()


def send_answer(send: Send, wamid: str) -> dict[str, Any]:
    """The Cloud API's answer to an accepted send."""
    contact = (
        {"input": send.recipient, "user_id": send.recipient}
        if send.recipient
        else {"input": send.to, "wa_id": send.wa_id}
    )
    message: dict[str, str] = {"id": wamid}
    if send.message_type == "template":
        message["message_status"] = "accepted"
    return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}


def error_answer(error: GraphRequestError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": "OAuthException",
            "code": error.code,
            "fbtrace_id": "PlaygroundTrace",
        }
    }


def media_not_found(media_id: str) -> dict[str, Any]:
    """Meta's answer for an unknown (or expired) media id."""
    return {
        "error": {
            "message": (
                f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation."
            ),
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": "PlaygroundTrace",
        }
    }


def status_webhook(
    wamid: str,
    status: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str | None,
    user_id: str | None,
    name: str,
    username: str | None,
    callback_data: str | None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The status webhook Meta posts for a message the business sent."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
    }
    if wa_id:
        entry["recipient_id"] = wa_id
    if user_id:
        entry["recipient_user_id"] = user_id
    if callback_data:
        entry["biz_opaque_callback_data"] = callback_data
    if status != "read":
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
        "statuses": [entry],
    }
    if user_id:
        profile: dict[str, str] = {"name": name}
        if username:
            profile["username"] = username
        contact: dict[str, Any] = {"profile": profile, "user_id": user_id}
        if wa_id:
            contact["wa_id"] = wa_id
        value["contacts"] = [contact]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }

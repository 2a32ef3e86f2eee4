"""Builders of WhatsApp webhook payloads in Meta's documented shape, for tests and benches."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "whatsapp"
BUSINESS_NUMBER_ID = "300100200300400"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def text_message(
    from_wa_id: str, body: str, wamid: str | None = None, timestamp: int | None = None
) -> dict[str, Any]:
    return {
        "from": from_wa_id,
        "id": wamid or f"wamid.test.{uuid.uuid4().hex}",
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def webhook(
    messages: list[dict[str, Any]], phone_number_id: str = BUSINESS_NUMBER_ID
) -> dict[str, Any]:
    """One entry, one change holding every message given."""
    senders = sorted({m["from"] for m in messages})
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
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [
                                {"profile": {"name": "Test User"}, "wa_id": s} for s in senders
                            ],
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }

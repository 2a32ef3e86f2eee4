"""What PostgreSQL's jsonb cannot hold, made storable without losing the POST.

jsonb refuses the escape \\u0000 and a lone UTF-16 surrogate (\\ud800 with no pair),
both valid JSON. A signed POST from Meta is never refused for its content
(invariant 6), so such a body is stored with U+FFFD in their place, and its raw
bytes travel beside it (`wapipe_raw_body`, base64) into webhook_events.raw_body.
Written by hand: no JSON library offers this repair.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

RAW_BODY_KEY = "wapipe_raw_body"
REPLACEMENT = "\ufffd"
# A cheap look before the walk: the escapes that may hide a NUL or a surrogate.
_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _repair(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        fixed = _UNSTORABLE.sub(REPLACEMENT, value)
        return fixed, fixed != value
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            nk, ck = _repair(k)
            nv, cv = _repair(v)
            out[nk] = nv
            changed = changed or ck or cv
        return out, changed
    if isinstance(value, list):
        items = [_repair(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def storable(text: str, parsed: Any, raw: bytes) -> str:
    """The JSON text to store for a POST: `text` itself, or, when it holds what jsonb
    refuses, the repaired document with the raw bytes beside it."""
    if not _SUSPECT.search(text):
        return text
    fixed, changed = _repair(parsed)
    if not changed or not isinstance(fixed, dict):
        return text
    fixed[RAW_BODY_KEY] = base64.b64encode(raw).decode("ascii")
    return json.dumps(fixed, ensure_ascii=False, separators=(",", ":"))

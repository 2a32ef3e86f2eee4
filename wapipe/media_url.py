"""Signed, expiring URLs of stored media (issue 16): the worker signs, the ingress checks.

`GET {public_url}/media/{id}?exp=<unix seconds>&sig=<hex>` where sig is
HMAC-SHA256(key, "<id>.<exp>"). An agent reads a user's photo or voice note with
it without ever holding the business's access token; the URL stops working at
`exp`. The key is WAPIPE_MEDIA_SIGNING_KEY, else one derived from the first
WHATSAPP_APP_SECRET (so a deployment that has an app secret needs nothing more);
with neither, no URL is signed and the ingress serves none.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from wapipe.settings import media_signing_key

_DERIVE_LABEL = b"wapipe media url v1"


def signing_key(
    app_secrets: Sequence[str], env: Mapping[str, str] | None = None, *, explicit_key: str = ""
) -> bytes | None:
    """The explicit key (Settings.media_signing_key; else WAPIPE_MEDIA_SIGNING_KEY of `env`,
    default the process's), else a key derived from the first app secret, else None."""
    explicit = explicit_key.strip() or media_signing_key(env)
    if explicit:
        return explicit.encode()
    if app_secrets:
        return hmac.new(app_secrets[0].encode(), _DERIVE_LABEL, hashlib.sha256).digest()
    return None


def signature(key: bytes, media_id: int, expires_at: int) -> str:
    return hmac.new(key, f"{media_id}.{expires_at}".encode(), hashlib.sha256).hexdigest()


def signed_url(
    public_url: str, key: bytes, media_id: int, ttl_seconds: int, now: float | None = None
) -> str:
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    sig = signature(key, media_id, expires_at)
    return f"{public_url.rstrip('/')}/media/{media_id}?exp={expires_at}&sig={sig}"


def check(
    key: bytes, media_id: int, exp: str | None, sig: str | None, now: float | None = None
) -> str | None:
    """None when the URL is good, else why not ("missing", "expired", "bad signature")."""
    if not exp or not sig or not exp.isdigit():
        return "missing"
    expected = signature(key, media_id, int(exp))
    if not hmac.compare_digest(expected, sig.lower()):
        return "bad signature"
    if int(exp) < (time.time() if now is None else now):
        return "expired"
    return None

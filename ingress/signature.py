"""X-Hub-Signature-256: HMAC-SHA256 of the raw body with the app secret(s)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re

_HEADER_RE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class SignatureCheck(enum.Enum):
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"


def sign(body: bytes, secret: str) -> str:
    """The header value Meta sends for body: sha256=<hex>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(header: str | None, body: bytes, secrets: tuple[str, ...]) -> SignatureCheck:
    """VALID when any of the secrets (rotation) signs body as the header says."""
    if header is None or not header.strip():
        return SignatureCheck.MISSING
    match = _HEADER_RE.fullmatch(header.strip())
    if match is None:
        return SignatureCheck.MALFORMED
    given = bytes.fromhex(match.group(1))
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        # No early exit: every secret is tried, each compare in constant time.
        ok |= hmac.compare_digest(expected, given)
    return SignatureCheck.VALID if ok else SignatureCheck.MISMATCH

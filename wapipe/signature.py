"""Who may call: X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the app
secret(s)) for webhooks, and a bearer token for the status page and the playground.

Here, in the shared package, because the ingress checks what the CLI and the
playground sign."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re

from starlette.requests import Request

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
        expected = hmac.digest(secret.encode(), body, "sha256")  # one C call
        # No early exit: every secret is tried, each compare in constant time.
        ok |= hmac.compare_digest(expected, given)
    return SignatureCheck.VALID if ok else SignatureCheck.MISMATCH


def token_accepted(request: Request, expected: str) -> bool:
    """Bearer header or ?token=, compared in constant time."""
    presented = ""
    auth = request.headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        presented = credentials.strip()
    else:
        presented = request.query_params.get("token", "")
    return hmac.compare_digest(presented.encode(), expected.encode())

"""The webhook signature check; it lives in wapipe.signature (the CLI and the
playground sign with it too)."""

from __future__ import annotations

from wapipe.signature import SignatureCheck, check_signature, sign

__all__ = ["SignatureCheck", "check_signature", "sign"]

"""wapipe: the reliable backbone behind a WhatsApp business assistant."""

from __future__ import annotations

__version__ = "0.1.0"

"""Connections to PostgreSQL, with unreachable databases turned into one clear error."""

from __future__ import annotations

from typing import Any

import psycopg

from wapipe.errors import DatabaseUnavailable
from wapipe.settings import mask_url

CONNECT_TIMEOUT_SECONDS = 3


def connect(url: str, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
    """A synchronous connection; DatabaseUnavailable names the (masked) URL on failure."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    try:
        return psycopg.connect(url, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {mask_url(url)}: {first_line(str(exc))}"
        ) from exc
    except psycopg.ProgrammingError as exc:  # malformed URL / conninfo
        raise DatabaseUnavailable(
            f"invalid database url {mask_url(url)}: {first_line(str(exc))}"
        ) from exc


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"

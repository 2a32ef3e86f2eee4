"""Domain errors of the shared package; the CLI prints them as one line."""

from __future__ import annotations


class WapipeError(Exception):
    """An error the user can act on; its message is one clear line."""


class DatabaseUnavailable(WapipeError):
    """The database named by the URL cannot be reached."""


class ClusterError(WapipeError):
    """The local PostgreSQL cluster cannot be created, started or stopped."""


class MigrationError(WapipeError):
    """Applying the schema, functions or views failed."""


# SQLSTATEs wapipe's own functions raise (db/README.md, "Error codes"): Python maps
# codes, never message text.
LEASE_NOT_HELD = "WA001"
"""The caller does not hold the claim (lease) of the inbound message, outbox row or media row
it names: unknown, finished, or taken over by another worker. 55000 stays the workflows'
"not active / expired"."""


def is_lease_not_held(exc: BaseException) -> bool:
    """Whether a database error is wapipe's "lease not held" (SQLSTATE WA001)."""
    return getattr(exc, "sqlstate", None) == LEASE_NOT_HELD

"""Domain errors of the shared package; the CLI prints them as one line.

This module is the one SQLSTATE -> exception table (SQLSTATES): wapipe.db.call
turns every database error through `translate`, so no caller matches message text
or a psycopg class of its own. db/README.md, "Error codes", lists what raises each.
"""

from __future__ import annotations


class WapipeError(Exception):
    """An error the user can act on; its message is one clear line."""


class DatabaseUnavailable(WapipeError):
    """The database cannot be reached (or answered too slowly, or failed for a reason
    the caller cannot fix): try again later."""


class ClusterError(WapipeError):
    """The local PostgreSQL cluster cannot be created, started or stopped."""


class MigrationError(WapipeError):
    """Applying the schema, functions or views failed."""


class DatabaseRefusal(WapipeError):
    """The database refused the call for a reason of the caller's (by SQLSTATE).

    `code` is the domain code stored with a failed attempt ("code: message"),
    `retryable` whether another attempt can help."""

    default_code = "refused"
    default_retryable = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.retryable = self.default_retryable

    def stored_text(self) -> str:
        return f"{self.code}: {self}"


class ClaimLost(DatabaseRefusal):
    """Lease not held: the caller does not hold the claim of the inbound message,
    outbox row or media row it names (unknown, finished, or taken over)."""

    default_code = "claim_lost"
    default_retryable = False


class Refused(DatabaseRefusal):
    """The database refused an argument or a payload (a data exception, a value too
    large): the same call can never succeed."""

    default_code = "rejected_by_db"
    default_retryable = False


class WorkflowConflict(DatabaseRefusal):
    """A workflow is not active or has expired, moved on, or one is already active."""

    default_code = "workflow_conflict"


# SQLSTATEs wapipe's own functions raise (db/README.md, "Error codes"): Python maps
# codes, never message text.
LEASE_NOT_HELD = "WA001"
"""The caller does not hold the claim (lease) of the inbound message, outbox row or media row
it names: unknown, finished, or taken over by another worker. 55000 stays the workflows'
"not active / expired"."""

# The one table: a SQLSTATE, or its two-character class, -> (exception, domain code).
SQLSTATES: dict[str, tuple[type[DatabaseRefusal], str]] = {
    LEASE_NOT_HELD: (ClaimLost, "claim_lost"),
    "55000": (WorkflowConflict, "workflow_state"),  # a workflow not active / expired
    "40001": (WorkflowConflict, "workflow_moved"),  # advance_workflow: the step moved
    "23505": (WorkflowConflict, "workflow_active"),  # start_workflow: one already active
    "22": (Refused, "rejected_by_db"),  # data exceptions: 22023 bad argument, 22P02, NUL
    "54": (Refused, "rejected_by_db"),  # program limit exceeded: a value too large
}


def refusal(sqlstate: str | None, message: str) -> DatabaseRefusal | None:
    """The domain error for a SQLSTATE (exact code first, then its class), else None."""
    if not sqlstate:
        return None
    found = SQLSTATES.get(sqlstate) or SQLSTATES.get(sqlstate[:2])
    if found is None:
        return None
    cls, code = found
    return cls(message, code=code)


def is_lease_not_held(exc: BaseException) -> bool:
    """Whether a database error is wapipe's "lease not held" (SQLSTATE WA001)."""
    return getattr(exc, "sqlstate", None) == LEASE_NOT_HELD

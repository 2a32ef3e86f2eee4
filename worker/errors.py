"""Typed processing errors: each says whether a retry can help.

The handler's one error boundary turns them, and the database's refusals
(wapipe.errors.DatabaseRefusal: same code / retryable / stored_text), into
schedule_message_retry(retryable) (back off, or dead-letter after the last attempt)
and logs each failure once.
"""

from __future__ import annotations

from typing import Any

from wapipe import errors as wapipe_errors


class ProcessingError(Exception):
    """A message could not be handled; `code` lands first in the stored error text."""

    default_code = "processing_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        context: dict[str, Any] | None = None,
        recoverable: bool = True,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.context = context or {}
        self.recoverable = recoverable
        self.retryable = retryable

    def stored_text(self) -> str:
        """'code: message' (schedule_message_retry keeps the code as the DLQ error_code)."""
        return f"{self.code}: {self}"


class MessageProcessingError(ProcessingError):
    default_code = "message_error"


class WorkflowError(ProcessingError):
    default_code = "workflow_error"


class AgentError(ProcessingError):
    default_code = "agent_error"


class ServiceUnavailable(AgentError):
    """No healthy endpoint, or the breaker is open: the service's fallback applies."""

    default_code = "service_unavailable"


# The database's refusals and unavailability are the shared seam's (wapipe.errors,
# translated by wapipe.db.call): the worker uses those classes under its own names.
ClaimLost = wapipe_errors.ClaimLost
StoreUnavailable = wapipe_errors.DatabaseUnavailable

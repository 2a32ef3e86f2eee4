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

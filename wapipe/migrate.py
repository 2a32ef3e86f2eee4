"""`wapipe db migrate`: extensions, versioned schema (yoyo), then functions and views.

Tables change only through versioned yoyo migrations in db/schema/. Functions
(db/functions/) and views (db/views/) are re-applied on every run in file
order, in one transaction, so a failed file leaves the previous set in place.
Running migrate twice in a row changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pgmq.install import install_pgmq_from_sql
from yoyo import get_backend, read_migrations

from wapipe.db import connect, first_line
from wapipe.errors import MigrationError
from wapipe.settings import DB_DIR, PROJECT_ROOT

SAMPLES_DIR = PROJECT_ROOT / "tests" / "fixtures" / "whatsapp"

# Serialises concurrent `migrate` runs against one database.
_MIGRATE_LOCK_KEY = 7_301_190_001


@dataclass
class MigrationReport:
    extensions_installed: list[str] = field(default_factory=list)
    migrations_applied: list[str] = field(default_factory=list)
    functions_files: int = 0
    views_files: int = 0
    stale_functions_dropped: list[str] = field(default_factory=list)


def yoyo_url(url: str) -> str:
    """yoyo's URL for psycopg 3: postgresql+psycopg://…"""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise MigrationError(f"DATABASE_URL must start with postgresql:// (got {parts.scheme}://)")
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def migrate(url: str, *, test_helpers: bool = False, db_dir: Path = DB_DIR) -> MigrationReport:
    report = MigrationReport()
    with connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK_KEY,))
        try:
            _install_extensions(conn, url, report)
            _apply_schema(url, db_dir / "schema", report)
            _apply_code(conn, db_dir, report)
            if test_helpers:
                _apply_test_helpers(conn, db_dir / "tests" / "helpers")
            _schedule_maintenance(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK_KEY,))
    return report


def pending_migrations(url: str, db_dir: Path = DB_DIR) -> list[str]:
    backend = get_backend(yoyo_url(url))
    try:
        migrations = read_migrations(str(db_dir / "schema"))
        return [m.id for m in backend.to_apply(migrations)]
    finally:
        backend.connection.close()


def _install_extensions(conn: psycopg.Connection[Any], url: str, report: MigrationReport) -> None:
    installed = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
    if "pg_cron" not in installed:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        except psycopg.Error as exc:
            raise MigrationError(
                "cannot install pg_cron: "
                f"{first_line(str(exc))} (it needs shared_preload_libraries = 'pg_cron' and "
                "cron.database_name set to this database)"
            ) from exc
        report.extensions_installed.append("pg_cron")
    if "pg_partman" not in installed:
        _install_pg_partman(conn)
        report.extensions_installed.append("pg_partman")
    if "pgmq" in installed:
        return
    packaged = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pgmq'").fetchone()
    if packaged:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgmq")
        report.extensions_installed.append("pgmq (extension)")
        return
    has_schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pgmq'").fetchone()
    if has_schema:
        return  # installed earlier from the bundled SQL, which cannot be re-run
    with connect(url, autocommit=False) as install_conn:
        try:
            version = install_pgmq_from_sql(conn=install_conn)
        except Exception as exc:
            raise MigrationError(f"cannot install pgmq from its bundled SQL: {exc}") from exc
    report.extensions_installed.append(f"pgmq {version} (bundled SQL)")


def _install_pg_partman(conn: psycopg.Connection[Any]) -> None:
    """pg_partman (daily partitions of the history, db/schema/0027) in its own schema."""
    packaged = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman'"
    ).fetchone()
    if not packaged:
        raise MigrationError(
            "cannot install pg_partman: the server does not have it (Debian: apt-get install "
            "postgresql-15-partman; scripts/bootstrap.sh installs it)"
        )
    conn.execute("CREATE SCHEMA IF NOT EXISTS partman")
    conn.execute("REVOKE ALL ON SCHEMA partman FROM PUBLIC")
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman")


def _apply_schema(url: str, schema_dir: Path, report: MigrationReport) -> None:
    backend = get_backend(yoyo_url(url))
    try:
        migrations = read_migrations(str(schema_dir))
        with backend.lock():
            todo = backend.to_apply(migrations)
            report.migrations_applied = [m.id for m in todo]
            try:
                backend.apply_migrations(todo)
            except psycopg.Error as exc:
                raise MigrationError(f"schema migration failed: {first_line(str(exc))}") from exc
    finally:
        backend.connection.close()


def _sql_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


def _apply_code(conn: psycopg.Connection[Any], db_dir: Path, report: MigrationReport) -> None:
    functions = _sql_files(db_dir / "functions")
    views = _sql_files(db_dir / "views")
    with conn.transaction():
        # Views are rebuilt from their files: CREATE OR REPLACE VIEW cannot
        # drop or retype a column.
        conn.execute(
            """
            DO $$
            DECLARE v record;
            BEGIN
              FOR v IN SELECT c.oid::regclass AS name FROM pg_class c
                       WHERE c.relkind = 'v' AND c.relnamespace = 'wapipe'::regnamespace
              LOOP
                EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', v.name);
              END LOOP;
            END $$
            """
        )
        for path in [*functions, *views]:
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise MigrationError(
                    f"{path.relative_to(db_dir.parent)}: {first_line(str(exc))}"
                ) from exc
        report.functions_files = len(functions)
        report.views_files = len(views)
        report.stale_functions_dropped = _drop_stale_functions(conn)
        # Safety net under the per-file REVOKEs: PostgreSQL grants EXECUTE to
        # PUBLIC on every new function, and nothing of wapipe is public.
        conn.execute("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA wapipe FROM PUBLIC")


def _drop_stale_functions(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop wapipe functions that no file defines any more (renamed or re-typed).

    Every function file ran CREATE OR REPLACE in this transaction, so a
    function whose catalog row this transaction did not write is stale.
    """
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc p
        WHERE p.pronamespace = 'wapipe'::regnamespace
          AND p.xmin::text::bigint <> (txid_current() % 4294967296)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.refobjid = p.oid AND d.deptype = 'n')
        """
    ).fetchall()
    dropped = []
    for (signature,) in rows:
        conn.execute(f"DROP FUNCTION {signature}")
        dropped.append(signature)
    return dropped


def _apply_test_helpers(conn: psycopg.Connection[Any], helpers_dir: Path) -> None:
    with conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
        conn.execute("DROP SCHEMA IF EXISTS wapipe_tests CASCADE")
        conn.execute("CREATE SCHEMA wapipe_tests")
        for path in _sql_files(helpers_dir):
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise MigrationError(f"{path.name}: {first_line(str(exc))}") from exc
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO wapipe_tests.samples (name, payload) VALUES (%s, %s::jsonb)",
                [(p.stem, p.read_text()) for p in sorted(SAMPLES_DIR.glob("*.json"))],
            )


def _schedule_maintenance(conn: psycopg.Connection[Any]) -> None:
    exists = conn.execute(
        "SELECT to_regprocedure('wapipe.schedule_maintenance()') IS NOT NULL"
    ).fetchone()
    if exists and exists[0]:
        conn.execute("SELECT wapipe.schedule_maintenance()")

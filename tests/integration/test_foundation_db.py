"""The foundation: cluster, extensions and migrations behave as documented."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from wapipe.cluster import Cluster, remove_cluster
from wapipe.errors import ClusterError
from wapipe.migrate import migrate
from wapipe.testing.harness import ScratchDatabases, free_port, new_cluster


def test_pg_cron_schedules_a_job(conn: psycopg.Connection[Any]) -> None:
    job_id = conn.execute(
        "SELECT cron.schedule('wapipe-test-job', '*/5 * * * *', 'SELECT 1')"
    ).fetchone()
    assert job_id is not None
    row = conn.execute(
        "SELECT schedule, command FROM cron.job WHERE jobname = 'wapipe-test-job'"
    ).fetchone()
    assert row == ("*/5 * * * *", "SELECT 1")


def test_pg_cron_launcher_runs_on_its_database(test_dbs: ScratchDatabases) -> None:
    with psycopg.connect(test_dbs.cluster.url_for(test_dbs.cron_database), autocommit=True) as c:
        deadline = time.monotonic() + 60  # a condition's bound, generous for a loaded machine
        found = None
        while time.monotonic() < deadline:
            found = c.execute(
                "SELECT datname FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"
            ).fetchone()
            if found:
                break
            time.sleep(0.2)
        assert found == (test_dbs.cron_database,)
        assert c.execute("SHOW shared_preload_libraries").fetchone() == ("pg_cron",)


def test_new_wal_segments_are_not_zero_filled(conn: psycopg.Connection[Any]) -> None:
    """The embedded cluster creates a WAL segment by writing its last byte, not 16 MB of
    zeros in the commit path (the ingress's p99 tail: wapipe/cluster.py)."""
    assert conn.execute("SHOW wal_init_zero").fetchone() == ("off",)
    row = conn.execute("SELECT source FROM pg_settings WHERE name = 'wal_init_zero'").fetchone()
    assert row == ("configuration file",)


def test_pgmq_round_trip(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT pgmq.create('roundtrip')")
    conn.execute("""SELECT pgmq.send('roundtrip', '{"hello": "world"}'::jsonb)""")
    row = conn.execute("SELECT message FROM pgmq.read('roundtrip', 30, 1)").fetchone()
    assert row == ({"hello": "world"},)


def test_pgtap_is_available(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
    row = conn.execute("SELECT pgtap_version() > 0").fetchone()
    assert row == (True,)


def _schema_fingerprint(url: str) -> str:
    with psycopg.connect(url) as c:
        rows = c.execute(
            """
            SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
                   || ')=' || md5(pg_get_functiondef(p.oid))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('wapipe', 'pgmq')
            UNION ALL
            SELECT table_schema || '.' || table_name || '.' || column_name || ':' || data_type
            FROM information_schema.columns WHERE table_schema IN ('wapipe', 'pgmq', 'cron')
            UNION ALL
            SELECT schemaname || '.' || viewname || '=' || md5(definition)
            FROM pg_views WHERE schemaname = 'wapipe'
            UNION ALL
            SELECT 'migration:' || migration_id FROM _yoyo_migration
            ORDER BY 1
            """
        ).fetchall()
    return "\n".join(r[0] for r in rows)


def test_migrate_twice_changes_nothing(db_url: str) -> None:
    before = _schema_fingerprint(db_url)
    report = migrate(db_url)
    assert report.migrations_applied == []
    assert report.extensions_installed == []
    assert report.stale_functions_dropped == []
    assert _schema_fingerprint(db_url) == before


def test_migrate_drops_a_function_no_file_defines(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE FUNCTION wapipe.leftover(x int) RETURNS int LANGUAGE sql AS 'SELECT x'")
    report = migrate(db_url)
    assert report.stale_functions_dropped == ["wapipe.leftover(integer)"]


def test_cluster_up_is_idempotent_and_recovers_from_sigkill(server_tmp: Path) -> None:
    root = server_tmp
    cluster = new_cluster(root, "wapipe")
    try:
        assert cluster.up() is True
        assert cluster.up() is False  # second up is a no-op
        migrate(cluster.url)
        migrate(cluster.url)
        pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        assert (cluster.data_dir / "postmaster.pid").exists()  # stale pid file left behind
        assert cluster.up() is True
        with psycopg.connect(cluster.url) as c:
            row = c.execute(
                "SELECT count(*) FROM pgmq.list_queues() WHERE queue_name = 'wapipe_inbound'"
            ).fetchone()
            assert row == (1,)  # data survived the crash
    finally:
        remove_cluster(cluster)


def test_cluster_refuses_a_taken_port(server_tmp: Path) -> None:
    tmp_path = server_tmp
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        cluster = Cluster(
            data_dir=tmp_path / "pgdata",
            socket_dir=tmp_path / "run",
            log_file=tmp_path / "pg.log",
            port=port,
            database="wapipe",
        )
        try:
            with pytest.raises(ClusterError, match=f"port {port} .* taken"):
                cluster.up()
        finally:
            remove_cluster(cluster)


def _wapipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "wapipe"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # a hang fails (TimeoutExpired): a bound on a wait, never asserted on
        check=False,
    )


@pytest.mark.parametrize("command", [["db", "migrate"], ["db", "status"]])
def test_unreachable_database_url_fails_fast_with_one_line(command: list[str]) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://app:s3cret@127.0.0.1:{free_port()}/nowhere",
        "LC_ALL": "C",  # libpq's "Connection refused", untranslated
    }
    # "fast" without timing anything: the error is the first attempt's own refusal (not a
    # wait or a retry loop giving up), and a hang overruns _wapipe's bound
    result = _wapipe(*command, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith("Connection refused"), lines[0]
    assert "app:***@127.0.0.1" in lines[0]
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_db_url_prints_database_url() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://u@h:1/d"}
    assert _wapipe("db", "url", env=env).stdout.strip() == "postgresql://u@h:1/d"


def test_built_from_scratch_equals_migrated_step_by_step(server_tmp: Path) -> None:
    from yoyo import get_backend, read_migrations

    from wapipe.migrate import yoyo_url
    from wapipe.settings import DB_DIR

    scratch_root, steps_root = server_tmp / "scratch", server_tmp / "steps"
    scratch_root.mkdir()
    steps_root.mkdir()
    scratch = new_cluster(scratch_root, "wapipe")
    steps = new_cluster(steps_root, "wapipe")
    try:
        scratch.up()
        steps.up()
        migrate(scratch.url)

        # an install of the first release: extensions + migrations one at a time,
        # then the current code on top
        migrate(steps.url, db_dir=_only_first_migration(server_tmp, DB_DIR))
        backend = get_backend(yoyo_url(steps.url))
        try:
            with backend.lock():
                for migration in backend.to_apply(read_migrations(str(DB_DIR / "schema"))):
                    backend.apply_one(migration)
        finally:
            backend.connection.close()
        migrate(steps.url)

        assert _schema_fingerprint(steps.url) == _schema_fingerprint(scratch.url)
    finally:
        remove_cluster(scratch)
        remove_cluster(steps)


def _only_first_migration(root: Path, db_dir: Path) -> Path:
    import shutil

    first = root / "first_release"
    (first / "schema").mkdir(parents=True)
    migrations = sorted((db_dir / "schema").glob("*.sql"))
    shutil.copy(migrations[0], first / "schema" / migrations[0].name)
    return first


def test_unreachable_data_folder_is_one_clear_line(server_tmp: Path) -> None:
    locked = server_tmp / "locked"
    locked.mkdir(mode=0o700)
    if os.geteuid() == 0:
        # root runs the server as `postgres`, which cannot enter a root-only folder
        cluster = new_cluster(locked / "c", "wapipe")
        with pytest.raises(ClusterError, match=r"cannot write .*set WAPIPE_HOME"):
            cluster.up()
    else:
        locked.chmod(0o500)
        cluster = new_cluster(locked / "c", "wapipe")
        with pytest.raises(ClusterError, match="no permission"):
            cluster.up()


def test_bootstrap_as_non_root_with_missing_packages_prints_the_command() -> None:
    from wapipe.settings import PROJECT_ROOT

    if os.geteuid() != 0:
        pytest.skip("needs root to run the script as another user")
    env = {"PATH": os.environ.get("PATH", ""), "WAPIPE_BOOTSTRAP_EXTRA": "wapipe-no-such-package"}
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", "bash", str(PROJECT_ROOT / "scripts" / "bootstrap.sh")],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "wapipe: missing Debian packages; run: sudo apt-get update && "
        "sudo apt-get install -y wapipe-no-such-package"
    ]

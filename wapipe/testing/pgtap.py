"""`make test`'s second half: pg_prove over db/tests/ on a migrated throwaway database.

The database is migrated with the `wapipe_tests` helper schema (db/tests/helpers),
which exists only there. Exit code: pg_prove's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from wapipe.cluster import remove_cluster
from wapipe.settings import DB_DIR
from wapipe.testing.harness import start_test_databases

PGTAP_DB = "wapipe_pgtap"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    tests_dir = DB_DIR / "tests"
    files = sorted(str(p) for p in tests_dir.rglob("*.test.sql"))
    if args:
        files = args
    if not files:
        print("pgtap: no test files under db/tests", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="wapipe-pgtap-"))
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
    # The same set-up as the pytest databases: a migrated template, pg_cron pointed at
    # a clone of it, and the suite run in another clone. So the maintenance jobs
    # (scheduled, as the tests expect to see them) never fire in the middle of the
    # tests: one racing wapipe_tests.reset()'s TRUNCATEs deadlocked, and its failed
    # run then showed among system_health's reasons.
    dbs = start_test_databases(root)
    cluster = dbs.cluster
    try:
        url = dbs.clone(PGTAP_DB)
        # Its copy of cron.job is inert (pg_cron reads the one in its own database);
        # point the copy at this database, which is what the tests of the jobs expect.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE cron.job SET database = current_database()")
        print(f"pg_prove: {len(files)} files against {url}", flush=True)
        cmd = [
            "pg_prove",
            "--host",
            "127.0.0.1",
            "--port",
            str(cluster.port),
            "--username",
            "postgres",
            "--dbname",
            url.rsplit("/", 1)[1],
            "--failures",
            *files,
        ]
        return subprocess.run(cmd, check=False).returncode
    finally:
        remove_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

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

from wapipe.cluster import remove_cluster
from wapipe.migrate import migrate
from wapipe.settings import DB_DIR
from wapipe.testing.harness import new_cluster

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
    cluster = new_cluster(root, PGTAP_DB, cron_database=PGTAP_DB)
    try:
        cluster.up()
        migrate(cluster.url, test_helpers=True)
        print(f"pg_prove: {len(files)} files against {cluster.url}", flush=True)
        cmd = [
            "pg_prove",
            "--host",
            "127.0.0.1",
            "--port",
            str(cluster.port),
            "--username",
            "postgres",
            "--dbname",
            PGTAP_DB,
            "--failures",
            *files,
        ]
        return subprocess.run(cmd, check=False).returncode
    finally:
        remove_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""The `wapipe` command line."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wapipe.cluster import Cluster
from wapipe.db import connect
from wapipe.errors import WapipeError
from wapipe.migrate import migrate, pending_migrations
from wapipe.settings import cluster_settings, database_url, mask_url

Handler = Callable[[argparse.Namespace], int]


def _local_cluster() -> Cluster:
    return Cluster.from_settings(cluster_settings())


def cmd_db_up(_: argparse.Namespace) -> int:
    cluster = _local_cluster()
    started = cluster.up()
    state = "started" if started else "already running"
    print(f"cluster {state}: {cluster.url} (data: {cluster.data_dir})")
    return 0


def cmd_db_down(_: argparse.Namespace) -> int:
    cluster = _local_cluster()
    print("cluster stopped" if cluster.down() else "cluster was not running")
    return 0


def cmd_db_url(_: argparse.Namespace) -> int:
    print(database_url())
    return 0


def cmd_db_migrate(_: argparse.Namespace) -> int:
    report = migrate(database_url())
    for ext in report.extensions_installed:
        print(f"installed extension {ext}")
    applied = ", ".join(report.migrations_applied) or "none pending"
    print(f"schema migrations applied: {applied}")
    print(f"re-applied {report.functions_files} function files and {report.views_files} view files")
    for signature in report.stale_functions_dropped:
        print(f"dropped stale function {signature}")
    return 0


def cmd_db_psql(args: argparse.Namespace) -> int:
    url = database_url()
    os.execvp("psql", ["psql", url, *args.psql_args])


def cmd_db_status(_: argparse.Namespace) -> int:
    url = database_url()
    if not os.environ.get("DATABASE_URL"):
        cluster = _local_cluster()
        running = cluster.is_running()
        print(f"local cluster: {'running' if running else 'stopped'} (data: {cluster.data_dir})")
        if not running:
            return 1
    print(f"database: {mask_url(url)}")
    with connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        print(f"server: PostgreSQL {version[0] if version else '?'}")
        exts = conn.execute(
            "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1"
        ).fetchall()
        print("extensions: " + ", ".join(row[0] for row in exts))
    pending = pending_migrations(url)
    print(f"pending migrations: {', '.join(pending) if pending else 'none'}")
    return 0


@dataclass
class ChildProcess:
    name: str
    argv: list[str]


def _children() -> list[ChildProcess]:
    """The processes `wapipe run` supervises; each issue adds its own."""
    return []


def cmd_run(_args: argparse.Namespace) -> int:
    started_cluster = False
    cluster: Cluster | None = None
    if not os.environ.get("DATABASE_URL"):
        cluster = _local_cluster()
        started_cluster = cluster.up()
        print(f"database: {cluster.url} ({'started' if started_cluster else 'already running'})")
    migrate(database_url())
    print("database migrated")
    procs = [(child, subprocess.Popen(child.argv)) for child in _children()]
    for child, proc in procs:
        print(f"started {child.name} (pid {proc.pid})")
    if not procs:
        print("no processes to run yet: the database is ready; press Ctrl-C to stop")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            for child, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"{child.name} exited with code {proc.returncode}; stopping",
                        file=sys.stderr,
                    )
                    stop.set()
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if cluster is not None and started_cluster:
            cluster.down()
            print("cluster stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wapipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the local PostgreSQL cluster and migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("up", help="create and start the local cluster").set_defaults(
        handler=cmd_db_up
    )
    db_sub.add_parser("down", help="stop the local cluster").set_defaults(handler=cmd_db_down)
    db_sub.add_parser("url", help="print DATABASE_URL").set_defaults(handler=cmd_db_url)
    db_sub.add_parser("migrate", help="apply schema, functions, views").set_defaults(
        handler=cmd_db_migrate
    )
    db_sub.add_parser("status", help="cluster, extensions, pending migrations").set_defaults(
        handler=cmd_db_status
    )
    psql = db_sub.add_parser("psql", help="open psql on the database")
    psql.add_argument("psql_args", nargs=argparse.REMAINDER)
    psql.set_defaults(handler=cmd_db_psql)

    sub.add_parser("run", help="the whole system on the local cluster").set_defaults(
        handler=cmd_run
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "handler", None) is cmd_db_psql:
        args.psql_args = [*extra, *args.psql_args]  # psql's own options, e.g. -c
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handler: Handler = args.handler
    try:
        return handler(args)
    except WapipeError as exc:
        print(f"wapipe: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

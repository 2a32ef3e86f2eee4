"""Throwaway clusters for tests, started with the same code as `wapipe db up`.

pg_cron refuses CREATE EXTENSION outside `cron.database_name`, and its
launcher keeps a connection to that database, which blocks
`CREATE DATABASE … TEMPLATE` from it. So the template is migrated while it is
the cron database, then the cluster is restarted with pg_cron pointed at its
own database (a clone of the template, where jobs really run), leaving the
template free to be cloned once per test.
"""

from __future__ import annotations

import itertools
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from wapipe.cluster import Cluster
from wapipe.migrate import migrate

TEMPLATE_DB = "wapipe_template"
CRON_DB = "wapipe_cron"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: all held at once while picked (one at a time, the
    kernel may hand out the same port twice, and then two servers race for it)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def new_cluster(root: Path, database: str, cron_database: str | None = None) -> Cluster:
    return Cluster(
        data_dir=root / "pgdata",
        socket_dir=root / "run",
        log_file=root / "postgres.log",
        port=free_port(),
        database=database,
        cron_database=cron_database,
    )


@dataclass
class ScratchDatabases:
    """A running test cluster with a migrated template to clone from."""

    cluster: Cluster
    template: str = TEMPLATE_DB
    cron_database: str = CRON_DB
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def admin_url(self) -> str:
        return self.cluster.url_for("postgres")

    def clone(self, prefix: str = "t") -> str:
        """A fresh database cloned from the migrated template; returns its URL."""
        name = f"{prefix}_{next(self._counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(self.template)
                )
            )
        return self.cluster.url_for(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def start_test_databases(root: Path) -> ScratchDatabases:
    cluster = new_cluster(root, TEMPLATE_DB, cron_database=TEMPLATE_DB)
    cluster.up()
    migrate(cluster.url, test_helpers=True)
    cluster.cron_database = CRON_DB
    cluster.restart()
    dbs = ScratchDatabases(cluster)
    with psycopg.connect(dbs.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(CRON_DB), sql.Identifier(TEMPLATE_DB)
            )
        )
    return dbs

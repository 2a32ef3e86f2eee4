"""The project's own PostgreSQL cluster: create, start, stop, inspect.

Used by `wapipe db up|down|status` and by the test harness, so tests start
their throwaway clusters with exactly the code users run. initdb and postgres
refuse to run as root; when we are root the server runs as the `postgres` OS
user in folders it owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from wapipe.errors import ClusterError
from wapipe.settings import DB_SUPERUSER, ClusterSettings, pg_bindir

SERVER_OS_USER = "postgres"
_START_TIMEOUT_SECONDS = 60
_CONF_NAME = "wapipe.conf"


@dataclass
class Cluster:
    """One PostgreSQL cluster under a folder of ours."""

    data_dir: Path
    socket_dir: Path
    log_file: Path
    port: int
    database: str
    cron_database: str | None = None
    pg_major: str = "15"

    @classmethod
    def from_settings(cls, settings: ClusterSettings) -> Cluster:
        return cls(
            data_dir=settings.data_dir,
            socket_dir=settings.socket_dir,
            log_file=settings.log_file,
            port=settings.port,
            database=settings.database,
            pg_major=settings.pg_major,
        )

    # -- facts ---------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        return pg_bindir(self.pg_major)

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql://{DB_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _cmd(self, *args: str) -> list[str]:
        """A command line that runs as the server's OS user."""
        if self._as_root:
            return ["runuser", "-u", SERVER_OS_USER, "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        result = self._run(str(self.bindir / "pg_ctl"), "status", "-D", str(self.data_dir))
        return result.returncode == 0

    # -- life cycle ----------------------------------------------------------

    def up(self) -> bool:
        """Create (first time) and start the cluster; True when it was started now."""
        self._check_binaries()
        self._prepare_folders()
        if not self.is_initialized():
            self._initdb()
        self._write_conf()
        if self.is_running():
            self.ensure_database(self.database)
            return False
        self._recover_stale_pid()
        self._check_port_free()
        self._start()
        self.ensure_database(self.database)
        return True

    def down(self) -> bool:
        """Stop the cluster (fast shutdown); True when it was running."""
        if not self.is_running():
            return False
        result = self._run(
            str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"
        )
        if result.returncode != 0:
            raise ClusterError(f"pg_ctl stop failed: {_last_line(result.stderr or result.stdout)}")
        return True

    def restart(self) -> None:
        """Stop and start again, e.g. after the configuration changed."""
        self.down()
        self._write_conf()
        self._start()

    def ensure_database(self, name: str) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    # -- steps ---------------------------------------------------------------

    def _check_binaries(self) -> None:
        for name in ("initdb", "pg_ctl", "postgres"):
            if not (self.bindir / name).exists():
                raise ClusterError(
                    f"PostgreSQL {self.pg_major} server not found in {self.bindir}: "
                    f"run `make run` (installs it) or apt-get install postgresql-{self.pg_major}"
                )
        if self._as_root:
            try:
                pwd.getpwnam(SERVER_OS_USER)
            except KeyError as exc:
                raise ClusterError(
                    f"running as root needs the '{SERVER_OS_USER}' OS user "
                    f"(installed with postgresql-{self.pg_major})"
                ) from exc

    def _prepare_folders(self) -> None:
        folders = (self.data_dir.parent, self.socket_dir, self.log_file.parent)
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except PermissionError as exc:
                raise ClusterError(
                    f"no permission to create {folder}: set WAPIPE_HOME (or WAPIPE_PGDATA) "
                    "to a folder you can write"
                ) from exc
        if self._as_root:
            owner = pwd.getpwnam(SERVER_OS_USER)
            for folder in {*folders, self.data_dir}:
                if folder.exists():
                    os.chown(folder, owner.pw_uid, owner.pw_gid)
            probe = subprocess.run(self._cmd("test", "-w", str(self.data_dir.parent)), check=False)
            if probe.returncode != 0:
                raise ClusterError(
                    f"the '{SERVER_OS_USER}' OS user cannot write {self.data_dir.parent} "
                    "(a parent folder is not traversable): set WAPIPE_HOME to a folder it can "
                    "reach, e.g. /var/lib/wapipe"
                )
        else:
            for folder in folders:
                if not os.access(folder, os.W_OK | os.X_OK):
                    raise ClusterError(
                        f"no permission to write {folder}: set WAPIPE_HOME to a folder you own"
                    )
        if self.data_dir.exists() and not self._as_root and not os.access(self.data_dir, os.W_OK):
            raise ClusterError(
                f"no permission on the data folder {self.data_dir}: fix its owner or set "
                "WAPIPE_PGDATA"
            )

    def _initdb(self) -> None:
        result = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            DB_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            timeout=300,
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb failed: {_last_line(result.stderr or result.stdout)}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONF_NAME}'\n")

    def _write_conf(self) -> None:
        cron_db = self.cron_database or self.database
        lines = [
            "# Written by `wapipe db up` on every start; edit postgresql.conf for your own.",
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            "shared_preload_libraries = 'pg_cron'",
            f"cron.database_name = '{cron_db}'",
            # pg_cron reaches the server through our socket, not localhost/TCP.
            f"cron.host = '{self.socket_dir}'",
            "max_connections = 200",
            "shared_buffers = '256MB'",
            # Write-heavy: ingest touches pages all over its indexes, and the first
            # change of a page after a checkpoint logs the whole page. Compress those
            # images and checkpoint less often (crash recovery replays more, still
            # seconds).
            "wal_compression = 'lz4'",
            "max_wal_size = '4GB'",
            "checkpoint_timeout = '15min'",
            # A backend that needs a new WAL segment (none recycled yet: a young cluster,
            # or a burst beyond what checkpoints recycled) fills all 16 MB with zeros and
            # flushes them while every commit waits behind it: tens of ms once the disk is
            # busy writing back. Off, the segment is created by writing its last byte.
            # Measured (bench.ingress as a user runs it, 6 cold rounds, twice each): the
            # ingress's p99 was 50-57 ms in 7 of 12 rounds with zero-filling, 9-21 ms in
            # every round without it.
            "wal_init_zero = off",
            "timezone = 'UTC'",
            "log_timezone = 'UTC'",
        ]
        path = self.data_dir / _CONF_NAME
        path.write_text("\n".join(lines) + "\n")
        if self._as_root:
            owner = pwd.getpwnam(SERVER_OS_USER)
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _recover_stale_pid(self) -> None:
        """Remove a postmaster.pid left by a server that died (SIGKILL, power loss)."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            pid = 0
        if pid > 0 and _is_postgres_process(pid):
            raise ClusterError(
                f"a postgres process (pid {pid}) still owns {self.data_dir} but does not answer: "
                "stop it, then run `wapipe db up` again"
            )
        pid_file.unlink(missing_ok=True)

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As PostgreSQL does: connections in TIME_WAIT must not count as "taken".
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.port))
                probe.listen()
            except OSError as exc:
                raise ClusterError(
                    f"port {self.port} on 127.0.0.1 is taken by another program: "
                    "stop it or set WAPIPE_DB_PORT to a free port"
                ) from exc

    def _start(self) -> None:
        if self._as_root and self.log_file.exists():
            owner = pwd.getpwnam(SERVER_OS_USER)
            os.chown(self.log_file, owner.pw_uid, owner.pw_gid)
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while True:
            result = self._run(
                str(self.bindir / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(_START_TIMEOUT_SECONDS),
                timeout=_START_TIMEOUT_SECONDS + 10,
            )
            if result.returncode == 0:
                return
            log_tail = self._log_tail()
            # After a SIGKILLed postmaster its old backends may hold shared
            # memory for a moment: they exit as soon as they notice.
            if "still in use" in log_tail and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise ClusterError(
                f"PostgreSQL did not start ({self.log_file}): {_last_line(log_tail)}"
            )

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _is_postgres_process(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm in {"postgres", "postmaster"}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def remove_cluster(cluster: Cluster) -> None:
    """Stop a throwaway cluster and delete its folders (tests)."""
    with contextlib.suppress(ClusterError):
        cluster.down()
    shutil.rmtree(cluster.data_dir, ignore_errors=True)

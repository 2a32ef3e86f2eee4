"""Test tiers share one throwaway cluster per session; each test gets a fresh clone.

The cluster is started with the same code as `wapipe db up` (wapipe.cluster),
on its own port and socket under a temp folder, so tests never touch the dev
cluster. The template database is migrated once; cloning it costs a fraction
of a second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fakes import WorkerProcess
from tests.fakes.agent_server import FakeAgent
from wapipe.cluster import remove_cluster
from wapipe.testing.harness import ScratchDatabases, start_test_databases

Connect = Callable[..., psycopg.Connection[Any]]


@pytest.fixture(scope="session")
def test_dbs() -> Iterator[ScratchDatabases]:
    root = Path(tempfile.mkdtemp(prefix="wapipe-pytest-"))
    if os.geteuid() == 0:
        os.chmod(root, 0o755)  # the server runs as the postgres OS user
    dbs = start_test_databases(root)
    try:
        yield dbs
    finally:
        remove_cluster(dbs.cluster)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(test_dbs: ScratchDatabases) -> Iterator[str]:
    """URL of a fresh, migrated database for this test only."""
    url = test_dbs.clone()
    try:
        yield url
    finally:
        test_dbs.drop(url)


@pytest.fixture
def connect(db_url: str) -> Iterator[Connect]:
    """Opens extra real connections to the test database (concurrency tests)."""
    opened: list[psycopg.Connection[Any]] = []

    def _connect(**kwargs: Any) -> psycopg.Connection[Any]:
        kwargs.setdefault("autocommit", True)
        conn = psycopg.connect(db_url, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture
def conn(connect: Connect) -> psycopg.Connection[Any]:
    return connect()


@pytest.fixture
def server_tmp() -> Iterator[Path]:
    """A temp folder the postgres OS user can reach (pytest's tmp_path is 0700 under root)."""
    root = Path(tempfile.mkdtemp(prefix="wapipe-srv-"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    """A fake agent: a real HTTP server on localhost with switchable latency and errors."""
    fake = FakeAgent().start()
    yield fake
    fake.stop()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts; all closed at its end."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.close()

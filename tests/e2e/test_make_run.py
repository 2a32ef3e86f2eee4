"""`wapipe run` (what `make run` starts): cluster, migrations, ingress, worker and demo agent.

A message posted to the printed URL gets a reply in the outbox; Ctrl-C stops every
process and the cluster `run` started; a second run reuses the cluster and its data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from wapipe.testing.harness import free_ports

WAPIPE = str(Path(sys.executable).parent / "wapipe")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([WAPIPE, "run"], env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(predicate: object, what: str, seconds: float = 90) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _outbox_rows(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM wapipe.outbox").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return -1


def test_wapipe_run_answers_a_message_and_stops_cleanly(server_tmp: Path) -> None:
    db_port, ingress_port, agent_port = free_ports(3)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        WAPIPE_HOME=str(server_tmp / "home"),
        WAPIPE_DB_PORT=str(db_port),
        WAPIPE_INGRESS_PORT=str(ingress_port),
        WAPIPE_DEMO_AGENT_PORT=str(agent_port),
        WAPIPE_WORKER_METRICS_PORT="0",
    )
    url = f"postgresql://postgres@127.0.0.1:{db_port}/wapipe"
    log = server_tmp / "run.log"

    first = _start(env, log)
    try:
        _wait_for(lambda: b"curl -sS" in log.read_bytes(), "the ready banner")
        text = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{ingress_port}/webhook" in text
        assert "dev-send" in text and "curl" in text
        sent = subprocess.run(
            [WAPIPE, "dev-send", "hello", "--url", f"http://127.0.0.1:{ingress_port}/webhook"],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )
        run_log = log.read_text(errors="replace")[-4000:]
        assert sent.returncode == 0, f"{sent.stdout}{sent.stderr}\n--- wapipe run:\n{run_log}"
        _wait_for(lambda: _outbox_rows(url) == 1, "the demo agent's reply in the outbox")
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
    assert "cluster stopped" in log.read_text(errors="replace")
    assert _outbox_rows(url) == -1  # the cluster `run` started is down again

    second = _start(env, log)
    try:
        _wait_for(lambda: log.read_bytes().count(b"curl -sS") == 2, "the second run")
        assert _outbox_rows(url) == 1  # same cluster, same data
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 0

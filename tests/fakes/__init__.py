"""Fakes and process helpers for the worker tests: fake agents, real `wapipe worker` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.payloads import text_message, webhook

PROJECT = Path(__file__).resolve().parents[2]


def write_config(path: Path, services: list[dict[str, Any]], **sections: dict[str, Any]) -> Path:
    """A WAPIPE_CONFIG TOML file (services + [worker], [routing], [rate_limit] tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines: list[str] = []
    worker = {
        "poll_interval_seconds": 0.5,
        "health_interval_seconds": 0.5,
        "heartbeat_interval_seconds": 1,
        **sections.pop("worker", {}),
    }
    sections["worker"] = worker
    for name, table in sections.items():
        lines.append(f"[{name}]")
        for k, v in table.items():
            if k == "rules":
                continue
            lines.append(f"{k} = {value(v)}")
        for rule in table.get("rules", []):
            lines.append(f"[[{name}.rules]]")
            lines.extend(f"{k} = {value(v)}" for k, v in rule.items())
    for svc in services:
        lines.append("[[services]]")
        breaker = svc.get("breaker", {})
        lines.extend(f"{k} = {value(v)}" for k, v in svc.items() if k != "breaker")
        if breaker:
            lines.append("[services.breaker]")
            lines.extend(f"{k} = {value(v)}" for k, v in breaker.items())
    path.write_text("\n".join(lines) + "\n")
    return path


class WorkerProcess:
    """A real `wapipe worker` subprocess; its log goes to a file the test can read."""

    def __init__(self, db_url: str, config: Path, log_dir: Path, *args: str) -> None:
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "WAPIPE_CONFIG": str(config),
            "WAPIPE_LOG_LEVEL": "INFO",
        }
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wapipe.cli", "worker", *args],
            cwd=PROJECT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


def ingest(conn: psycopg.Connection[Any], messages: list[dict[str, Any]]) -> None:
    conn.execute(
        "SELECT wapipe.ingest_webhook(%s, %s)",
        (Jsonb(webhook(messages)), f"cid-{uuid.uuid4().hex[:8]}"),
    )


def send_text(conn: psycopg.Connection[Any], wa_id: str, body: str, ts: int | None = None) -> str:
    msg = text_message(wa_id, body, timestamp=ts)
    ingest(conn, [msg])
    return str(msg["id"])


def interactive_reply(wa_id: str, kind: str, reply_id: str, title: str) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.test.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": kind, kind: {"id": reply_id, "title": title}},
    }


def fast_retries(
    conn: psycopg.Connection[Any],
    initial: float = 0.2,
    max_attempts: int = 3,
    cap: float = 0.5,
    multiplier: float = 1,
) -> None:
    for key, val in {
        "retry.initial_delay_seconds": initial,
        "retry.max_attempts": max_attempts,
        "retry.max_delay_seconds": cap,
        "retry.multiplier": multiplier,
    }.items():
        conn.execute("UPDATE wapipe.settings SET value = %s WHERE key = %s", (Jsonb(val), key))


# No positive wait gives up sooner: on a loaded 2-core CI machine a worker process can take
# many seconds to start or to get its turn; a wait that holds costs only a failing run time.
MIN_WAIT_SECONDS = 60.0


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    """Poll `check` until it is truthy (its value is returned); fail after `timeout` seconds,
    never fewer than MIN_WAIT_SECONDS. For a condition, never for a duration."""
    timeout = max(timeout, MIN_WAIT_SECONDS)
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def scalar(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def end_open_period(conn: psycopg.Connection[Any], breaker: str) -> bool:
    """The open breaker's open period is over (its clock moved back two hours), and the
    conversations waiting for it are woken (wapipe._wake_deferred). The wake skips a
    conversation a worker holds at that instant (SKIP LOCKED): a test waiting for the effect
    calls this again at every look. Returns False, so it can lead such a check."""
    conn.execute(
        "UPDATE wapipe.breakers SET opened_at = now() - interval '2 hours',"
        " updated_at = now() - interval '2 hours' WHERE name = %s AND state = 'open'",
        (breaker,),
    )
    scalar(conn, "SELECT wapipe._wake_deferred(%s)", breaker)
    return False

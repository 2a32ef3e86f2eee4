"""The ingress as users run it: `wapipe ingress` (uvicorn) on a free port, real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.fakes import wait_for
from tests.integration.test_ingress_app import (
    LIMIT,
    ROTATED_SECRET,
    SAMPLES,
    SECRET,
    VERIFY_TOKEN,
    sample,
    signed_headers,
    stored_counts,
    text_message,
)
from wapipe.testing.harness import free_port

PHONE_NUMBERS = ("250788123456", "250788999000")
MESSAGE_BODIES = ("Muraho", "hello from Eric", "a secret only the user knows")


@dataclass
class Server:
    base_url: str
    log_path: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)

    def stopped_cleanly(self) -> bool:
        """uvicorn re-raises SIGTERM once it has shut down gracefully: -15 is a clean stop."""
        return (
            self.stop() in (0, -signal.SIGTERM) and "ingress stopped" in self.log_path.read_text()
        )

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]


def start_server(db_url: str, log_path: Path, **env: str) -> Server:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": db_url,
        "WHATSAPP_APP_SECRET": f"{SECRET},{ROTATED_SECRET}",
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WAPIPE_LOG_FORMAT": "json",
        "WAPIPE_DB_POOL_MIN": "2",
        "WAPIPE_DB_POOL_MAX": "8",
        **env,
    }
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wapipe.cli", "ingress", "--port", str(port)],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", log_path, proc)
    deadline = time.monotonic() + 90  # a condition's bound: a loaded machine starts slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ingress exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError("ingress did not answer /healthz within 90 s")


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(db_url, tmp_path / "ingress.log")
    try:
        yield srv
    finally:
        srv.stop()


def test_twenty_concurrent_duplicates_queue_one_message(server: Server, db_url: str) -> None:
    body = text_message("same message, delivered 20 times at once")

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            return await asyncio.gather(
                *[
                    client.post("/webhook", content=body, headers=signed_headers(body))
                    for _ in range(20)
                ]
            )

    responses = asyncio.run(post_all())
    assert [r.status_code for r in responses] == [200] * 20
    assert sum(r.json()["new_messages"] for r in responses) == 1
    counts = stored_counts(db_url)
    assert (counts["events"], counts["messages"], counts["queued"]) == (20, 1, 1)


def test_chunked_body_over_the_limit_without_content_length(server: Server, db_url: str) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    chunk = b" " * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < 2 * LIMIT:  # bounded: twice the limit at most
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: it did not wait for the rest
        response = sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"x-correlation-id" in response.lower()
    assert stored_counts(db_url)["events"] == 0


@pytest.fixture
def debug_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """The ingress at WAPIPE_LOG_LEVEL=DEBUG: every line it can write, one per POST too."""
    srv = start_server(db_url, tmp_path / "ingress.log", WAPIPE_LOG_LEVEL="DEBUG")
    try:
        yield srv
    finally:
        srv.stop()


def test_logs_of_a_full_run_hold_no_phone_number_and_no_body(debug_server: Server) -> None:
    server = debug_server
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for path in sorted(SAMPLES.glob("*.json")):
            body = path.read_bytes()
            assert client.post("/webhook", content=body, headers=signed_headers(body)).is_success
        secret_text = text_message(MESSAGE_BODIES[2])
        client.post("/webhook", content=secret_text, headers=signed_headers(secret_text))
        client.post("/webhook", content=secret_text, headers=signed_headers(secret_text, "bad"))
        client.post("/webhook", content=secret_text[:-3], headers=signed_headers(secret_text[:-3]))
        not_webhook = json.dumps({"object": "250788123456", "text": MESSAGE_BODIES[2]}).encode()
        assert (
            client.post("/webhook", content=not_webhook, headers=signed_headers(not_webhook))
        ).status_code == 400
        client.get(
            "/webhook",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": "250788123456",
                "hub.challenge": "1",
            },
        )
        client.get("/readyz")
        client.get("/metrics")
    assert server.stopped_cleanly()
    text = server.log_path.read_text()
    for secret in (*PHONE_NUMBERS, *MESSAGE_BODIES, VERIFY_TOKEN, SECRET):
        assert secret not in text, secret
    lines = server.log_lines()
    stored = [line for line in lines if line["event"] == "webhook stored"]
    assert len(stored) == len(list(SAMPLES.glob("*.json"))) + 1
    assert all(line["correlation_id"] and line["process"] == "ingress" for line in stored)
    assert all({"timestamp", "level", "event", "process"} <= line.keys() for line in lines)
    assert "+250788***456" in text  # the refused "object" value, masked


def test_sigterm_lets_the_request_in_flight_finish(server: Server, db_url: str) -> None:
    body = text_message("in flight while the server stops")
    results: list[int] = []
    with (
        psycopg.connect(db_url) as blocker,
        psycopg.connect(db_url, autocommit=True) as watcher,
    ):
        # Hold the ingest inside the database until the server is told to stop.
        blocker.execute("LOCK TABLE wapipe.webhook_events IN EXCLUSIVE MODE")

        def ingest_waits() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> %s",
                (blocker.info.backend_pid,),
            ).fetchone()
            return row is not None and row[0] > 0

        def post() -> None:
            r = httpx.post(
                f"{server.base_url}/webhook", content=body, headers=signed_headers(body), timeout=90
            )
            results.append(r.status_code)

        poster = threading.Thread(target=post)
        poster.start()
        wait_for(ingest_waits, 60, "the request in flight (its ingest waiting on the lock)")
        server.proc.send_signal(signal.SIGTERM)
        # a negative check (it cannot fail a correct run): a server that did not wait for
        # its request would be gone by now; a slow machine could only hide that
        time.sleep(0.5)
        assert server.proc.poll() is None  # still finishing the request
        blocker.commit()
    poster.join(timeout=120)
    assert results == [200]
    assert server.stopped_cleanly()
    assert stored_counts(db_url)["queued"] == 1


def test_start_fails_fast_with_one_line_when_the_database_is_not_there(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        "WHATSAPP_APP_SECRET": SECRET,
        # "fast" without timing anything: a start that waited for its database budget (an
        # hour) would overrun the 60 s below, a failure; a refused connection ends at once
        "WAPIPE_DB_TIMEOUT_SECONDS": "3600",
        "LC_ALL": "C",  # libpq's "Connection refused", untranslated
    }
    result = subprocess.run(
        [sys.executable, "-m", "wapipe.cli", "ingress", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("wapipe: error: cannot connect to"), last
    assert last.endswith("Connection refused"), last  # the first attempt's own error


def test_start_refused_without_a_secret(tmp_path: Path, db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WHATSAPP_APP_SECRET"}
    env.update({"DATABASE_URL": db_url, "WAPIPE_ALLOW_UNSIGNED": ""})
    result = subprocess.run(
        [sys.executable, "-m", "wapipe.cli", "ingress", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "WHATSAPP_APP_SECRET is not set" in result.stderr.strip().splitlines()[-1]


def test_dev_send_posts_a_fresh_message_each_time(server: Server, db_url: str) -> None:
    env = {**os.environ, "WHATSAPP_APP_SECRET": SECRET}
    for _ in range(2):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "wapipe.cli",
                "dev-send",
                "hi",
                "--url",
                f"{server.base_url}/webhook",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    curl = subprocess.run(
        [
            sys.executable,
            "-m",
            "wapipe.cli",
            "dev-send",
            "hi",
            "--curl",
            "--url",
            f"{server.base_url}/webhook",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    posted = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
    assert '"new_messages":1' in posted.stdout, posted.stdout + posted.stderr
    assert stored_counts(db_url)["queued"] == 3


def test_sample_batch_through_the_real_server(server: Server, db_url: str) -> None:
    body = sample("batch_two_users")
    response = httpx.post(f"{server.base_url}/webhook", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert stored_counts(db_url)["conversations"] == 2

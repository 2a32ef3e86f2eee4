"""The whole pipeline as deployed, over real sockets: `wapipe ingress` (uvicorn),
`wapipe worker` (claim loop + outbox sender), `wapipe demo-agent` and a fake Graph API.

Signed webhooks go in at the ingress: two text messages from one user, and from another
an order flow (order -> pick from the menu -> quantity -> confirm). The test waits until
the fake Graph API got every reply, checks they are exactly the expected ones (no
duplicate, none missing, in order per user, sent with the access token), looks at the
worker's metrics and the status page, stops everything with SIGTERM and then reads every
log line of every process: no full phone number, no message text (sent or replied),
no secret.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.test_ingress_server import Server, start_server
from tests.fakes import WorkerProcess, interactive_reply, scalar, wait_for, write_config
from tests.fakes.graph_api import FakeGraphApi
from tests.integration.test_ingress_app import ROTATED_SECRET, SECRET, VERIFY_TOKEN, signed_headers
from tests.payloads import BUSINESS_NUMBER_ID, text_message, webhook
from wapipe.testing.harness import free_ports

PROJECT = Path(__file__).resolve().parents[2]
ACCESS_TOKEN = "EAAG-e2e-access-token-do-not-log-9f8e7d"
STATUS_TOKEN = "e2e-status-token-5a4b3c"
ALICE = "250788123456"
BOB = "250788999000"
DISPLAY_NUMBER = "15550001111"
ALICE_TEXTS = ["hello there, Muraho from Alice", "what is on the menu tonight Alice"]
BOB_TEXT = "I want to order something tasty Bob"
# what the demo agent and the order workflow answer, per user, in order
ALICE_REPLIES = [
    ("text", "Hello and welcome! I'm your waiter."),
    ("text", "Today we have: Pizza Margherita"),
]
BOB_REPLIES = [
    ("text", "Lovely! Here is our menu."),
    ("interactive", "What would you like to order?"),
    ("interactive", "How many Pizza Margherita?"),
    ("interactive", "2 x Pizza Margherita, total €19.00.\nConfirm?"),
    ("text", "Order confirmed! 2 x Pizza Margherita, total €19.00."),
]
# Digit runs of phone length that were not masked (+250788***456 is masked).
_UNMASKED_NUMBER = re.compile(r"(?<![0-9])[0-9]{10,15}(?![0-9])")


class Process:
    """A `wapipe` subprocess whose output goes to a file."""

    def __init__(self, log_path: Path, env: dict[str, str], *args: str) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wapipe.cli", *args],
                cwd=PROJECT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: process exited: {log_path.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within 60 s")


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    fake = FakeGraphApi().start()
    try:
        yield fake
    finally:
        fake.stop()


def body_text(request_json: dict[str, Any]) -> tuple[str, str]:
    """(type, the text a user sees first) of one Graph API send."""
    kind = str(request_json.get("type"))
    if kind == "text":
        return kind, str(request_json["text"]["body"])
    if kind == "interactive":
        return kind, str(request_json["interactive"]["body"]["text"])
    return kind, json.dumps(request_json)


def post(server: Server, messages: list[dict[str, Any]]) -> None:
    body = json.dumps(webhook(messages), separators=(",", ":")).encode()
    response = httpx.post(
        f"{server.base_url}/webhook", content=body, headers=signed_headers(body), timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["new_messages"] == len(messages)


def test_webhooks_in_replies_out_and_logs_hold_nothing_private(
    db_url: str,
    conn: psycopg.Connection[Any],
    server_tmp: Path,
    tmp_path: Path,
    graph: FakeGraphApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, val in {
        "WHATSAPP_API_URL": graph.url,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WAPIPE_STATUS_TOKEN": STATUS_TOKEN,
        "WAPIPE_LOG_FORMAT": "json",
        "WAPIPE_LOG_LEVEL": "INFO",
        "WAPIPE_SEND_POLL_SECONDS": "0.2",
    }.items():
        monkeypatch.setenv(key, val)
    env = {**os.environ, "DATABASE_URL": db_url}

    agent_port, metrics_port = free_ports(2)
    agent = Process(tmp_path / "demo-agent.log", env, "demo-agent", "--port", str(agent_port))
    worker: WorkerProcess | None = None
    ingress: Server | None = None
    try:
        wait_http_ok(f"http://127.0.0.1:{agent_port}/healthz", agent.proc, agent.log_path)
        config = write_config(
            server_tmp / "wapipe.toml",
            [{"name": "waiter", "endpoints": [f"http://127.0.0.1:{agent_port}"]}],
        )
        worker = WorkerProcess(db_url, config, tmp_path, "--metrics-port", str(metrics_port))
        ingress = start_server(db_url, tmp_path / "ingress.log", WAPIPE_LOG_LEVEL="DEBUG")

        now = int(time.time())
        alice = [text_message(ALICE, t, timestamp=now + i) for i, t in enumerate(ALICE_TEXTS)]
        bob = [
            text_message(BOB, BOB_TEXT, timestamp=now),
            interactive_reply(BOB, "list_reply", "item:margherita", "Pizza Margherita"),
            interactive_reply(BOB, "button_reply", "qty:2", "2"),
            interactive_reply(BOB, "button_reply", "confirm:yes", "Confirm"),
        ]
        for i, msg in enumerate(bob[1:], start=1):
            msg["timestamp"] = str(now + i)
        post(ingress, [alice[0], bob[0]])  # one POST, two users
        post(ingress, [alice[1]])
        for msg in bob[1:]:
            post(ingress, [msg])

        expected = len(ALICE_REPLIES) + len(BOB_REPLIES)
        wait_for(lambda: len(graph.delivered()) >= expected, timeout=60, what="every reply")
        # nothing more comes: no reply is sent twice
        wait_for(
            lambda: (
                scalar(conn, "SELECT count(*) FROM wapipe.outbox WHERE status NOT IN ('sent')") == 0
            ),
            what="outbox settled",
        )
        # a negative check (it cannot fail a correct run): every row is sent, so only a bug
        # could still send one twice; a few sender polls (0.2 s) give it the chance to show
        time.sleep(1.0)
        assert len(graph.requests) == expected, [r.json for r in graph.requests]

        for user, wanted in ((ALICE, ALICE_REPLIES), (BOB, BOB_REPLIES)):
            got = [body_text(r.json) for r in graph.to(user)]
            assert len(got) == len(wanted), (user, got)
            for (kind, text), (want_kind, want_start) in zip(got, wanted, strict=True):
                assert kind == want_kind and text.startswith(want_start), (user, got)
        assert {r.phone_number_id for r in graph.requests} == {BUSINESS_NUMBER_ID}
        assert {r.authorization for r in graph.requests} == {f"Bearer {ACCESS_TOKEN}"}
        assert (
            scalar(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'")
            == 6
        )
        assert scalar(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0
        assert (
            scalar(
                conn,
                "SELECT status FROM wapipe.workflow_states WHERE user_phone = %s",
                BOB,
            )
            == "completed"
        )

        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
        assert 'wapipe_worker_messages_total{outcome="done"} 6.0' in metrics
        assert f'wapipe_sender_results_total{{code="ok"}} {float(expected)}' in metrics

        status = httpx.get(f"{ingress.base_url}/status", params={"token": STATUS_TOKEN}, timeout=60)
        assert status.status_code == 200 and status.text.count("<svg") == 4
        page = status.text
    finally:
        codes = {
            "ingress": ingress.stop() if ingress is not None else None,
            "worker": worker.terminate() if worker is not None else None,
            "demo-agent": agent.stop(),
        }
        if worker is not None:
            worker.close()
    assert codes["worker"] == 0, codes
    assert codes["ingress"] in (0, -signal.SIGTERM), codes

    logs = {
        "ingress": (tmp_path / "ingress.log").read_text(),
        "worker": worker.log_path.read_text(),
        "demo-agent": agent.log_path.read_text(),
    }
    assert "webhook stored" in logs["ingress"]
    assert "outbox_sent" in logs["worker"] and "message_handled" in logs["worker"]
    secrets = [SECRET, ROTATED_SECRET, VERIFY_TOKEN, ACCESS_TOKEN, STATUS_TOKEN]
    private_texts = [
        *ALICE_TEXTS,
        BOB_TEXT,
        "Pizza Margherita",  # the menu choice, and in every reply of Bob's flow
        "Hello and welcome",
        "Today we have",
        "Lovely! Here is our menu",
        "Order confirmed",
    ]
    for name, text in logs.items():
        for number in (ALICE, BOB, DISPLAY_NUMBER):
            assert number not in text, f"{name} logged the phone number {number}"
        unmasked = _UNMASKED_NUMBER.findall(text)
        assert not unmasked, f"{name} logged unmasked phone-like numbers {unmasked[:5]}"
        for words in private_texts:
            assert words not in text, f"{name} logged message text {words!r}"
        for secret in secrets:
            assert secret not in text, f"{name} logged a secret"
        for line in text.splitlines():
            if line.strip():
                json.loads(line)  # every line is structured (and went through redaction)
    masked_alice = f"+{ALICE[:6]}***{ALICE[-3:]}"
    assert masked_alice in logs["worker"], "the worker names users by their masked number"
    for number in (ALICE, BOB):
        assert number not in page

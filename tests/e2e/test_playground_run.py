"""`wapipe run` with no access token starts the playground and sends the replies to it.

The banner prints the playground's URL first, above the curl; a message posted with
`wapipe dev-send` is answered by the demo agent, and the real sender sends that reply
to the playground's Graph API stand-in (outbox row `sent` with the stand-in's wamid,
the reply in the playground's state, its `sent` status webhook stored by the ingress).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.e2e.test_make_run import WAPIPE, _start, _wait_for
from wapipe.cli import _children
from wapipe.playground import PLAYGROUND_ACCESS_TOKEN
from wapipe.testing.harness import free_ports

DEV_WA_ID = "250788123456"


def test_children_of_run_with_and_without_the_playground() -> None:
    plain = {child.name: child for child in _children()}
    assert sorted(plain) == ["demo-agent", "ingress", "worker"]
    assert plain["worker"].env == {}

    with_playground = {child.name: child for child in _children(8123)}
    assert sorted(with_playground) == ["demo-agent", "ingress", "playground", "worker"]
    assert with_playground["worker"].env == {
        "WHATSAPP_API_URL": "http://127.0.0.1:8123/v21.0",
        "WHATSAPP_ACCESS_TOKEN": PLAYGROUND_ACCESS_TOKEN,
    }
    assert "8123" in with_playground["playground"].argv
    assert with_playground["ingress"].env == {}  # only the sender talks to the stand-in


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]
    except psycopg.OperationalError:  # not up yet
        return []


def test_wapipe_run_sends_replies_to_the_playground(server_tmp: Path) -> None:
    db_port, ingress_port, agent_port, playground_port = free_ports(4)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_API_URL")
    }
    env.update(
        WAPIPE_HOME=str(server_tmp / "home"),
        WAPIPE_DB_PORT=str(db_port),
        WAPIPE_INGRESS_PORT=str(ingress_port),
        WAPIPE_DEMO_AGENT_PORT=str(agent_port),
        WAPIPE_PLAYGROUND_PORT=str(playground_port),
        WAPIPE_WORKER_METRICS_PORT="0",
        WAPIPE_SEND_POLL_SECONDS="0.2",
    )
    url = f"postgresql://postgres@127.0.0.1:{db_port}/wapipe"
    log = server_tmp / "run.log"
    run = _start(env, log)
    try:
        _wait_for(lambda: b"curl -sS" in log.read_bytes(), "the ready banner")
        text = log.read_text(errors="replace")
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", text)
        assert found, text
        assert int(found.group(1)) == playground_port
        assert text.index(found.group(0)) < text.index("curl -sS"), "the playground URL first"
        assert text.index(found.group(0)) < text.index(f":{ingress_port}/webhook")
        page = httpx.get(found.group(0), timeout=30)
        assert page.status_code == 200 and "wapipe playground" in page.text

        sent = subprocess.run(
            [WAPIPE, "dev-send", "hello", "--url", f"http://127.0.0.1:{ingress_port}/webhook"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr

        def outbox() -> list[tuple[Any, ...]]:
            return _query(url, "SELECT status, sent_wamid FROM wapipe.outbox")

        try:
            _wait_for(lambda: [r[0] for r in outbox()] == ["sent"], "the reply sent", 60)
        except AssertionError as exc:
            tail = log.read_text(errors="replace")[-6000:]
            raise AssertionError(f"{exc}; outbox {outbox()}\n--- wapipe run:\n{tail}") from None
        wamid = outbox()[0][1]
        state = httpx.get(
            f"http://127.0.0.1:{playground_port}/api/state",
            params={"token": found.group(2)},
            timeout=30,
        ).json()
        replies = [m for m in state["messages"] if m["side"] == "business"]
        assert [(m["id"], m["user"]) for m in replies] == [(wamid, DEV_WA_ID)]
        assert replies[0]["content"]["text"]["body"].startswith("Hello and welcome!")
        _wait_for(
            lambda: (
                _query(url, f"SELECT status FROM wapipe.message_statuses WHERE wamid = '{wamid}'")
                == [("sent",)]
            ),
            "the sent status webhook stored",
        )
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0
    assert "playground exited" not in log.read_text(errors="replace")

"""The playground in a real headless Chromium, in front of the real pipeline.

Real processes: `wapipe ingress`, `wapipe worker` (its sender pointed at the playground's
Graph API stand-in with a dummy token), `wapipe demo-agent` and `wapipe playground`.
The browser (tests/cdp.py, phone-sized) types with real key events and clicks with real
mouse events; every reply on the page is one the real sender posted to the stand-in,
every tick a status webhook the real ingress stored. Screenshots: artifacts/playground-*.png.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.cdp import Browser, Page
from tests.e2e.test_e2e_full import Process, wait_http_ok
from tests.e2e.test_ingress_server import Server, start_server
from tests.fakes import WorkerProcess, scalar, wait_for, write_config
from tests.integration.test_ingress_app import SECRET
from wapipe.cli import DEV_PHONE_NUMBER_ID
from wapipe.testing.harness import free_ports

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "artifacts"
TOKEN = "playground-browser-token-5e6f7a"
GREETING = "Hello and welcome! I'm your waiter."
SUMMARY = "Order confirmed! 2 x Pizza Margherita, total €19.00."


@dataclass
class Pipeline:
    url: str  # the page, with its token
    graph_url: str  # WHATSAPP_API_URL of the worker
    ingress: Server
    playground: Process


@pytest.fixture
def think_seconds() -> float:
    """How long the demo agent thinks before answering (a test may parametrize it)."""
    return 0.0


@pytest.fixture
def pipeline(
    db_url: str,
    server_tmp: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    think_seconds: float,
) -> Iterator[Pipeline]:
    agent_port, playground_port = free_ports(2)
    graph_url = f"http://127.0.0.1:{playground_port}/v21.0"
    monkeypatch.setenv("WHATSAPP_API_URL", graph_url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "dummy-token-for-the-playground")
    monkeypatch.setenv("WAPIPE_SEND_POLL_SECONDS", "0.1")
    monkeypatch.setenv("WAPIPE_LOG_FORMAT", "json")
    env = {**os.environ, "DATABASE_URL": db_url}
    agent = Process(
        tmp_path / "demo-agent.log",
        env,
        "demo-agent",
        "--port",
        str(agent_port),
        "--think-seconds",
        str(think_seconds),
    )
    ingress: Server | None = None
    playground: Process | None = None
    worker: WorkerProcess | None = None
    try:
        wait_http_ok(f"http://127.0.0.1:{agent_port}/healthz", agent.proc, agent.log_path)
        ingress = start_server(db_url, tmp_path / "ingress.log")
        playground_env = {
            k: v for k, v in env.items() if k not in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_API_URL")
        }
        playground_env.update(WHATSAPP_APP_SECRET=SECRET, WAPIPE_PLAYGROUND_TOKEN=TOKEN)
        playground = Process(
            tmp_path / "playground.log",
            playground_env,
            "playground",
            "--port",
            str(playground_port),
            "--webhook-url",
            f"{ingress.base_url}/webhook",
        )
        base = f"http://127.0.0.1:{playground_port}"
        wait_http_ok(f"{base}/healthz", playground.proc, playground.log_path)
        config = write_config(
            server_tmp / "wapipe.toml",
            [{"name": "waiter", "endpoints": [f"http://127.0.0.1:{agent_port}"]}],
        )
        worker = WorkerProcess(db_url, config, tmp_path, "--metrics-port", "0")
        yield Pipeline(f"{base}/?token={TOKEN}", graph_url, ingress, playground)
    finally:
        if worker is not None:
            worker.terminate()
            worker.close()
        for proc in (playground, agent):
            if proc is not None:
                proc.stop()
        if ingress is not None:
            ingress.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    started = Browser()
    try:
        yield started
    finally:
        started.close()


# -- driving the page ----------------------------------------------------------------------


def open_page(browser: Browser, url: str) -> Page:
    page = browser.page()
    page.send(
        "Emulation.setDeviceMetricsOverride",
        width=390,
        height=844,
        deviceScaleFactor=2,
        mobile=True,
    )
    page.navigate(url)
    wait_js(page, "document.body.dataset.ready === 'yes'", "the first snapshot")
    return page


def wait_js(page: Page, expression: str, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}: {snapshot(page)}"
            )
        time.sleep(0.2)


def snapshot(page: Page) -> Any:
    return page.evaluate(
        "[...document.querySelectorAll('.msg')].map(m => "
        "m.className + ' ' + m.querySelector('.ticks').dataset.status + ': ' + m.innerText)"
    )


def click(page: Page, selector: str) -> None:
    """A real mouse click in the middle of the last element matching selector, once nothing
    moves (the users drawer slides in). The page re-renders on every event (a tick, typing),
    so the click is checked: the browser reports which element it reached, and a click that
    did not reach the element (it moved between the press and the release) is made again."""
    for _ in range(5):
        point = wait_js(
            page,
            f"""(() => {{
              const all = [...document.querySelectorAll({json.dumps(selector)})];
              const e = all[all.length - 1];
              if (!e || document.getAnimations().some(a => a.playState === 'running')) return null;
              e.scrollIntoView({{block: 'center'}});
              const r = e.getBoundingClientRect();
              if (r.width === 0 || r.height === 0) return null;
              window.__clicked = null;
              document.addEventListener('click', (ev) => {{
                window.__clicked = ev.target.closest({json.dumps(selector)}) ? 'hit' : 'miss';
              }}, {{capture: true, once: true}});
              return [r.x + r.width / 2, r.y + r.height / 2];
            }})()""",
            f"a visible {selector}",
        )
        for kind in ("mousePressed", "mouseReleased"):
            page.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=point[0],
                y=point[1],
                button="left",
                clickCount=1,
            )
        if wait_js(page, "window.__clicked", f"the click on {selector}") == "hit":
            return
    raise AssertionError(f"five clicks on {selector} reached another element: {snapshot(page)}")


def type_and_send(page: Page, text: str) -> None:
    click(page, "#text")
    page.send("Input.insertText", text=text)
    for kind in ("keyDown", "keyUp"):
        page.send(
            "Input.dispatchKeyEvent",
            type=kind,
            key="Enter",
            code="Enter",
            windowsVirtualKeyCode=13,
            nativeVirtualKeyCode=13,
        )


def business_texts(page: Page) -> list[str]:
    texts: list[str] = page.evaluate(
        "[...document.querySelectorAll('.msg.business .bubble')].map(b => b.innerText)"
    )
    return texts


def wait_reply(page: Page, count: int, starts: str) -> None:
    wait_js(
        page,
        f"""(() => {{
          const b = [...document.querySelectorAll('.msg.business .bubble')];
          return b.length >= {count} && b[{count - 1}].innerText.startsWith({json.dumps(starts)});
        }})()""",
        f"reply {count}: {starts!r}",
    )


def ticks(page: Page, side: str) -> list[str]:
    found: list[str] = page.evaluate(
        f"[...document.querySelectorAll('.msg.{side} .ticks')].map(t => t.dataset.status)"
    )
    return found


def user_ticks_read(page: Page, count: int) -> None:
    """The user's `count` messages show read: the worker's mark-read call is best effort
    and may land after the reply, so wait for it (never a timed assertion)."""
    wait_js(
        page,
        "(() => { const t = [...document.querySelectorAll('.msg.user .ticks')]"
        ".map(x => x.dataset.status);"
        f" return t.length === {count} && t.every(s => s === 'read'); }})()",
        f"{count} user messages marked read",
    )


def current_user(page: Page) -> dict[str, Any]:
    key = page.evaluate("localStorage.getItem('wapipe-playground-user')")
    state = httpx.get(page_base(page) + "/api/state", params={"token": TOKEN}, timeout=5).json()
    user: dict[str, Any] = next(u for u in state["users"] if u["key"] == key)
    return user


def page_base(page: Page) -> str:
    origin: str = page.evaluate("location.origin")
    return origin


def all_read(page: Page, count: int) -> None:
    wait_js(
        page,
        f"""(() => {{
          const t = [...document.querySelectorAll('.msg.business .ticks')];
          return t.length === {count} && t.every(x => x.dataset.status === 'read');
        }})()""",
        f"{count} replies with read ticks",
    )


def read_statuses(conn: psycopg.Connection[Any]) -> int:
    return int(scalar(conn, "SELECT count(*) FROM wapipe.message_statuses WHERE status = 'read'"))


# -- the tests -------------------------------------------------------------------------------


def test_hello_and_the_whole_order_flow_by_clicks(
    pipeline: Pipeline, browser: Browser, conn: psycopg.Connection[Any]
) -> None:
    page = open_page(browser, pipeline.url)
    type_and_send(page, "hello")
    wait_reply(page, 1, GREETING)
    page.screenshot(ARTIFACTS / "playground-hello.png")

    type_and_send(page, "I want to order")
    wait_reply(page, 2, "Lovely! Here is our menu.")
    wait_reply(page, 3, "Menu\nWhat would you like to order?")
    click(page, ".msg.business .list-open")
    wait_js(page, "!document.getElementById('sheet').hidden", "the menu sheet")
    page.screenshot(ARTIFACTS / "playground-menu.png")
    click(page, '#sheet .list-row[data-id="item:margherita"]')
    wait_reply(page, 4, "How many Pizza Margherita?")
    click(page, '.reply-button[data-id="qty:2"]')
    wait_reply(page, 5, "2 x Pizza Margherita, total €19.00.\nConfirm?")
    click(page, '.reply-button[data-id="confirm:yes"]')
    wait_reply(page, 6, SUMMARY)

    # what the user tapped went in as interactive replies, and they show as such
    user_bubbles = page.evaluate(
        "[...document.querySelectorAll('.msg.user')].map(m => m.dataset.type + ':' +"
        " m.querySelector('.text').innerText)"
    )
    assert user_bubbles == [
        "text:hello",
        "text:I want to order",
        "interactive:Pizza Margherita",
        "interactive:2",
        "interactive:Confirm",
    ]
    # every reply's ticks reach read: the ingress stored sent, delivered and read for each
    all_read(page, 6)
    assert read_statuses(conn) == 6
    # (the sender marks a reply sent once Graph has answered: after the page shows it)
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox WHERE status = 'sent'") == 6,
        what="the six replies marked sent",
    )
    # the worker marked each one read (its mark-read + typing call) before answering
    user_ticks_read(page, 5)
    page.screenshot(ARTIFACTS / "playground-order.png")

    # The sender marks a message read with the typing indicator: "typing…", blue ticks.
    last_in = page.evaluate("[...document.querySelectorAll('.msg.user')].pop().dataset.id")
    typing = httpx.post(
        f"{pipeline.graph_url}/{DEV_PHONE_NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": last_in,
            "typing_indicator": {"type": "text"},
        },
        headers={"Authorization": "Bearer dummy"},
        timeout=10,
    )
    assert typing.json() == {"success": True}
    wait_js(page, "document.getElementById('chat-sub').textContent === 'typing…'", "typing…")
    assert page.evaluate("document.querySelectorAll('.typing-bubble').length") == 1
    assert ticks(page, "user") == ["read"] * 5
    page.screenshot(ARTIFACTS / "playground-typing.png")

    # "send 3 quickly": three webhooks at once, three answers, in order
    click(page, "#burst")
    wait_reply(page, 9, "Welcome back!")
    texts = page.evaluate(
        "[...document.querySelectorAll('.msg.user .text')].slice(-3).map(t => t.innerText)"
    )
    assert texts == ["hello (1/3)", "hello (2/3)", "hello (3/3)"]
    assert all(t.startswith("Welcome back!") for t in business_texts(page)[6:9])
    assert page.evaluate("document.querySelectorAll('.typing-bubble').length") == 0
    all_read(page, 9)

    # a template and an image (sent as the sender would): rendered, nothing loaded from elsewhere
    you = current_user(page)
    for body in (
        {
            "type": "template",
            "template": {
                "name": "order_ready",
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "A12"}]}],
            },
        },
        {
            "type": "image",
            "image": {"link": "https://example.com/pizza.jpg", "caption": "Your pizza"},
        },
    ):
        answer = httpx.post(
            f"{pipeline.graph_url}/{DEV_PHONE_NUMBER_ID}/messages",
            json={"messaging_product": "whatsapp", "to": you["wa_id"], **body},
            headers={"Authorization": "Bearer dummy"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    wait_reply(page, 11, "\u25a3")  # the image's card
    assert business_texts(page)[9].startswith("\u2263 template · en\norder_ready\nbody: A12")
    assert "Your pizza" in business_texts(page)[10]
    page.screenshot(ARTIFACTS / "playground-media.png")

    # a reset starts a fresh user: a first greeting again, from a new number
    before = current_user(page)
    click(page, "#reset")
    wait_js(page, "document.querySelectorAll('.msg').length === 0", "an empty chat")
    type_and_send(page, "hi")
    wait_reply(page, 1, GREETING)
    assert current_user(page)["wa_id"] not in (None, before["wa_id"])

    errors = page.errors()
    assert errors == [], f"browser errors: {errors}"
    resources = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert all(r.startswith(page_base(page)) for r in resources), resources
    # its log lines (the banner above them prints the URL with the token, on purpose)
    log = "\n".join(
        line for line in pipeline.playground.log_path.read_text().splitlines() if line[:1] == "{"
    )
    assert "playground_webhook_posted" in log
    for private in ("Pizza Margherita", "hello", TOKEN, SECRET, before["wa_id"]):
        assert private not in log, f"the playground logged {private!r}"


def test_a_username_only_user_is_answered_the_same(
    pipeline: Pipeline, browser: Browser, conn: psycopg.Connection[Any]
) -> None:
    page = open_page(browser, pipeline.url)
    click(page, "#open-users")
    click(page, "#new-name")
    page.send("Input.insertText", text="Keza")
    click(page, "#new-username")
    wait_js(page, "document.getElementById('chat-name').textContent === 'Keza'", "Keza's chat")
    user = current_user(page)
    assert user["wa_id"] is None and user["user_id"].startswith("RW.")
    assert user["username"].startswith("@keza.")

    type_and_send(page, "hello\nwhat's on the menu?")  # a paste of two lines: two messages
    wait_js(
        page,
        "['delivered', 'read', 'failed'].includes("
        "document.querySelector('.msg.user .ticks')?.dataset.status)",
        "the ingress's answer",
    )
    page.screenshot(ARTIFACTS / "playground-username.png")
    error = page.evaluate("(document.querySelector('.msg.user .error') || {}).innerText || ''")
    assert ticks(page, "user") != ["failed"], f"the ingress refused the webhook: {error}"
    wait_reply(page, 1, GREETING)
    wait_reply(page, 2, "Today we have: Pizza Margherita")
    all_read(page, 2)
    user_ticks_read(page, 2)
    assert read_statuses(conn) == 2
    state = httpx.get(page_base(page) + "/api/state", params={"token": TOKEN}, timeout=5).json()
    reply = next(m for m in state["messages"] if m["side"] == "business")
    assert reply["content"]["recipient"] == user["user_id"] and "to" not in reply["content"]
    page.screenshot(ARTIFACTS / "playground-username.png")
    errors = page.errors()
    assert errors == [], f"browser errors: {errors}"


@pytest.mark.parametrize("think_seconds", [4.0])
def test_typing_shows_while_the_agent_thinks_through_the_real_pipeline(
    pipeline: Pipeline, browser: Browser, conn: psycopg.Connection[Any]
) -> None:
    """The worker's own read + typing call (no hand-made one): while the demo agent thinks,
    the page shows "typing…"; the reply replaces it."""
    page = open_page(browser, pipeline.url)
    type_and_send(page, "hello")
    wait_js(page, "document.getElementById('chat-sub').textContent === 'typing…'", "typing…")
    assert page.evaluate("document.querySelectorAll('.typing-bubble').length") == 1
    user_ticks_read(page, 1)  # the same call marked it read
    page.screenshot(ARTIFACTS / "playground-thinking.png")
    wait_reply(page, 1, GREETING)
    wait_js(
        page,
        "document.querySelectorAll('.typing-bubble').length === 0",
        "the typing bubble gone with the reply",
    )
    # (the sender marks the reply sent once Graph has answered: after the page shows it)
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox WHERE status = 'sent'") == 1,
        what="the reply marked sent",
    )


def test_the_user_sends_the_sample_photo_and_the_waiter_names_its_type(
    pipeline: Pipeline, browser: Browser, conn: psycopg.Connection[Any]
) -> None:
    """The page draws its sample photo (PNG), the stand-in keeps it under a media id, the
    real worker fetches it the Cloud API way (id -> URL -> bytes with the token) and the
    demo waiter answers from the `media` descriptor of its request."""
    page = open_page(browser, pipeline.url)
    click(page, "#attach")
    click(page, "#sample-photo")
    wait_js(
        page,
        "(() => { const i = document.querySelector('.msg.user img.photo');"
        " return i && i.complete && i.naturalWidth === 480; })()",
        "the photo in the user's bubble",
    )
    wait_reply(page, 1, "Nice photo! (image/png, ")
    assert page.evaluate("document.querySelector('.msg.user').dataset.type") == "image"
    row = conn.execute("SELECT status, mime_type, size_bytes FROM wapipe.media").fetchone()
    assert row is not None and row[0] == "stored" and row[1] == "image/png"
    assert business_texts(page)[0].startswith(
        f"Nice photo! (image/png, {max(1, round(row[2] / 1024))} KB)"
    )
    user_ticks_read(page, 1)
    page.screenshot(ARTIFACTS / "playground-photo.png")
    errors = page.errors()
    assert errors == [], f"browser errors: {errors}"

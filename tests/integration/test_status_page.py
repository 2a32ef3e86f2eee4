"""GET /status: token rules (TestClient) and the page as a real browser renders it.

The browser test runs `wapipe ingress` (uvicorn) on a free port against a database
holding a small scenario (answered, retried, dead-lettered and waiting messages over
the last hour; an open and a closed breaker), loads /status?token=... in headless
Chromium over the DevTools protocol, fails on any console error, checks that the SVG
charts drew something and saves artifacts/status-page.png.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingress.app import create_app
from tests.cdp import Browser
from tests.e2e.test_ingress_server import start_server
from tests.fakes import send_text
from tests.integration.test_ingress_app import (  # imported without its warning
    TestClient,
    ingress_settings,
)

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOT = PROJECT / "artifacts" / "status-page.png"
TOKEN = "status-token-0123456789abcdef"
USERS = [f"2507881234{i:02d}" for i in range(12)]
BODY_MARKER = "private words of user"


def fill_scenario(conn: psycopg.Connection[Any]) -> None:
    """Twelve users, one message each, spread over the last hour: nine answered, one
    retried, one dead-lettered, one still being handled; two breakers."""
    for user in USERS:
        send_text(conn, user, f"{BODY_MARKER} {user}")
    claimed = [
        r[0] for r in conn.execute("SELECT msg_id FROM wapipe.get_next_queue_message('w1', 30, 20)")
    ]
    assert len(claimed) == len(USERS)
    for msg_id in claimed[:9]:
        conn.execute(
            "SELECT wapipe.complete_message(%s, 'w1', %s::jsonb, NULL, NULL, 'waiter')",
            (msg_id, json.dumps([{"type": "text", "text": {"body": "the reply"}}])),
        )
    conn.execute(
        "SELECT wapipe.schedule_message_retry(%s, 'w1', 'agent_timeout: no answer', false)",
        (claimed[9],),
    )
    conn.execute(
        "SELECT wapipe.schedule_message_retry(%s, 'w1', 'agent_http_500: HTTP 500', true)",
        (claimed[10],),
    )
    # spread the answered ones over the hour: 5 minutes apart, growing processing times
    conn.execute(
        """
        WITH done AS (
          SELECT id, row_number() OVER (ORDER BY id) AS k
          FROM wapipe.processed_messages WHERE status = 'done')
        UPDATE wapipe.processed_messages m
           SET received_at = now() - make_interval(mins => (5 * d.k)::int),
               processed_at = now() - make_interval(mins => (5 * d.k)::int)
                              + make_interval(secs => 2),
               processing_ms = (120 * d.k)::int
          FROM done d WHERE d.id = m.id
        """
    )
    conn.execute(
        "INSERT INTO wapipe.breakers (name, kind, state, opened_at, times_opened, last_error)"
        " VALUES ('waiter', 'agent', 'open', now() - interval '20 seconds', 1,"
        "         'timeout talking to the agent about 250788123400'),"
        "        ('whatsapp-graph', 'default', 'closed', NULL, 0, NULL)"
    )


# -- TestClient: when the page answers at all ---------------------------------------------


@pytest.fixture
def scenario(db_url: str, conn: psycopg.Connection[Any]) -> str:
    fill_scenario(conn)
    return db_url


def client_for(db_url: str) -> TestClient:
    return TestClient(create_app(ingress_settings(db_url), configure_logs=False))


def test_status_is_404_without_a_configured_token(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAPIPE_STATUS_TOKEN", raising=False)
    with client_for(scenario) as client:
        assert client.get("/status").status_code == 404
        assert client.get("/status", params={"token": ""}).status_code == 404
        assert client.get("/status", headers={"Authorization": "Bearer "}).status_code == 404


def test_status_needs_the_token(scenario: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAPIPE_STATUS_TOKEN", TOKEN)
    with client_for(scenario) as client:
        refused = [
            client.get("/status"),
            client.get("/status", params={"token": "wrong"}),
            client.get("/status", params={"token": TOKEN[:-1]}),
            client.get("/status", headers={"Authorization": "Bearer wrong"}),
            client.get("/status", headers={"Authorization": f"Basic {TOKEN}"}),
            client.get("/status", headers={"Authorization": TOKEN}),
        ]
        assert [r.status_code for r in refused] == [401] * len(refused)
        assert refused[0].headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in refused[0].text

        by_header = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
        by_query = client.get("/status", params={"token": TOKEN})
    for response in (by_header, by_query):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    page = by_header.text
    assert '<meta http-equiv="refresh" content="15">' in page
    assert page.count("<svg") == 4
    assert "critical" in page or "degraded" in page  # a dead letter, an open breaker
    assert "waiter" in page and "whatsapp-graph" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert_nothing_private(page)


def assert_nothing_private(text: str) -> None:
    for user in [*USERS, "250788123400"]:
        assert user not in text, f"phone number {user} on the status page"
    assert BODY_MARKER not in text
    assert "the reply" not in text
    assert TOKEN not in text


# -- a real browser ------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Browser]:
    started = Browser()  # fails with a clear message when chromium is missing
    try:
        yield started
    finally:
        started.close()


CHART_CHECK = """
(() => {
  const drawn = el => { const b = el.getBBox(); return b.width > 0 || b.height > 0; };
  const charts = [...document.querySelectorAll('svg.chart')];
  return {
    charts: charts.length,
    chartsOnScreen: charts.filter(s => {
      const r = s.getBoundingClientRect(); return r.width > 200 && r.height > 60; }).length,
    lines: [...document.querySelectorAll('svg.chart path.series')].filter(drawn).length,
    bars: [...document.querySelectorAll('svg.chart rect.bar')].filter(el => {
      const b = el.getBBox(); return b.width > 0 && b.height > 0; }).length,
    perChart: charts.map(s => s.querySelectorAll('path.series, rect.bar').length),
    status: document.querySelector('header .badge').textContent,
    breakers: [...document.querySelectorAll('#breakers tbody tr')]
      .map(tr => tr.cells[0].textContent + ':' + tr.cells[2].textContent),
    tiles: document.querySelectorAll('#health .tile').length,
    resources: performance.getEntriesByType('resource').map(e => e.name),
    text: document.documentElement.outerHTML + document.body.innerText,
  };
})()
"""


def test_status_page_in_a_real_browser(
    db_url: str, conn: psycopg.Connection[Any], tmp_path: Path, browser: Browser
) -> None:
    fill_scenario(conn)
    server = start_server(db_url, tmp_path / "ingress.log", WAPIPE_STATUS_TOKEN=TOKEN)
    try:
        page = browser.page()
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.navigate(f"{server.base_url}/status?token={TOKEN}")
        seen = page.evaluate(CHART_CHECK)
        errors = page.errors()
        page.screenshot(SCREENSHOT)
    finally:
        server.stop()
    assert errors == [], f"browser errors on /status: {errors}"
    assert seen["charts"] == 4 and seen["chartsOnScreen"] == 4
    assert all(n > 0 for n in seen["perChart"]), f"an empty chart: {seen['perChart']}"
    assert seen["lines"] >= 4  # in, out, depth, p95 (p95 may be split by gaps)
    assert seen["bars"] >= 2  # the retry and the dead letter
    assert seen["status"] in ("degraded", "critical")
    assert sorted(seen["breakers"]) == ["waiter:open", "whatsapp-graph:closed"]
    assert seen["tiles"] == 10
    assert seen["resources"] == [], f"the page loaded other resources: {seen['resources']}"
    assert_nothing_private(seen["text"])
    assert SCREENSHOT.stat().st_size > 10_000
    log = server.log_path.read_text()
    assert TOKEN not in log
    assert_nothing_private(log)

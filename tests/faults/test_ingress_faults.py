"""The database goes away under the ingress: 503 + Retry-After, never a 200 for
something not stored, and the retried POST is stored once after it comes back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingress.app import create_app
from tests.integration.test_ingress_app import (
    TestClient,
    ingress_settings,
    signed_headers,
    stored_counts,
    text_message,
)
from wapipe.cluster import Cluster, remove_cluster
from wapipe.migrate import migrate
from wapipe.testing.harness import new_cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def own_cluster(server_tmp: Path) -> Iterator[Cluster]:
    cluster = new_cluster(server_tmp, "wapipe")
    cluster.up()
    try:
        migrate(cluster.url)
        yield cluster
    finally:
        remove_cluster(cluster)


def test_database_stopped_mid_test_gives_503_and_loses_nothing(own_cluster: Cluster) -> None:
    url = own_cluster.url
    app = create_app(ingress_settings(url, db_timeout_seconds=3.0), configure_logs=False)
    with TestClient(app) as client:
        before = text_message("stored before the outage")
        assert (
            client.post("/webhook", content=before, headers=signed_headers(before)).status_code
            == 200
        )

        own_cluster.down()
        during = text_message("sent while the database is down")
        started = time.monotonic()
        response = client.post("/webhook", content=during, headers=signed_headers(during))
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert response.headers["x-correlation-id"]
        # bounded by the 3 s db timeout, not hanging on (psycopg's pool alone waits 30 s);
        # the margin is for a loaded machine
        assert time.monotonic() - started < 20
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200

        own_cluster.up()
        # Meta retries the same POST until it gets a 200; so do we (bounded).
        statuses = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses.append(
                client.post("/webhook", content=during, headers=signed_headers(during)).status_code
            )
            if statuses[-1] == 200:
                break
            time.sleep(0.2)
        assert statuses[-1] == 200, statuses
        assert set(statuses) <= {200, 503}
        # One more redelivery after success: still one message.
        assert (
            client.post("/webhook", content=during, headers=signed_headers(during)).json()[
                "duplicates"
            ]
            == 1
        )
        assert client.get("/readyz").status_code == 200

    counts = stored_counts(url)
    assert (counts["messages"], counts["queued"]) == (2, 2)

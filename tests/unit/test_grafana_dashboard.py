"""monitoring/grafana-dashboard.json parses and every query names a metric that exists.

Ingress metric names come from ingress/metrics.py itself (so a rename there fails
here); the worker's are the contract in docs/OPERATIONS.md ("Metrics").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana-dashboard.json"

WORKER_METRICS = {
    "wapipe_worker_messages_total": "counter",
    "wapipe_worker_handle_seconds": "histogram",
    "wapipe_queue_depth": "gauge",
    "wapipe_queue_oldest_age_seconds": "gauge",
    "wapipe_dead_letters": "gauge",
    "wapipe_breaker_state": "gauge",
    "wapipe_deferred_messages": "gauge",
    "wapipe_sender_results_total": "counter",
}
_SERIES_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def ingress_metrics() -> dict[str, str]:
    """{name as constructed: kind} from the Counter(...) / Histogram(...) calls."""
    source = (ROOT / "ingress" / "metrics.py").read_text()
    found = re.findall(r"\b(Counter|Histogram|Gauge)\(\s*\"(wapipe_[a-z0-9_]+)\"", source)
    assert found, "no metrics found in ingress/metrics.py"
    return {name: kind.lower() for kind, name in found}


def exposed_series() -> set[str]:
    """Every series name Prometheus can scrape from the ingress and the worker."""
    series: set[str] = set()
    for name, kind in ingress_metrics().items():
        base = name.removesuffix("_total")
        series.update(base + suffix for suffix in _SERIES_SUFFIXES[kind])
    for name, kind in WORKER_METRICS.items():
        base = name.removesuffix("_total")
        series.update(base + suffix for suffix in _SERIES_SUFFIXES[kind])
    return series


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for panel in panels:
        result.append(panel)
        result.extend(all_panels(panel.get("panels", [])))
    return result


def test_dashboard_parses_and_every_expr_names_known_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "wapipe"
    known = exposed_series()
    panels = [p for p in all_panels(dashboard["panels"]) if p["type"] != "row"]
    assert len(panels) >= 10
    used: set[str] = set()
    for panel in panels:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            names = set(re.findall(r"\bwapipe_[a-z0-9_]+", target["expr"]))
            assert names, f"{panel['title']!r}: {target['expr']!r} names no wapipe metric"
            unknown = names - known
            assert not unknown, f"{panel['title']!r} uses unknown metrics {sorted(unknown)}"
            used |= names
    # the dashboard covers what the issue asks for
    for needed in (
        "wapipe_queue_depth",
        "wapipe_worker_messages_total",
        "wapipe_worker_handle_seconds_bucket",
        "wapipe_breaker_state",
        "wapipe_dead_letters",
        "wapipe_ingress_requests_total",
    ):
        assert needed in used, f"no panel shows {needed}"


def test_panel_ids_are_unique_and_panels_fit_the_grid() -> None:
    panels = all_panels(json.loads(DASHBOARD.read_text())["panels"])
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_worker_metric_names_are_documented() -> None:
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text()
    for name in WORKER_METRICS:
        assert f"`{name}" in operations, f"{name} missing from docs/OPERATIONS.md"

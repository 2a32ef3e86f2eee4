"""GET /status: one server-rendered HTML page for people (Prometheus has /metrics).

Off (404) unless WAPIPE_STATUS_TOKEN is set; then the token is required as
`Authorization: Bearer <token>` or `?token=<token>` (compared in constant time;
401 otherwise). The page shows wapipe.system_health(), per-minute charts of the
last hour from wapipe.status_page_series() and the breaker board
(wapipe.circuit_breaker_status), refreshes itself every 15 s and loads nothing
from elsewhere: inline CSS and SVG drawn here, no script. It never shows a phone
number or a message body: it reads none, and every text from the database goes
through mask_phone and HTML escaping anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from ingress import store
from wapipe.errors import DatabaseUnavailable
from wapipe.log import get_logger, mask_phone
from wapipe.signature import token_accepted

log = get_logger("wapipe.ingress.status")

SERIES_MINUTES = 60
REFRESH_SECONDS = 15
_HEADERS = {
    "Cache-Control": "no-store",
    # the token may be in the URL: never send it on as a Referer
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_STATUS_COLORS = {"ok": "#1a7f37", "degraded": "#b7791f", "critical": "#c53030"}
_BREAKER_COLORS = {"closed": "#1a7f37", "half_open": "#b7791f", "open": "#c53030"}


async def status_page(request: Request) -> Response:
    runtime = request.state.runtime
    expected: str = runtime.status_token
    if not expected:
        return PlainTextResponse("Not Found", status_code=404)
    if not token_accepted(request, expected):
        log.warning("status page refused", reason="missing or wrong token")
        return PlainTextResponse(
            "status token required (Authorization: Bearer <token> or ?token=)\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="wapipe status"', **_HEADERS},
        )
    try:
        snapshot = await store.status_snapshot(
            runtime.pool, SERIES_MINUTES, runtime.settings.db_timeout_seconds
        )
    except DatabaseUnavailable as exc:
        log.error("status page unavailable", reason=str(exc))
        return HTMLResponse(render_unavailable(str(exc)), status_code=503, headers=dict(_HEADERS))
    return HTMLResponse(render_page(snapshot), headers=dict(_HEADERS))


# -- rendering -------------------------------------------------------------------------


def _text(value: Any) -> str:
    """Any database value as safe HTML text: phone-like digit runs masked, escaped."""
    return escape(mask_phone("" if value is None else str(value)))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _when(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    return f"{_age((now - value).total_seconds())} ago"


@dataclass(frozen=True)
class Line:
    label: str
    color: str
    values: Sequence[float | None]


def chart_svg(
    title: str,
    minutes: Sequence[dt.datetime],
    lines: Sequence[Line],
    *,
    bars: bool = False,
    unit: str = "",
) -> str:
    """A small chart: lines (gaps where a value is None) or grouped bars, y from 0."""
    width, height = 560, 170
    left, right, top, bottom = 52, 10, 12, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(minutes), 1)
    peak = max([v for line in lines for v in line.values if v is not None] + [0.0])
    y_max = _nice_ceiling(peak)

    def x(i: float) -> float:
        return left + plot_w * (i + 0.5) / n

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="plot" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
        'fill="#fafafa" stroke="#ddd"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        tick = y_max * frac
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#e5e5e5"/>'
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{_num(tick)}{unit}</text>"
        )
    if minutes:
        for i in (0, len(minutes) // 2, len(minutes) - 1):
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 6}" text-anchor="middle">'
                f"{minutes[i]:%H:%M}</text>"
            )
    if bars:
        slot = plot_w / n
        bar_w = max(slot * 0.8 / max(len(lines), 1), 1.0)
        for k, line in enumerate(lines):
            for i, v in enumerate(line.values):
                if not v:
                    continue
                bx = left + slot * i + slot * 0.1 + bar_w * k
                parts.append(
                    f'<rect class="bar" x="{bx:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" '
                    f'height="{max(plot_h - (y(v) - top), 1):.1f}" fill="{line.color}">'
                    f"<title>{escape(line.label)} {minutes[i]:%H:%M}: {_num(v)}</title></rect>"
                )
    else:
        for line in lines:
            for segment in _segments(line.values):
                d = " ".join(
                    f"{'M' if j == 0 else 'L'}{x(i):.1f},{y(v):.1f}"
                    for j, (i, v) in enumerate(segment)
                )
                if len(segment) == 1:  # a lone point: a short tick so it shows
                    i, v = segment[0]
                    d = f"M{x(i) - 2:.1f},{y(v):.1f} L{x(i) + 2:.1f},{y(v):.1f}"
                parts.append(
                    f'<path class="series" d="{d}" fill="none" stroke="{line.color}" '
                    'stroke-width="2" stroke-linejoin="round"/>'
                )
    legend_x = left + 6
    for line in lines:
        parts.append(
            f'<rect x="{legend_x}" y="{top + 4}" width="10" height="10" fill="{line.color}"/>'
            f'<text x="{legend_x + 14}" y="{top + 13}">{escape(line.label)}</text>'
        )
        legend_x += 22 + 7 * len(line.label)
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


def _segments(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    segments: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((i, float(v)))
    if current:
        segments.append(current)
    return segments


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above value (at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def _num(v: float) -> str:
    return f"{v:g}" if v < 10000 else f"{v / 1000:g}k"


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;
 background:#f4f5f7;color:#222}
header{display:flex;align-items:center;gap:12px;padding:12px 20px;background:#fff;
 border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0}h2{font-size:15px;margin:0 0 8px}
.badge{color:#fff;border-radius:4px;padding:2px 10px;font-weight:600;text-transform:uppercase}
main{padding:16px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 14px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.tile{border:1px solid #eee;border-radius:4px;padding:6px 8px}
.tile b{display:block;font-size:20px}.tile span{color:#666;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{max-width:100%;height:auto}svg text{font-size:10px;fill:#555}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}
.state{font-weight:600}.muted{color:#777}ul.reasons{margin:6px 0 0;padding-left:20px}
"""


def render_page(snapshot: store.StatusSnapshot) -> str:
    (
        status,
        reasons,
        depth,
        oldest_age,
        in_flight,
        retrying,
        dead,
        breakers_open,
        workers_alive,
        stuck_workflows,
        cron_failures,
        last_cron_run,
        now,
    ) = snapshot.health
    now = now.astimezone(dt.UTC)
    color = _STATUS_COLORS.get(str(status), "#555")
    reason_items = "".join(f"<li>{_text(r)}</li>" for r in reasons or [])
    tiles = [
        ("queue depth", _text(depth)),
        ("oldest message", _age(oldest_age)),
        ("in flight", _text(in_flight)),
        ("retrying", _text(retrying)),
        ("dead letters (pending)", _text(dead)),
        ("breakers open", _text(breakers_open)),
        ("workers alive", _text(workers_alive)),
        ("stuck workflows", _text(stuck_workflows)),
        ("cron failures (1 h)", _text(cron_failures)),
        ("last cron run", _when(last_cron_run, now)),
    ]
    tile_html = "".join(f'<div class="tile"><b>{v}</b><span>{k}</span></div>' for k, v in tiles)

    minutes = [row[0].astimezone(dt.UTC) for row in snapshot.series]
    col: list[Sequence[Any]] = (
        [list(c) for c in zip(*snapshot.series, strict=True)]
        if snapshot.series
        else [[] for _ in range(7)]
    )
    charts = [
        chart_svg(
            "Messages per minute",
            minutes,
            [Line("in", "#2b6cb0", col[1]), Line("out", "#38a169", col[2])],
        ),
        chart_svg("Queue depth (end of minute)", minutes, [Line("depth", "#805ad5", col[5])]),
        chart_svg("p95 processing time (ms)", minutes, [Line("p95", "#dd6b20", col[6])]),
        chart_svg(
            "Errors per minute",
            minutes,
            [Line("failed attempts", "#d69e2e", col[4]), Line("dead letters", "#c53030", col[3])],
            bars=True,
        ),
    ]

    rows = []
    for (
        name,
        kind,
        state,
        since,
        calls,
        failures,
        rate,
        opened,
        healthy,
        total,
        deferred,
    ) in snapshot.breakers:
        rate_text = "-" if rate is None else f"{float(rate) * 100:.0f} %"
        rows.append(
            "<tr>"
            f"<td>{_text(name)}</td><td>{_text(kind)}</td>"
            f'<td class="state" style="color:{_BREAKER_COLORS.get(str(state), "#555")}">'
            f"{_text(str(state).replace('_', '-'))}</td>"
            f"<td>{_when(since, now)}</td><td>{_text(calls)}</td><td>{_text(failures)}</td>"
            f"<td>{rate_text}</td><td>{_text(opened)}</td>"
            f"<td>{_text(healthy)} / {_text(total)}</td><td>{_text(deferred)}</td>"
            "</tr>"
        )
    board = (
        "<table><thead><tr><th>breaker</th><th>kind</th><th>state</th><th>since</th>"
        "<th>calls (window)</th><th>failures</th><th>failure rate</th><th>times opened</th>"
        "<th>healthy endpoints</th><th>messages waiting</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else '<p class="muted">No breakers yet (they appear with the first call).</p>'
    )
    handoff_rows = "".join(
        f"<tr><td>{_text(mask_phone(str(key)))}</td><td>{_when(since, now)}</td>"
        f"<td>{_text(by)}</td><td>in {_age((until - now).total_seconds())}</td></tr>"
        for key, since, by, until in snapshot.handoffs
    )
    handoffs = (
        "<table><thead><tr><th>conversation</th><th>since</th><th>by</th><th>until</th>"
        f"</tr></thead><tbody>{handoff_rows}</tbody></table>"
        if handoff_rows
        else '<p class="muted">The bot answers every conversation.</p>'
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>wapipe status: {_text(status)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>wapipe</h1><span class="badge" style="background:{color}">'
        f"{_text(status)}</span>"
        f'<span class="muted">checked {now:%Y-%m-%d %H:%M:%S} UTC · refreshes every '
        f"{REFRESH_SECONDS} s</span></header><main>"
        f'<section id="health"><h2>Health</h2><div class="tiles">{tile_html}</div>'
        + (f'<ul class="reasons">{reason_items}</ul>' if reason_items else "")
        + "</section>"
        f'<section id="charts"><h2>Last {SERIES_MINUTES} minutes</h2>'
        f'<div class="charts">{"".join(charts)}</div></section>'
        f'<section id="breakers"><h2>Circuit breakers</h2>{board}</section>'
        f'<section id="handoffs"><h2>Handed off to a human</h2>{handoffs}</section>'
        "</main></body></html>"
    )


def render_unavailable(reason: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>wapipe status: unavailable</title><style>{_CSS}</style></head><body>"
        '<header><h1>wapipe</h1><span class="badge" style="background:#c53030">'
        "unavailable</span></header><main><section><h2>The database cannot be read</h2>"
        f"<p>{_text(reason)}</p></section></main></body></html>"
    )

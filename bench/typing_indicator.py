"""Read receipt + typing indicator (issue 16): its latency and what it costs the worker.

(a) ingest commit -> the typing call arriving at the fake Graph API
    (tests/fakes/graph_api.py), at 100 messages/s for 5 s, p50 and p99, beside ingest
    commit -> reply in the outbox of the same messages (the baseline; goal: typing p99
    <= 50 ms). Run as a user runs it: `wapipe worker` as its own process with the
    default settings (concurrency, batch, [typing], pacing at Meta's 80 calls/s per
    number, its outbox sender on) and one no-op `python` agent; the fake Graph API in a
    process of its own (in-process it would share the worker's or the driver's
    interpreter lock); the driver here commits each webhook and notes when. Each round
    starts a fresh worker and sends at once (cold start, no warm-up). The 100 messages/s
    come from 200 users of four business numbers, 25/s each: a typing call and a reply
    per message make 50 calls/s per number, within Meta's 80 (at 50 messages/s per number
    the pair would need 100: typing and the sender then starve each other of the
    number's tokens, which is Meta's limit, not latency). Arrival and commit are both
    CLOCK_MONOTONIC (one machine). Each round prints the load average at its start and
    the share of turns per typing outcome (sent/read_only reached Graph; busy, paced,
    breaker_open, failed, timeout did not), read from the worker's own metrics endpoint
    (wapipe_typing_indicators_total) before it stops. WAPIPE_BENCH_WORKER_LOG_LEVEL=INFO
    keeps the worker's log (one typing_indicator line per call, with its outcome and
    duration).
(b) `wapipe worker` no-op throughput (bench.worker's set-up: in-process no-op agent,
    concurrency 16) with typing off, on with every call sent (pacing lifted), and on
    with Meta's default 80 sends/s per number (most calls are then paced, answered by
    the worker's token reservoir: no HTTP call, mostly no database round trip). The
    fake Graph API runs in a thread of this process, so its own CPU is charged to
    "typing on": the cost shown is an upper bound.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database
from bench.worker import CONCURRENCY, wapipe_throughput
from tests.fakes.graph_api import FakeGraphApi

RATE_PER_S = 100
SECONDS = 5
ROUNDS = int(os.environ.get("WAPIPE_BENCH_ROUNDS", "3"))
BUSINESS_NUMBERS = ("300100200300401", "300100200300402", "300100200300403", "300100200300404")
PROJECT = Path(__file__).resolve().parents[1]
WORKER_TOML = """\
[[services]]
name = "noop"
protocol = "python"
callable = "bench.worker:noop_agent"
"""


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _graph_process(conn: Connection) -> None:
    """The fake Graph API in a process of its own: its URL, then (on request) the
    (message_id, arrival) of every mark-read + typing call."""
    graph = FakeGraphApi().start()
    conn.send(graph.url)
    while conn.recv() == "report":
        conn.send([(str(r.json.get("message_id")), r.at) for r in graph.read_calls()])
    graph.stop()


def _webhook(phone_number_id: str, wa_id: str) -> tuple[str, dict[str, Any]]:
    wamid = f"wamid.bench.{uuid.uuid4().hex}"
    message = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "hi"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        "messages": [message],
    }
    return wamid, {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _typing_outcomes(metrics_port: int) -> dict[str, float]:
    """wapipe_typing_indicators_total by outcome, from the worker's metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = re.findall(r'^wapipe_typing_indicators_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    return {outcome: float(value) for outcome, value in found if float(value)}


def _start_worker(
    url: str, graph_url: str, config: Path, log: Path, metrics_port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WAPIPE_CONFIG": str(config),
        "WHATSAPP_API_URL": graph_url,
        "WHATSAPP_ACCESS_TOKEN": "bench-token",
        "WAPIPE_LOG_LEVEL": os.environ.get("WAPIPE_BENCH_WORKER_LOG_LEVEL", "WARNING"),
        "WAPIPE_WORKER_METRICS_PORT": str(metrics_port),
    }
    for key in ("WAPIPE_SEND_RATE_PER_SECOND",):
        env.pop(key, None)  # the defaults, as a user runs it
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "wapipe.cli", "worker"],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(check: Any, what: str, seconds: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"bench.typing_indicator: {what} did not happen")
        time.sleep(0.01)


def _latency_run(
    url: str, graph_url: str, graph: Connection, workdir: Path, rnd: int
) -> dict[str, Any]:
    """One round: a fresh `wapipe worker`, then 100 messages/s for SECONDS at once."""
    config = workdir / "worker.toml"
    config.write_text(WORKER_TOML)
    tag = f"bench-typing-{rnd}"
    db = psycopg.connect(url, autocommit=True)
    load = os.getloadavg()[0]
    metrics_port = _free_port()
    with db:
        db.execute("DELETE FROM wapipe.workers")
        proc = _start_worker(url, graph_url, config, workdir / f"worker-{rnd}.log", metrics_port)
        try:
            # started: registered, which a worker does once ready (its connections
            # open and warmed, listening: worker.runner)
            _wait(
                lambda: db.execute("SELECT count(*) FROM wapipe.workers").fetchone() == (1,),
                "the worker start",
                60,
                proc,
            )
            total = RATE_PER_S * SECONDS
            committed: dict[str, float] = {}
            started = time.perf_counter()
            for i in range(total):
                time.sleep(max(0.0, started + i / RATE_PER_S - time.perf_counter()))
                wamid, body = _webhook(
                    BUSINESS_NUMBERS[i % len(BUSINESS_NUMBERS)], f"2509{rnd}{i % 200:07d}"
                )
                db.execute("SELECT wapipe.ingest_webhook(%s, %s)", (Jsonb(body), tag))
                committed[wamid] = time.monotonic()

            def done() -> bool:
                row = db.execute(
                    "SELECT count(*) FROM wapipe.processed_messages"
                    " WHERE correlation_id = %s AND status = 'done'",
                    (tag,),
                ).fetchone()
                return row is not None and row[0] == total

            _wait(done, "every message done", 120, proc)
            time.sleep(1.0)  # the last typing calls land
            outcomes = _typing_outcomes(metrics_port)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        graph.send("report")
        arrivals: list[tuple[str, float]] = graph.recv()
        typing_ms = [(at - committed[w]) * 1000 for w, at in arrivals if w in committed]
        reply_ms = [
            float(r[0])
            for r in db.execute(
                "SELECT extract(epoch FROM o.created_at - m.received_at) * 1000"
                " FROM wapipe.processed_messages m JOIN wapipe.outbox o ON o.source_key = m.wamid"
                " WHERE m.correlation_id = %s",
                (tag,),
            ).fetchall()
        ]
    return {
        "load": load,
        "outcomes": outcomes,
        "n": len(typing_ms),
        "total": total,
        "typing_p50": statistics.median(typing_ms),
        "typing_p99": _p(typing_ms, 0.99),
        "reply_p50": statistics.median(reply_ms),
        "reply_p99": _p(reply_ms, 0.99),
    }


def latency_rounds(url: str, rounds: int) -> list[dict[str, Any]]:
    """(a): `rounds` cold-start rounds against one fake Graph API process."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    graph_proc = ctx.Process(target=_graph_process, args=(there,), daemon=True)
    graph_proc.start()
    workdir = Path(tempfile.mkdtemp(prefix="wapipe-bench-typing-"))
    try:
        graph_url = here.recv()
        return [_latency_run(url, graph_url, here, workdir, r) for r in range(rounds)]
    finally:
        here.send("stop")
        graph_proc.join(timeout=10)
        if os.environ.get("WAPIPE_BENCH_WORKER_LOG_LEVEL"):
            print(f"worker logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _env(graph: FakeGraphApi | None, rate: int) -> None:
    if graph is None:
        os.environ.pop("WHATSAPP_API_URL", None)
        os.environ.pop("WHATSAPP_ACCESS_TOKEN", None)
    else:
        os.environ["WHATSAPP_API_URL"] = graph.url
        os.environ["WHATSAPP_ACCESS_TOKEN"] = "bench-token"
    os.environ["WAPIPE_SEND_RATE_PER_SECOND"] = str(rate)


def run() -> None:
    os.environ.setdefault("WAPIPE_LOG_LEVEL", "WARNING")
    from wapipe.log import configure_logging

    configure_logging("bench")
    saved = {
        k: os.environ.get(k)
        for k in ("WHATSAPP_API_URL", "WHATSAPP_ACCESS_TOKEN", "WAPIPE_SEND_RATE_PER_SECOND")
    }
    load_before = os.getloadavg()[0]
    graph = FakeGraphApi().start()
    rounds: list[tuple[float, float, float, int]] = []
    try:
        with bench_database() as db:
            lats = latency_rounds(db, ROUNDS)
            r = 50
            for _ in range(ROUNDS):
                _env(None, 80)
                off = wapipe_throughput(db, None, r, CONCURRENCY)
                _env(graph, 1_000_000)
                before = len(graph.read_calls())
                on = wapipe_throughput(db, None, r + 1, CONCURRENCY)
                sent = len(graph.read_calls()) - before
                _env(graph, 80)
                paced = wapipe_throughput(db, None, r + 2, CONCURRENCY)
                rounds.append((off, on, paced, sent))
                r += 3
    finally:
        graph.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(
        f"(load average of this machine before/after the run: {load_before:.1f}/"
        f"{os.getloadavg()[0]:.1f}; on 2 shared cores the latencies follow it)"
    )
    print(
        f"(a) {RATE_PER_S} msg/s for {SECONDS} s from {len(BUSINESS_NUMBERS)} business numbers, "
        f"`wapipe worker` with default settings, cold start; ingest commit -> ..."
    )
    for i, lat in enumerate(lats, 1):
        shares = ", ".join(
            f"{k} {v / lat['total'] * 100:.0f} %" for k, v in sorted(lat["outcomes"].items())
        )
        print(
            f"  round {i} (load {lat['load']:.1f}): typing call at the fake Graph API "
            f"p50 {lat['typing_p50']:6.1f} ms p99 {lat['typing_p99']:6.1f} ms "
            f"({lat['n']:.0f} of {lat['total']:.0f} arrived; {shares}); "
            f"reply in the outbox p50 {lat['reply_p50']:6.1f} ms p99 {lat['reply_p99']:6.1f} ms"
        )
    med = {k: statistics.median(lat[k] for lat in lats) for k in lats[0] if k != "outcomes"}
    print(
        f"    median of {len(lats)} rounds: typing p50 {med['typing_p50']:.1f} ms, "
        f"p99 {med['typing_p99']:.1f} ms (goal p99 <= 50 ms); "
        f"reply p50 {med['reply_p50']:.1f} ms, p99 {med['reply_p99']:.1f} ms"
    )
    print(f"(b) no-op worker throughput, concurrency {CONCURRENCY}, {len(rounds)} rounds:")
    for i, (off, on, paced, sent) in enumerate(rounds, 1):
        print(
            f"  round {i}: typing off {off:6.0f} msg/s; on, every call sent {on:6.0f} msg/s "
            f"({sent} calls, {on / off:.2f}x); on, paced at 80/s {paced:6.0f} msg/s "
            f"({paced / off:.2f}x)"
        )
    mid = sorted(rounds, key=lambda x: x[1] / x[0])[len(rounds) // 2]
    print(
        f"    median: off {mid[0]:.0f} msg/s vs on {mid[1]:.0f} msg/s: typing costs "
        f"{(1 - mid[1] / mid[0]) * 100:.0f} % of no-op throughput "
        f"(~{(1 / mid[1] - 1 / mid[0]) * 1e6:.0f} us per message)"
    )


if __name__ == "__main__":
    run()

"""The ingress under load, against a bare Starlette handler doing only pgmq.send.

Same machine, same PostgreSQL (a throwaway migrated cluster from bench.common),
same uvicorn settings (1 worker), same pool size, same load generator (wrk, 2
threads, 32 connections, fixed duration; localhost only).

(a) the ingress AS A USER RUNS IT: plain `wapipe ingress` with nothing but
    DATABASE_URL and WHATSAPP_APP_SECRET set (default pool, group commit and
    log level, its log lines written to a file), from a cold start: every
    round starts a fresh process of each side, no warm-up request, the order
    of the sides alternating. Compared with the bare handler (read body,
    pgmq.send): requests/s ratio (goal >= 1.0x) and p99 latency ratio (goal
    <= 1.25x), each round side by side; the goals are checked on the median
    of the rounds' ratios (on a shared 2-core VM one round in four or so has a
    p99 two or three times its neighbours', on either side).
(b) duplicate-heavy load (every message delivered twice, so 50 % repeats) on
    a warmed-up ingress: its requests/s must not drop compared with unique
    messages on the same process.

WAPIPE_BENCH_ROUNDS (default 3) sets the number of cold rounds.

Run: .venv/bin/python -m bench.ingress   (or `make bench` for every bench).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import bench_database
from ingress.signature import sign
from wapipe.cli import dev_webhook
from wapipe.testing.harness import free_port

SECRET = "bench-secret"
THREADS = 2
CONNECTIONS = 32
WARMUP_SECONDS = 3
RUN_SECONDS = 10
COLD_ROUNDS = max(1, int(os.environ.get("WAPIPE_BENCH_ROUNDS", "3")))
POOL_SIZE = 10
BODIES_PER_SET = 40_000  # more than a run can send: no accidental repeats
BASELINE_QUEUE = "bench_baseline"

_WRK_SCRIPT = r"""
local lines = {}
local counter = 0
local step = 1
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  step = tonumber(args[2])
  counter = tid
end
function request()
  local line = lines[(counter % #lines) + 1]
  counter = counter + step
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", "/webhook", {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
  }, line:sub(tab + 1))
end
"""


# -- the bare handler the ingress is compared with --------------------------------


@contextlib.asynccontextmanager
async def _baseline_lifespan(_app: Starlette) -> Any:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        os.environ["DATABASE_URL"],
        min_size=2,
        max_size=POOL_SIZE,
        open=False,
        kwargs={"autocommit": True},
    )
    await pool.open(wait=True)
    try:
        yield {"pool": pool}
    finally:
        await pool.close()


async def _baseline_send(request: Request) -> Response:
    body = await request.body()
    pool: AsyncConnectionPool[Any] = request.state.pool
    async with pool.connection() as conn:
        await conn.execute("SELECT pgmq.send(%s, %s::jsonb)", (BASELINE_QUEUE, body.decode()))
    return Response("ok")


baseline_app = Starlette(
    routes=[Route("/webhook", _baseline_send, methods=["POST"])], lifespan=_baseline_lifespan
)


# -- plumbing -----------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: str

    def line(self) -> str:
        extra = f" non-2xx={self.non_2xx}" if self.non_2xx else ""
        extra += f" errors=[{self.errors}]" if self.errors else ""
        return (
            f"{self.requests_per_second:9.1f} req/s  p50 {self.p50_ms:7.2f} ms  "
            f"p99 {self.p99_ms:7.2f} ms  ({self.requests} requests{extra})"
        )


def _ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise SystemExit("bench.ingress needs wrk: sudo apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def _write_bodies(path: Path, repeats: bool) -> None:
    """One `signature<TAB>body` line per request; with repeats each body comes twice."""
    lines: list[str] = []
    previous: str | None = None
    for i in range(BODIES_PER_SET):
        if repeats and previous is not None and i % 2 == 1:
            lines.append(previous)  # the repeat follows its original closely
            continue
        body = dev_webhook(f"bench message {uuid.uuid4().hex[:8]}", f"25078{i % 997:07d}")
        previous = f"{sign(body, SECRET)}\t{body.decode()}"
        lines.append(previous)
    path.write_text("\n".join(lines) + "\n")


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def _run_wrk(wrk: str, url: str, bodies: Path, script: Path, seconds: int) -> WrkResult:
    result = subprocess.run(
        [
            wrk,
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
            "--",
            str(bodies),
            str(THREADS),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return WrkResult(
        rps, p50, p99, total, int(non_2xx.group(1)) if non_2xx else 0,
        errors.group(1).strip() if errors else "",
    )  # fmt: skip


@contextlib.contextmanager
def _server(argv: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)], env={**os.environ, **env}, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # uvicorn listens once its start-up is done; no request warms it
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"{base}/webhook"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _queued(url: str, queue: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM pgmq.q_{queue}").fetchone()  # bench-only name
    return int(row[0]) if row else 0


def _user_env(url: str) -> dict[str, str]:
    """The environment a user starts `wapipe ingress` with: no tuning variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAPIPE_", "PROMETHEUS_"))}
    return {**env, "DATABASE_URL": url, "WHATSAPP_APP_SECRET": SECRET}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _ratios(values: list[float]) -> str:
    return " ".join(f"{v:.2f}x" for v in values)


def _cold_rounds(
    wrk: str, url: str, script: Path, work: Path, ours_argv: list[str], bare_argv: list[str]
) -> tuple[list[WrkResult], list[WrkResult]]:
    """(a): each round starts both sides afresh and loads each once, first side alternating."""
    ours: list[WrkResult] = []
    bare: list[WrkResult] = []
    env = _user_env(url)
    for n in range(1, COLD_ROUNDS + 1):
        bodies = work / f"cold{n}.tsv"
        _write_bodies(bodies, repeats=False)
        sides = [("bare", bare_argv, bare), ("ingress", ours_argv, ours)]
        for name, argv, results in sides if n % 2 else sides[::-1]:
            with _server(argv, env, work / f"cold-{name}-{n}.log") as server_url:
                results.append(_run_wrk(wrk, server_url, bodies, script, RUN_SECONDS))
        print(
            f"  round {n}: bare {bare[-1].line()}\n"
            f"           ingress {ours[-1].line()}\n"
            f"           ratio throughput "
            f"{ours[-1].requests_per_second / bare[-1].requests_per_second:.2f}x, "
            f"p50 {ours[-1].p50_ms / bare[-1].p50_ms:.2f}x, "
            f"p99 {ours[-1].p99_ms / bare[-1].p99_ms:.2f}x",
            flush=True,
        )
    return ours, bare


def run() -> None:
    wrk = _ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="wapipe-bench-ingress-"))
    try:
        script = work / "post.lua"
        script.write_text(_WRK_SCRIPT)
        ours_argv = [sys.executable, "-m", "wapipe.cli", "ingress"]
        bare_argv = [
            sys.executable, "-m", "uvicorn", "bench.ingress:baseline_app",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        with bench_database() as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT pgmq.create(%s)", (BASELINE_QUEUE,))
            print(
                f"bench.ingress: wrk -t{THREADS} -c{CONNECTIONS} -d{RUN_SECONDS}s, "
                f"1 uvicorn worker each, {os.cpu_count()} CPUs",
                flush=True,
            )
            print(
                f"(a) as a user runs it: `wapipe ingress` with default settings and log "
                f"level vs the bare handler (pool {POOL_SIZE}), each side started cold "
                f"in every round, {COLD_ROUNDS} rounds",
                flush=True,
            )
            ours, bare = _cold_rounds(wrk, url, script, work, ours_argv, bare_argv)

            for name, repeats in [("warm", False), ("unique", False), ("repeats", True)]:
                _write_bodies(work / f"{name}.tsv", repeats)
            with _server(ours_argv, _user_env(url), work / "ingress.log") as ours_url:
                _run_wrk(wrk, ours_url, work / "warm.tsv", script, WARMUP_SECONDS)
                unique = _run_wrk(wrk, ours_url, work / "unique.tsv", script, RUN_SECONDS)
                print(f"(b) warmed ingress, unique       : {unique.line()}")
                dups = _run_wrk(wrk, ours_url, work / "repeats.tsv", script, RUN_SECONDS)
                print(f"(b) warmed ingress, 50 % repeats : {dups.line()}")
            print(f"  queued by the ingress: {_queued(url, 'wapipe_inbound')}")
        pairs = list(zip(ours, bare, strict=True))
        rps_ratios = [o.requests_per_second / b.requests_per_second for o, b in pairs]
        p99_ratios = [o.p99_ms / b.p99_ms for o, b in pairs]
        ours_rps = _mean([r.requests_per_second for r in ours])
        bare_rps = _mean([r.requests_per_second for r in bare])
        ours_p50 = _mean([r.p50_ms for r in ours])
        bare_p50 = _mean([r.p50_ms for r in bare])
        ours_p99 = _mean([r.p99_ms for r in ours])
        bare_p99 = _mean([r.p99_ms for r in bare])
        rps_ratio = statistics.median(rps_ratios)
        p99_ratio = statistics.median(p99_ratios)
        dup_ratio = dups.requests_per_second / unique.requests_per_second
        print(
            f"(a) mean of {COLD_ROUNDS} cold rounds, ingress | bare: "
            f"{ours_rps:.1f} | {bare_rps:.1f} req/s, p50 {ours_p50:.2f} | {bare_p50:.2f} ms, "
            f"p99 {ours_p99:.2f} | {bare_p99:.2f} ms"
        )
        print(
            f"(a) throughput ingress/bare, median of the rounds = {rps_ratio:.2f}x "
            f"(rounds {_ratios(rps_ratios)}; goal >= 1.0x) "
            f"{'OK' if rps_ratio >= 1.0 else 'MISSED'}"
        )
        print(
            f"(a) p99 latency ingress/bare, median of the rounds = {p99_ratio:.2f}x "
            f"(rounds {_ratios(p99_ratios)}; goal <= 1.25x) "
            f"{'OK' if p99_ratio <= 1.25 else 'MISSED'}"
        )
        print(
            f"(b) throughput with 50 % repeats / unique = {dups.requests_per_second:.1f}/"
            f"{unique.requests_per_second:.1f} = {dup_ratio:.2f}x (goal: no drop, >= 0.95x) "
            f"{'OK' if dup_ratio >= 0.95 else 'MISSED'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run()

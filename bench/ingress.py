"""The ingress under load, against a bare Starlette handler doing only pgmq.send.

Same machine, same PostgreSQL (a throwaway migrated cluster from bench.common),
same uvicorn settings (1 worker), same pool size, same load generator (wrk, 2
threads, 32 connections, fixed duration; localhost only).

(a) wapipe's ingress (size check, HMAC, JSON check, ingest_webhook: raw event +
    dedup + enqueue + conversation head, committed) vs the bare handler
    (read body, pgmq.send): requests/s ratio (goal >= 0.8x) and p99 latency
    ratio (goal <= 1.25x). Rounds alternate between the two sides.
(b) duplicate-heavy load (every message delivered twice, so 50 % repeats):
    the ingress's requests/s must not drop compared with (a).

Run: .venv/bin/python -m bench.ingress   (or `make bench` for every bench).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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
ROUNDS = 2
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
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")
            try:
                httpx.post(f"{base}/webhook", content=b"{}", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
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


def run() -> None:
    wrk = _ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="wapipe-bench-ingress-"))
    try:
        script = work / "post.lua"
        script.write_text(_WRK_SCRIPT)
        sets = {}
        for name, repeats in [
            ("warm", False), ("r1", False), ("r2", False), ("d1", True), ("d2", True),
        ]:  # fmt: skip
            sets[name] = work / f"{name}.tsv"
            _write_bodies(sets[name], repeats)
        with bench_database() as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT pgmq.create(%s)", (BASELINE_QUEUE,))
            env = {
                "DATABASE_URL": url,
                "WHATSAPP_APP_SECRET": SECRET,
                "WAPIPE_DB_POOL_MIN": "2",
                "WAPIPE_DB_POOL_MAX": str(POOL_SIZE),
            }
            ours_argv = [sys.executable, "-m", "wapipe.cli", "ingress"]
            bare_argv = [
                sys.executable, "-m", "uvicorn", "bench.ingress:baseline_app",
                "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
            with (
                _server(ours_argv, env, work / "ingress.log") as ours_url,
                _server(bare_argv, env, work / "baseline.log") as bare_url,
            ):
                print(
                    f"bench.ingress: wrk -t{THREADS} -c{CONNECTIONS} -d{RUN_SECONDS}s, "
                    f"1 uvicorn worker each, pool {POOL_SIZE}, {os.cpu_count()} CPUs"
                )
                _run_wrk(wrk, bare_url, sets["warm"], script, WARMUP_SECONDS)
                _run_wrk(wrk, ours_url, sets["warm"], script, WARMUP_SECONDS)
                ours: list[WrkResult] = []
                bare: list[WrkResult] = []
                dups: list[WrkResult] = []
                # Rounds alternate the sides, so drift (tables growing, other load on
                # the machine) hits each alike.
                for n in range(1, ROUNDS + 1):
                    bare.append(_run_wrk(wrk, bare_url, sets[f"r{n}"], script, RUN_SECONDS))
                    print(f"  round {n} bare pgmq.send          : {bare[-1].line()}")
                    ours.append(_run_wrk(wrk, ours_url, sets[f"r{n}"], script, RUN_SECONDS))
                    print(f"  round {n} ingress, unique         : {ours[-1].line()}")
                    dups.append(_run_wrk(wrk, ours_url, sets[f"d{n}"], script, RUN_SECONDS))
                    print(f"  round {n} ingress, 50 % repeats   : {dups[-1].line()}")
            print(f"  queued by the ingress: {_queued(url, 'wapipe_inbound')}")
        ours_rps = sum(r.requests_per_second for r in ours) / len(ours)
        bare_rps = sum(r.requests_per_second for r in bare) / len(bare)
        ours_p99 = sum(r.p99_ms for r in ours) / len(ours)
        bare_p99 = sum(r.p99_ms for r in bare) / len(bare)
        rps_ratio = ours_rps / bare_rps
        p99_ratio = ours_p99 / bare_p99
        dup_rps = sum(r.requests_per_second for r in dups) / len(dups)
        dup_ratio = dup_rps / ours_rps
        print(
            f"(a) throughput ingress/bare = {ours_rps:.1f}/{bare_rps:.1f} = {rps_ratio:.2f}x "
            f"(goal >= 0.8x) {'OK' if rps_ratio >= 0.8 else 'MISSED'}"
        )
        print(
            f"(a) p99 latency ingress/bare = {ours_p99:.2f}/{bare_p99:.2f} ms = {p99_ratio:.2f}x "
            f"(goal <= 1.25x) {'OK' if p99_ratio <= 1.25 else 'MISSED'}"
        )
        print(
            f"(b) throughput with 50 % repeats / unique = {dup_rps:.1f}/"
            f"{ours_rps:.1f} = {dup_ratio:.2f}x (goal: no drop, >= 0.95x) "
            f"{'OK' if dup_ratio >= 0.95 else 'MISSED'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run()

"""Shared bench plumbing: a throwaway migrated cluster and simple timing helpers.

Benches never touch the dev cluster's data: each run starts its own cluster
(the same code as `wapipe db up`) with pg_cron pointed at the bench database,
migrates it, and removes it at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wapipe.cluster import remove_cluster
from wapipe.migrate import migrate
from wapipe.testing.harness import new_cluster

BENCH_DB = "wapipe_bench"


@contextmanager
def bench_database() -> Iterator[str]:
    """URL of a freshly migrated database on a throwaway cluster."""
    root = Path(tempfile.mkdtemp(prefix="wapipe-bench-"))
    os.chmod(root, 0o755)
    cluster = new_cluster(root, BENCH_DB, cron_database=BENCH_DB)
    try:
        cluster.up()
        migrate(cluster.url)
        yield cluster.url
    finally:
        remove_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)


def timed(fn: Callable[[], None], repeat: int) -> list[float]:
    """Seconds taken by each of `repeat` calls of fn."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"n={len(samples)} mean={statistics.fmean(samples) * 1e3:.3f} ms "
        f"p50={statistics.median(samples) * 1e3:.3f} ms p99={p99 * 1e3:.3f} ms"
    )


def _stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, ...]; utime, stime,
    cutime, cstime at 11-14."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu_seconds(url: str) -> float:
    """CPU seconds the PostgreSQL server behind `url` has used so far: the postmaster,
    its live processes and the ones it has reaped (Linux /proc; benches only)."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # read while the backend lives: after the connection closes it may be gone
        postmaster = int(_stat(row[0])[1])
    # the postmaster's own time plus that of the backends it reaped (cutime, cstime)
    ticks = sum(int(f) for f in _stat(postmaster)[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = _stat(entry.name)
            if int(stat[1]) == postmaster:
                ticks += int(stat[11]) + int(stat[12])
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
    return ticks / os.sysconf("SC_CLK_TCK")

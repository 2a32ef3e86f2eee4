"""`make bench`: run every bench module that has a run().

Each bench starts its own throwaway migrated cluster (bench.common.bench_database)
and runs our code and its baseline side by side there, so the dev database is
never touched and every ratio compares like with like.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name != "common"
    )
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "run", None)
        if not callable(run):
            continue
        print(f"== bench.{name}", flush=True)
        try:
            run()
        except Exception as exc:  # one bench failing must not hide the others' numbers
            print(f"bench.{name} failed: {exc}", file=sys.stderr)
            failed.append(name)
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench`: run every bench module that has a run().

A run() that asks for a `url` gets the dev cluster's database (started and
migrated here with the code of `wapipe db up` / `wapipe db migrate`); a run()
without parameters sets up what it needs itself.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

from wapipe.cluster import Cluster
from wapipe.errors import WapipeError
from wapipe.migrate import migrate
from wapipe.settings import cluster_settings, database_url


def _dev_database() -> str:
    cluster = Cluster.from_settings(cluster_settings())
    cluster.up()
    url = database_url()
    migrate(url)
    return url


def main() -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name != "common"
    )
    url: str | None = None
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "run", None)
        if not callable(run):
            continue
        print(f"== bench.{name}", flush=True)
        try:
            if "url" in inspect.signature(run).parameters:
                url = url or _dev_database()
                run(url)
            else:
                run()
        except (WapipeError, SystemExit, Exception) as exc:
            print(f"bench.{name} failed: {exc}", file=sys.stderr)
            failed.append(name)
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

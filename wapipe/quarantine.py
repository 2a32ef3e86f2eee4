"""`wapipe quarantine list|show|replay|discard`: what signed POSTs held that wapipe could not read.

For the schema owner, like `wapipe dlq`: list and show read wapipe.quarantine (no role
but the owner may), replay goes through wapipe.replay_quarantine, which does the work.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, LiteralString

from psycopg.rows import dict_row

from wapipe import queries as q
from wapipe.db import connect
from wapipe.errors import WapipeError
from wapipe.log import mask_phone
from wapipe.ops import _json_default, _raise_domain_error, format_time, render_table
from wapipe.settings import database_url


def _rows(sql: LiteralString, params: dict[str, Any]) -> list[dict[str, Any]]:
    """One statement's rows as dicts, in its own transaction; database refusals become
    the operator's errors (wapipe.ops)."""
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(sql, params)
        except Exception as exc:
            _raise_domain_error(exc)
        return cur.fetchall()


def _states(args: argparse.Namespace) -> list[str]:
    return ["held", "replayed", "discarded"] if args.all else ["held"]


def cmd_list(args: argparse.Namespace) -> int:
    params = {"states": _states(args), "reason": args.reason, "limit": args.limit}
    total_row = _rows(q.QUARANTINE__COUNT, params)[0]
    rows = _rows(q.QUARANTINE__LIST, params)
    total = int(total_row["count"])
    if args.json:
        print(json.dumps({"total": total, "items": rows}, default=_json_default, indent=2))
        return 0
    if not rows:
        print("nothing in quarantine")
        return 0
    table = [
        [
            str(r["id"]),
            format_time(r["received_at"]),
            str(r["status"]),
            str(r["path"]),
            mask_phone(str(r["reason"]))[:70],
        ]
        for r in rows
    ]
    print(render_table(["id", "received (UTC)", "status", "where", "reason"], table))
    if total > len(rows):
        print(f"... {total - len(rows)} more (--limit)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    found = _rows(q.QUARANTINE__SHOW, {"id": args.id})
    row = found[0] if found else None
    if row is None:
        raise WapipeError(f"no quarantined item with id {args.id}")
    if not args.item:  # what the user wrote stays out of the terminal unless asked for
        row.pop("item", None)
        row.pop("replay_payload", None)
    if args.json:
        print(json.dumps(row, default=_json_default, indent=2))
        return 0
    for key, value in row.items():
        shown = (
            json.dumps(value, default=_json_default) if isinstance(value, dict | list) else value
        )
        print(f"{key.ljust(16)}  {mask_phone(str(shown if shown is not None else '-'))}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not args.ids and not args.reason:
        raise WapipeError("give quarantine ids, or --reason PATTERN (ILIKE, e.g. '%%sender%%')")
    params: dict[str, Any] = {
        "ids": args.ids or None,
        "reason": args.reason,
        "dry_run": args.dry_run,
        "max_count": args.max_count,
    }
    rows = _rows(q.REPLAY_QUARANTINE, params)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    if args.json:
        print(json.dumps({"results": rows, "counts": counts}, default=_json_default, indent=2))
        return 0
    if not rows:
        print("nothing held matches")
        return 0
    for r in rows:
        event = f" (event {r['event_id']})" if r["event_id"] else ""
        print(f"{r['quarantine_id']}: {r['outcome']}{event}")
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    if not args.ids and not args.reason:
        raise WapipeError("give quarantine ids, or --reason PATTERN")
    row = _rows(q.DISCARD_QUARANTINE, {"ids": args.ids or None, "reason": args.reason})[0]
    print(f"discarded {row['discard_quarantine']}")
    return 0


def add_quarantine_commands(sub: Any) -> None:
    """Registers `quarantine list|show|replay|discard` on the `wapipe` subcommand parser."""
    parser = sub.add_parser("quarantine", help="webhook items wapipe could not read: list, replay")
    qsub = parser.add_subparsers(dest="quarantine_command", required=True)
    listing = qsub.add_parser("list", help="held items, oldest first")
    listing.add_argument("--reason", help="reason ILIKE pattern, e.g. '%%sender%%'")
    listing.add_argument("--all", action="store_true", help="replayed and discarded ones too")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=cmd_list)
    show = qsub.add_parser("show", help="one item with where it was and why")
    show.add_argument("id", type=int)
    show.add_argument("--item", action="store_true", help="also print the item as received")
    show.add_argument("--json", action="store_true", help="as JSON")
    show.set_defaults(handler=cmd_show)
    replay = qsub.add_parser(
        "replay",
        help="ingest held items again (after an upgrade)",
        description="Through wapipe.replay_quarantine: each item alone in its webhook envelope; "
        "one still unreadable stays held.",
    )
    replay.add_argument("ids", nargs="*", type=int, help="quarantine ids")
    replay.add_argument("--reason", help="every held item whose reason matches (ILIKE)")
    replay.add_argument("--dry-run", action="store_true", help="tell, change nothing")
    replay.add_argument("--max-count", type=int, default=1000)
    replay.add_argument("--json", action="store_true", help="as JSON")
    replay.set_defaults(handler=cmd_replay)
    discard = qsub.add_parser("discard", help="held items that need nothing more (health ok again)")
    discard.add_argument("ids", nargs="*", type=int, help="quarantine ids")
    discard.add_argument("--reason", help="every held item whose reason matches (ILIKE)")
    discard.set_defaults(handler=cmd_discard)

"""Operator commands: `wapipe health`, `wapipe dlq list|show|replay`, `wapipe workers`.

They read wapipe.system_health(), the wapipe.worker_status view and the dead
letters, and replay through wapipe.requeue_dead_letters (SQL in wapipe.queries).
Tables are aligned; colour only on a terminal and never with NO_COLOR set.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from wapipe import queries as q
from wapipe.db import connect, translate
from wapipe.errors import DatabaseRefusal, DatabaseUnavailable, WapipeError
from wapipe.log import mask_phone
from wapipe.settings import HEALTH_THRESHOLDS, database_url, health_thresholds, no_color

Row = dict[str, Any]

EXIT_BY_STATUS = {"ok": 0, "degraded": 1, "critical": 2}
THRESHOLDS_ENV = HEALTH_THRESHOLDS
REPLAY_CHUNK = 500
DLQ_LIST_LIMIT = 100

_COLOURS = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}
_STATUS_COLOUR = {
    "ok": "green",
    "alive": "green",
    "degraded": "yellow",
    "dead": "red",
    "critical": "red",
    "stopped": "dim",
}


# --- output -------------------------------------------------------------------------


def use_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    if no_color():
        return False
    return stream.isatty()


def paint(text: str, colour: str | None, enabled: bool) -> str:
    if not enabled or colour is None or colour not in _COLOURS:
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def format_duration(value: timedelta | None) -> str:
    """A short human duration: 45 s, 12 min 3 s, 3 h 20 min, 2 d 4 h."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    if seconds < 0:
        return "0 s"
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    colour_of: Callable[[int, str], str | None] | None = None,
    colour: bool = False,
) -> str:
    """Left-aligned columns separated by two spaces; colour applied after padding."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(paint(h.ljust(widths[i]), "bold", colour) for i, h in enumerate(headers))]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            padded = cell.ljust(widths[i])
            cells.append(paint(padded, colour_of(i, cell) if colour_of else None, colour))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(line.rstrip() for line in lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


# --- thresholds ---------------------------------------------------------------------


def parse_thresholds(pairs: Sequence[str], env_value: str | None) -> dict[str, float | int]:
    """Thresholds from WAPIPE_HEALTH_THRESHOLDS (JSON object or k=v,k=v), then --threshold k=v.

    Keys are those of the health.* settings without the prefix; the database checks them.
    """
    result: dict[str, float | int] = {}
    items: list[str] = []
    if env_value and env_value.strip():
        text = env_value.strip()
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise WapipeError(f"{THRESHOLDS_ENV} is not valid JSON: {exc.msg}") from None
            if not isinstance(loaded, dict):
                raise WapipeError(f"{THRESHOLDS_ENV} must be a JSON object")
            items.extend(f"{k}={v}" for k, v in loaded.items())
        else:
            items.extend(part for part in text.split(",") if part.strip())
    items.extend(pairs)
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().removeprefix("health.")
        if not sep or not key:
            raise WapipeError(f"threshold must be KEY=NUMBER, got {item!r}")
        try:
            number = float(raw)
        except ValueError:
            raise WapipeError(f"threshold {key} must be a number, got {raw.strip()!r}") from None
        result[key] = int(number) if number.is_integer() else number
    return result


# --- health -------------------------------------------------------------------------


def fetch_health(url: str, thresholds: Mapping[str, float | int]) -> Row:
    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(q.SYSTEM_HEALTH, {"thresholds": Jsonb(dict(thresholds))})
        except Exception as exc:
            _raise_domain_error(exc)
        row = cur.fetchone()
    if row is None:  # pragma: no cover - system_health always returns one row
        raise WapipeError("wapipe.system_health() returned no row")
    return row


def _raise_domain_error(exc: Exception) -> None:
    import psycopg

    if isinstance(exc, psycopg.errors.UndefinedFunction | psycopg.errors.UndefinedTable):
        raise WapipeError(
            f"the database is not migrated for this command ({exc.diag.message_primary}); "
            "run `wapipe db migrate`"
        ) from exc
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        raise WapipeError(f"permission denied: {exc.diag.message_primary}") from exc
    found = translate(exc) if isinstance(exc, psycopg.Error) else exc
    if isinstance(found, DatabaseRefusal):  # the one SQLSTATE table: a one-line refusal
        raise found from exc
    raise exc


def health_json(row: Row) -> str:
    return json.dumps(row, default=_json_default, indent=2, sort_keys=False)


def _waiting(by_service: dict[str, int]) -> str:
    """Messages deferred for unavailable services: '3 (waiter 2, payments 1)', or 0."""
    total = sum(int(n) for n in by_service.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{k} {v}" for k, v in sorted(by_service.items())) + ")"


def render_health(row: Row, colour: bool) -> str:
    status = str(row["status"])
    details: dict[str, Any] = row["details"] or {}
    out = [f"wapipe health: {paint(status.upper(), _STATUS_COLOUR.get(status), colour)}"]
    for reason in row["reasons"] or []:
        out.append(f"  - {reason}")
    out.append("")
    breakers = ", ".join(details.get("breakers_open") or []) or "-"
    half_open = ", ".join(details.get("breakers_half_open") or [])
    dead_workers = details.get("dead_workers") or []
    last_run = row["last_cron_run"]
    cron_line = "no run recorded"
    if last_run is not None:
        ago = datetime.now(UTC) - last_run
        cron_line = f"last run {format_time(last_run)} ({format_duration(ago)} ago)"
    summary = [
        ("queue depth", f"{row['queue_depth']} ({details.get('queued', 0)} queued)"),
        ("oldest message age", format_duration(row["oldest_message_age"])),
        ("in flight", str(row["in_flight"])),
        ("retrying", str(row["retrying"])),
        ("waiting for a service", _waiting(details.get("deferred_by_service") or {})),
        ("dead letters", str(row["dead_letters"])),
        ("breakers open", f"{row['breakers_open']} ({breakers})" if row["breakers_open"] else "0"),
        ("breakers half-open", half_open or "-"),
        (
            "workers alive",
            f"{row['workers_alive']}"
            + (f" ({len(dead_workers)} died recently)" if dead_workers else ""),
        ),
        ("stuck workflows", str(row["stuck_workflows"])),
        ("stale leases", str(details.get("stale_locks", 0))),
        ("oldest unsent reply", _since(details.get("outbox_oldest_unsent_at"))),
        ("window closed (1 day)", str(details.get("outbox_window_closed_last_day", 0))),
        ("handed off to a human", str(details.get("handed_off", 0))),
        ("pg_cron", cron_line),
        ("pg_cron failures (1 h)", str(row["cron_failures_last_hour"])),
    ]
    width = max(len(label) for label, _ in summary)
    out.extend(f"{label.ljust(width)}  {value}" for label, value in summary)
    if details.get("cron_last_failure"):
        out.append(f"{'last pg_cron failure'.ljust(width)}  {details['cron_last_failure']}")
    jobs = details.get("cron_jobs") or []
    if jobs:
        out.append("")
        rows = [
            [
                str(j.get("job")),
                str(j.get("schedule")),
                "yes" if j.get("active") else "PAUSED",
                _iso_time(j.get("last_run")),
                str(j.get("last_status") or "-"),
                str(j.get("failures_last_hour", 0)),
            ]
            for j in jobs
        ]

        def job_colour(col: int, cell: str) -> str | None:
            if col == 2 and cell == "PAUSED":
                return "yellow"
            if col == 4 and cell == "failed":
                return "red"
            return None

        out.append(
            render_table(
                ["pg_cron job", "schedule", "active", "last run (UTC)", "status", "failed (1 h)"],
                rows,
                job_colour,
                colour,
            )
        )
    return "\n".join(out)


def _iso_time(value: Any) -> str:
    if not value:
        return "-"
    return format_time(datetime.fromisoformat(str(value)))


def _since(value: Any) -> str:
    if not value:
        return "-"
    return format_duration(datetime.now(UTC) - datetime.fromisoformat(str(value))) + " ago"


def cmd_health(args: argparse.Namespace) -> int:
    thresholds = parse_thresholds(args.threshold or [], health_thresholds())
    try:
        row = fetch_health(database_url(), thresholds)
    except DatabaseUnavailable as exc:
        # nothing works without the database: as bad as it gets
        print(f"wapipe: error: {exc}", file=sys.stderr)
        return EXIT_BY_STATUS["critical"]
    if args.json:
        print(health_json(row))
    else:
        print(render_health(row, use_colour(sys.stdout)))
    return EXIT_BY_STATUS.get(str(row["status"]), 2)


# --- workers ------------------------------------------------------------------------


def cmd_workers(args: argparse.Namespace) -> int:
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(q.WORKER_STATUS)
        except Exception as exc:
            _raise_domain_error(exc)
        rows = cur.fetchall()
    if args.json:
        print(json.dumps(rows, default=_json_default, indent=2))
        return 0
    if not rows:
        print("no workers registered")
        return 0
    if not args.all:
        # dead workers stay listed for a day; stopped ones only with --all
        rows = [
            r
            for r in rows
            if r["state"] == "alive"
            or (r["state"] == "dead" and r["heartbeat_age"] < timedelta(days=1))
        ]
    colour = use_colour(sys.stdout)
    table = [
        [
            str(r["worker_id"]),
            str(r["host"]),
            str(r["pid"]),
            str(r["state"]),
            format_duration(r["heartbeat_age"]),
            format_duration(r["uptime"]),
            str(r["held_conversations"]),
            format_time(r["started_at"]),
        ]
        for r in rows
    ]
    print(
        render_table(
            ["worker", "host", "pid", "state", "heartbeat age", "uptime", "held", "started (UTC)"],
            table,
            lambda col, cell: _STATUS_COLOUR.get(cell.strip()) if col == 3 else None,
            colour,
        )
    )
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("alive", "dead", "stopped")}
    print(f"\n{counts['alive']} alive, {counts['dead']} dead, {counts['stopped']} stopped shown")
    return 0


# --- dead letters -------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """30m, 2h, 7d, 1w (ago) or an ISO date/time (UTC when no zone is given)."""
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WapipeError(
            f"--since must be like 30m, 2h, 7d or an ISO time (2024-05-01T10:00), got {text!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "error_code": args.error_code,
        "message_type": args.type,
        "since": parse_since(args.since),
    }


def cmd_dlq_list(args: argparse.Namespace) -> int:
    params = {**_filters(args), "limit": args.limit}
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(q.PENDING_DEAD_LETTERS__COUNT, params)
            count_row = cur.fetchone()
            cur.execute(q.PENDING_DEAD_LETTERS__LIST, params)
        except Exception as exc:
            _raise_domain_error(exc)
        rows = cur.fetchall()
    total = int(count_row["count"]) if count_row else 0
    if args.json:
        print(json.dumps({"total": total, "dead_letters": rows}, default=_json_default, indent=2))
        return 0
    if not rows:
        print("no dead letters waiting" + (" that match" if _any_filter(args) else ""))
        return 0
    table = [
        [
            str(r["id"]),
            format_time(r["dead_at"]),
            str(r["message_type"]),
            str(r["error_code"] or "-"),
            str(r["attempts"]),
            mask_phone(str(r["conversation_key"])),
            _clip(mask_phone(str(r["error"])), 60),
        ]
        for r in rows
    ]
    print(
        render_table(
            ["id", "dead at (UTC)", "type", "code", "attempts", "conversation", "error"],
            table,
            colour=use_colour(sys.stdout),
        )
    )
    shown = len(rows)
    more = f" (showing the oldest {shown}; --limit to see more)" if total > shown else ""
    print(f"\n{total} dead letter(s) waiting{more}")
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _any_filter(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.error_code, args.type, args.since))


def cmd_dlq_show(args: argparse.Namespace) -> int:
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(q.DEAD_LETTERS__SHOW, {"id": args.id})
        except Exception as exc:
            _raise_domain_error(exc)
        row = cur.fetchone()
    if row is None:
        raise WapipeError(f"no dead letter with id {args.id}")
    if not args.payload:
        row.pop("payload", None)
    if args.json:
        print(json.dumps(row, default=_json_default, indent=2))
        return 0
    replay = "not replayed" if row["replayed_at"] is None else f"replayed {row['replayed_at']}"
    fields = [
        ("dead letter", str(row["id"])),
        ("state", replay + (f", message now {row['message_status']}")),
        ("message", f"{row['message_id']} ({row['wamid']})"),
        ("conversation", mask_phone(str(row["conversation_key"]))),
        ("type / priority", f"{row['message_type']} / {row['priority']}"),
        ("received at", format_time(row["received_at"])),
        ("dead at", format_time(row["dead_at"])),
        ("attempts", str(row["attempts"])),
        ("error code", str(row["error_code"] or "-")),
        ("correlation id", str(row["correlation_id"] or "-")),
        ("last error", mask_phone(str(row["last_error"] or "-"))),
    ]
    width = max(len(k) for k, _ in fields)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in fields))
    history = row["error_history"] or []
    if history:
        print("\nerror history")
        print(
            render_table(
                ["attempt", "at", "worker", "error"],
                [
                    [
                        str(h.get("attempt", "")),
                        _iso_time(h.get("at")),
                        str(h.get("worker", "")),
                        _clip(mask_phone(str(h.get("error", ""))), 80),
                    ]
                    for h in history
                ],
                colour=use_colour(sys.stdout),
            )
        )
    if args.payload:
        print("\npayload")
        print(json.dumps(row.get("payload"), indent=2, ensure_ascii=False))
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    if args.ids and args.all_matching:
        raise WapipeError("give dead letter ids or --all-matching, not both")
    if not args.ids and not args.all_matching:
        raise WapipeError("give dead letter ids, or --all-matching with filters")
    if args.all_matching and not _any_filter(args):
        raise WapipeError(
            "--all-matching needs a filter (--error-code, --type, --since); "
            "to replay every dead letter say --since 1970-01-01"
        )
    if args.ids and _any_filter(args):
        raise WapipeError("filters only go with --all-matching")
    chunk = args.chunk_size
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        if args.all_matching:
            try:
                cur.execute(q.PENDING_DEAD_LETTERS__IDS, _filters(args))
            except Exception as exc:
                _raise_domain_error(exc)
            ids = [int(r["id"]) for r in cur.fetchall()]
        else:
            ids = list(dict.fromkeys(args.ids))
        if not ids:
            print("nothing to replay: no pending dead letter matches")
            return 0
        done: list[Row] = []
        progress = sys.stderr
        live = progress.isatty()
        verb = "would replay" if args.dry_run else "replayed"
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            try:
                # one transaction per chunk: a failure keeps what was replayed so far
                with conn.transaction():
                    # ids no longer pending are left out by requeue_dead_letters itself
                    cur.execute(
                        q.REQUEUE_DEAD_LETTERS,
                        {"ids": part, "max_count": len(part), "dry_run": args.dry_run},
                    )
                    done.extend(cur.fetchall())
            except Exception as exc:
                _raise_domain_error(exc)
            line = f"{verb} {len(done)} of {len(ids)} ({min(start + chunk, len(ids))} checked)"
            if live:
                print(f"\r{line}", end="", file=progress, flush=True)
            elif len(ids) > chunk:
                print(line, file=progress, flush=True)
        if live:
            print(file=progress)
    skipped = len(ids) - len(done)
    if args.ids and done and len(done) <= 50:
        for r in done:
            target = "" if args.dry_run else f" -> queue msg {r['msg_id']}"
            print(f"dead letter {r['dead_letter_id']}: message {r['message_id']}{target}")
    note = f"; {skipped} skipped (unknown, already replayed, or superseded)" if skipped else ""
    if args.dry_run:
        print(f"dry run: would replay {len(done)} dead letter(s){note}; nothing changed")
    else:
        print(f"replayed {len(done)} dead letter(s){note}")
    return 0 if done or args.all_matching else 1


# --- registration -------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_dlq_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--error-code", help="error code (or start of the error text when none)")
    p.add_argument("--type", help="message type, e.g. text, image, interactive")
    p.add_argument("--since", help="dead since: 30m, 2h, 7d, 1w or an ISO time (UTC)")


def add_ops_commands(sub: Any) -> None:
    """Registers health, dlq and workers on the `wapipe` subcommand parser."""
    health = sub.add_parser(
        "health",
        help="system health summary (exit 0 ok, 1 degraded, 2 critical)",
        description="One-screen health summary from wapipe.system_health(). Exit code 0 ok, "
        "1 degraded, 2 critical (or the database cannot be reached). Thresholds are the "
        f"health.* rows of wapipe.settings; override them with {THRESHOLDS_ENV} "
        "(JSON object or key=value,key=value) or --threshold key=value.",
    )
    health.add_argument("--json", action="store_true", help="the summary as JSON")
    health.add_argument(
        "--threshold",
        action="append",
        metavar="KEY=VALUE",
        help="override one threshold, e.g. oldest_age_degraded_seconds=30 (repeatable)",
    )
    health.set_defaults(handler=cmd_health)

    workers = sub.add_parser("workers", help="worker processes: alive, dead, heartbeat age")
    workers.add_argument("--all", action="store_true", help="include stopped and long-dead ones")
    workers.add_argument("--json", action="store_true", help="rows as JSON")
    workers.set_defaults(handler=cmd_workers)

    dlq = sub.add_parser("dlq", help="dead letters: list, show, replay")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="pending dead letters, oldest first")
    _add_dlq_filters(listing)
    listing.add_argument("--limit", type=_positive, default=DLQ_LIST_LIMIT, help="rows shown")
    listing.add_argument("--json", action="store_true", help="rows as JSON")
    listing.set_defaults(handler=cmd_dlq_list)

    show = dlq_sub.add_parser("show", help="one dead letter with its error history")
    show.add_argument("id", type=int)
    show.add_argument("--payload", action="store_true", help="also print the message as received")
    show.add_argument("--json", action="store_true", help="as JSON")
    show.set_defaults(handler=cmd_dlq_show)

    replay = dlq_sub.add_parser(
        "replay",
        help="requeue dead letters as fresh messages",
        description="Replays through wapipe.requeue_dead_letters in chunks (one transaction "
        "each), with a progress line. Give ids, or --all-matching with at least one filter.",
    )
    replay.add_argument("ids", nargs="*", type=int, help="dead letter ids")
    replay.add_argument("--all-matching", action="store_true", help="every pending match")
    _add_dlq_filters(replay)
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    replay.add_argument(
        "--chunk-size", type=_positive, default=REPLAY_CHUNK, help="dead letters per transaction"
    )
    replay.set_defaults(handler=cmd_dlq_replay)

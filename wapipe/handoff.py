"""`wapipe handoff start|end|list`, `wapipe send`, `wapipe window list` (issue 17).

Operators take a conversation from the bot and give it back (wapipe.start_handoff,
end_handoff, list_handoffs), answer a user from the terminal through the outbox
(wapipe.queue_operator_message: the sender's pacing, 24-hour window check and order;
once per --key), and list the replies held back because the window had closed.
USER is a phone (with or without +), a BSUID, a stable user key or a conversation key
(phone_number_id:key), resolved through wapipe.user_identifiers
(wapipe.resolve_conversation). For the schema owner, like `wapipe dlq`. Output and logs
mask phone numbers and BSUIDs; message texts are never printed.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from wapipe import queries as q
from wapipe.db import connect
from wapipe.errors import WapipeError
from wapipe.log import get_logger, mask_phone
from wapipe.ops import _json_default, _raise_domain_error, format_time, render_table
from wapipe.settings import database_url

log = get_logger("wapipe.handoff")

FINAL_STATES = frozenset(("sent", "failed", "dry_run", "window_closed"))


def _operator(args: argparse.Namespace) -> str:
    return f"operator:{args.by}" if args.by else "operator"


def _resolve(cur: psycopg.Cursor[Any], user: str, number: str | None) -> str:
    """The one conversation key of USER (on --number when the user is known on several)."""
    try:
        cur.execute(q.RESOLVE_CONVERSATION, {"user": user, "number": number})
    except Exception as exc:
        _raise_domain_error(exc)
    rows = cur.fetchall()
    if not rows:
        raise WapipeError(f"no conversation with user {mask_phone(user)}")
    if len(rows) > 1:
        numbers = ", ".join(str(r["phone_number_id"]) for r in rows)
        raise WapipeError(
            f"user {mask_phone(user)} writes to several business numbers ({numbers}): "
            "choose one with --number"
        )
    return str(rows[0]["conversation_key"])


def cmd_start(args: argparse.Namespace) -> int:
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        key = _resolve(cur, args.user, args.number)
        try:
            cur.execute(
                q.START_HANDOFF,
                {
                    "conversation_key": key,
                    "started_by": _operator(args),
                    "reason": args.reason,
                    "minutes": args.minutes,
                },
            )
        except Exception as exc:
            _raise_domain_error(exc)
        row = cur.fetchone()
    assert row is not None
    verb = "extended" if row["extended_at"] else "started"
    log.info("handoff_started", user=key, started_by=_operator(args), until=row["until"])
    until = format_time(row["until"])
    print(f"handoff {row['id']} {verb}: {mask_phone(key)} is with a human until {until}")
    return 0


def cmd_end(args: argparse.Namespace) -> int:
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        key = _resolve(cur, args.user, args.number)
        try:
            cur.execute(q.END_HANDOFF, {"conversation_key": key, "by": _operator(args)})
        except Exception as exc:
            _raise_domain_error(exc)
        row = cur.fetchone()
    ended = bool(row and row["end_handoff"])
    log.info("handoff_ended", user=key, ended=ended)
    print(
        f"handoff of {mask_phone(key)} ended: the bot answers again"
        if ended
        else f"{mask_phone(key)} was not handed off"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(q.LIST_HANDOFFS, {"all": args.all, "limit": args.limit})
        except Exception as exc:
            _raise_domain_error(exc)
        rows = cur.fetchall()
    for r in rows:  # what leaves the database for a terminal is masked
        r["conversation_key"] = mask_phone(str(r["conversation_key"]))
        r["user_key"] = mask_phone(str(r["user_key"]))
    if args.json:
        print(json.dumps(rows, default=_json_default, indent=2))
        return 0
    if not rows:
        print("no conversation is handed off")
        return 0
    table = [
        [
            str(r["id"]),
            str(r["conversation_key"]),
            format_time(r["started_at"]),
            str(r["started_by"]),
            format_time(r["until"]),
            "yes" if r["active"] else f"ended ({r['ended_by']})",
            mask_phone(str(r["reason"] or ""))[:40],
        ]
        for r in rows
    ]
    print(
        render_table(
            ["id", "conversation", "since (UTC)", "by", "until", "active", "reason"], table
        )
    )
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    if args.message is not None:
        try:
            body = json.loads(args.message)
        except json.JSONDecodeError as exc:
            raise WapipeError(f"--message is not JSON: {exc}") from exc
    elif args.text:
        body = {"type": "text", "text": {"body": args.text}}
    else:
        raise WapipeError("give TEXT or --message '<Graph API message object>'")
    dedup_key = args.key or str(uuid.uuid4())
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        key = _resolve(cur, args.user, args.number)
        try:
            cur.execute(q.CONVERSATION_WINDOW, {"conversation_key": key})
            window = cur.fetchone()
            cur.execute(
                q.QUEUE_OPERATOR_MESSAGE,
                {
                    "conversation_key": key,
                    "body": Jsonb(body),
                    "key": dedup_key,
                    "by": _operator(args),
                },
            )
        except Exception as exc:
            _raise_domain_error(exc)
        row = cur.fetchone()
        assert row is not None
        outbox_id, queued, status = int(row["outbox_id"]), bool(row["queued"]), str(row["status"])
        log.info(
            "operator_message_queued" if queued else "operator_message_duplicate",
            user=key,
            outbox_id=outbox_id,
            dedup_key=dedup_key,
            message_type=body.get("type") if isinstance(body, dict) else None,
        )
        if window and not window["open"] and body.get("type") != "template":
            print(
                f"warning: the 24-hour window of {mask_phone(key)} is closed"
                f" (closed {format_time(window['closes_at'])}): the sender will not send free-form"
                " text; it will end window_closed. Send a template with --message."
            )
        print(
            f"outbox {outbox_id} queued for {mask_phone(key)} (key {dedup_key})"
            if queued
            else f"already queued under key {dedup_key}: outbox {outbox_id} ({status}), not again"
        )
        deadline = time.monotonic() + max(args.wait, 0)
        while args.wait > 0 and status not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(0.2)
            cur.execute(q.OUTBOX__STATUS, {"id": outbox_id})
            current = cur.fetchone()
            status = str(current["status"]) if current else status
        if args.wait > 0:
            print(f"outbox {outbox_id}: {status}")
            if status not in ("sent", "dry_run"):
                return 1
    return 0


def cmd_window_list(args: argparse.Namespace) -> int:
    params = {"hours": args.hours, "limit": args.limit}
    with connect(database_url()) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(q.OUTBOX__WINDOW_CLOSED_COUNT, params)
            total_row = cur.fetchone()
            cur.execute(q.OUTBOX__WINDOW_CLOSED_LIST, params)
        except Exception as exc:
            _raise_domain_error(exc)
        rows = cur.fetchall()
    total = int(total_row["count"]) if total_row else 0
    for r in rows:
        r["to_wa_id"] = mask_phone(str(r["to_wa_id"]))
        r["last_error"] = mask_phone(str(r["last_error"] or ""))
    if args.json:
        print(json.dumps({"total": total, "items": rows}, default=_json_default, indent=2))
        return 0
    if not rows:
        print(f"no reply held back by the 24-hour window in the last {args.hours} h")
        return 0
    table = [
        [
            str(r["id"]),
            format_time(r["created_at"]),
            str(r["to_wa_id"]),
            str(r["type"]),
            "meta 131047" if r["error_code"] else "checked",
            str(r["source_key"])[:30],
        ]
        for r in rows
    ]
    print(render_table(["outbox", "queued (UTC)", "to", "type", "refused", "source"], table))
    if total > len(rows):
        print(f"... {total - len(rows)} more (--limit)")
    return 0


def add_handoff_commands(sub: Any) -> None:
    """Registers `handoff start|end|list`, `send` and `window list` on the `wapipe` parser."""
    parser = sub.add_parser("handoff", help="hand a conversation to a human and back")
    hsub = parser.add_subparsers(dest="handoff_command", required=True)
    start = hsub.add_parser("start", help="the bot stops answering USER (or extend)")
    start.add_argument("user", help="phone, BSUID, user key or phone_number_id:key")
    start.add_argument("--minutes", type=int, default=None, help="default handoff.default_minutes")
    start.add_argument("--reason")
    start.set_defaults(handler=cmd_start)
    end = hsub.add_parser("end", help="the bot answers USER again")
    end.add_argument("user")
    end.set_defaults(handler=cmd_end)
    for p in (start, end):
        p.add_argument("--number", help="business phone_number_id, when USER writes to several")
        p.add_argument("--by", help="who you are (recorded as operator:<by>)")
    listing = hsub.add_parser("list", help="conversations handed off now, newest first")
    listing.add_argument("--all", action="store_true", help="ended ones too")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)

    send = sub.add_parser(
        "send",
        help="answer USER from the terminal, through the outbox",
        description="Queued in wapipe.outbox under source_key operator:<key> (once per key) and "
        "sent by the worker's sender: same pacing, 24-hour window check and order as replies.",
    )
    send.add_argument("user", help="phone, BSUID, user key or phone_number_id:key")
    send.add_argument("text", nargs="?", help="the text to send")
    send.add_argument("--message", help="a Graph API message object as JSON (e.g. a template)")
    send.add_argument("--key", help="dedup key: the same key sends once (default: a new one)")
    send.add_argument("--number", help="business phone_number_id, when USER writes to several")
    send.add_argument("--by", help="who you are (recorded as operator:<by>)")
    send.add_argument("--wait", type=float, default=0, help="seconds to wait for the outcome")
    send.set_defaults(handler=cmd_send)

    window = sub.add_parser("window", help="replies held back by the 24-hour window")
    wsub = window.add_subparsers(dest="window_command", required=True)
    wlist = wsub.add_parser("list", help="window_closed outbox rows, newest first")
    wlist.add_argument("--hours", type=int, default=168, help="how far back (default 7 days)")
    wlist.add_argument("--limit", type=int, default=50)
    wlist.add_argument("--json", action="store_true")
    wlist.set_defaults(handler=cmd_window_list)

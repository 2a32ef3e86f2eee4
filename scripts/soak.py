"""Fault soak of the whole system, run as a user runs it (not part of `make test`).

    .venv/bin/python scripts/soak.py [--messages 1500] [--users 60] [--seconds 150]

Starts its own throwaway PostgreSQL cluster (wapipe.cluster, migrated like `wapipe db
up`), a fake Graph API and two fake agent endpoints (tests/fakes) in this process, and
as real processes `wapipe ingress` and two `wapipe worker` (each with its outbox sender
really sending to the fake Graph API). Everything listens on 127.0.0.1 only.

Traffic: signed webhook POSTs at a steady rate from phone users, phone + BSUID users and
username-only users (BSUID, no phone); a few reactions, edits and revokes; POSTs of
several messages; Meta-like redeliveries of the same POST seconds later and
concurrently; a few junk items inside signed POSTs (quarantined, never sinking the POST).
A POST not answered 200 is retried until it is (as Meta does). For every reply the fake
Graph API accepts, a signed status webhook is POSTed back as Meta would.

Faults during the run: SIGKILL of a worker (restarted), `pg_ctl stop -m immediate` of the
cluster (restarted after 5 s), SIGKILL of the ingress (restarted), both agent endpoints
answering 503 for 15 s, the Graph API answering 130429 x20 then 131000 x10.

Checks after a drain: every POST answered 200 has all its valid messages stored; every
stored queued-kind message answered exactly once (one outbox row, one accepted send), in
order per conversation; no dead letters; BSUID-only users addressed with `recipient`;
no phone number, BSUID, username or message text in any log. Exit status 1 when a check
fails. Prints counts, reply latency (ingest -> sent, p50/p95/max) and the drain time
after each fault.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.fakes import write_config  # noqa: E402
from tests.fakes.agent_server import FakeAgent  # noqa: E402
from tests.fakes.graph_api import Error, FakeGraphApi, Recorded, status_webhook  # noqa: E402
from wapipe.cluster import Cluster, remove_cluster  # noqa: E402
from wapipe.migrate import migrate  # noqa: E402
from wapipe.testing.harness import free_ports, new_cluster  # noqa: E402

SECRET = "soak-app-secret-4e1f"
VERIFY_TOKEN = "soak-verify"
ACCESS_TOKEN = "EAAG-soak-access-token-7c2d"
PHONE_NUMBER_ID = "300100200300499"
RECORDED_KINDS = ("reaction", "edit", "revoke")


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- users and payloads -------------------------------------------------------------------


@dataclass
class User:
    idx: int
    kind: str  # phone | phone_bsuid | username
    phone: str | None
    bsuid: str | None
    username: str | None
    last_ts: int = 0
    texts: list[str] = field(default_factory=list)  # wamids of the user's text messages

    @property
    def address(self) -> str:
        """Where replies should go: the phone when Meta shared one, else the BSUID."""
        return self.phone or self.bsuid or ""

    def contact(self) -> dict[str, Any]:
        profile: dict[str, Any] = {"name": "Soak User"}
        if self.username:
            profile["username"] = self.username
        out: dict[str, Any] = {"profile": profile}
        if self.phone:
            out["wa_id"] = self.phone
        if self.bsuid:
            out["user_id"] = self.bsuid
        return out

    def next_ts(self) -> int:
        self.last_ts = max(int(time.time()), self.last_ts + 1)
        return self.last_ts


def make_users(count: int, rng: random.Random) -> list[User]:
    users: list[User] = []
    phones = rng.sample(range(10**8), count)
    bsuids = rng.sample(range(10**15, 10**16), count)
    for i in range(count):
        kind = ("phone", "phone_bsuid", "username")[i % 3] if i % 2 else "phone"
        phone = f"2507{phones[i]:08d}" if kind != "username" else None
        bsuid = f"RW.{bsuids[i]}" if kind != "phone" else None
        name = f"@soak.u{i:02d}x{rng.randrange(16**4):04x}" if kind == "username" else None
        users.append(User(i, kind, phone, bsuid, name))
    return users


def new_token() -> str:
    return "tk" + uuid.uuid4().hex[:14]


def base_item(user: User) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"wamid.soak.{uuid.uuid4().hex}",
        "timestamp": str(user.next_ts()),
    }
    if user.phone:
        item["from"] = user.phone
    if user.bsuid:
        item["from_user_id"] = user.bsuid
    return item


def text_item(user: User, tokens: list[str]) -> dict[str, Any]:
    token = new_token()
    tokens.append(token)
    item = base_item(user)
    item.update(type="text", text={"body": f"soak {token} what is on the menu"})
    user.texts.append(item["id"])
    return item


def recorded_item(user: User, kind: str, tokens: list[str]) -> dict[str, Any]:
    target = user.texts[-1]
    item = base_item(user)
    item["type"] = kind
    if kind == "reaction":
        item["reaction"] = {"message_id": target, "emoji": "\U0001f44d"}
    elif kind == "edit":
        token = new_token()
        tokens.append(token)
        item["edit"] = {
            "original_message_id": target,
            "message": {"type": "text", "text": {"body": f"soak {token} edited"}},
        }
    else:
        item["revoke"] = {"original_message_id": target}
    return item


WATCHED_EVENTS = {
    "message_retry_scheduled",
    "message_deferred",
    "message_dead_lettered",
    "message_given_back",
    "claim_lost",
    "outbox_retry_scheduled",
    "outbox_outcome_unknown",
    "outbox_released",
    "outbox_lease_lost",
    "outbox_failed",
    "database_unavailable",
    "sender_database_unavailable",
    "store_unavailable",
}
JUNK_KINDS = ("no_sender", "not_object", "list_not_list")


def webhook(users: list[User], items: list[Any], junk: str | None, token: str) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [u.contact() for u in users],
        "messages": list(items),
    }
    changes: list[dict[str, Any]] = [{"field": "messages", "value": value}]
    if junk == "no_sender":
        value["messages"].append(
            {
                "id": f"wamid.soak.junk.{uuid.uuid4().hex}",
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": f"soak {token} junk"},
            }
        )
    elif junk == "not_object":
        value["messages"].append(42)
    elif junk == "list_not_list":
        changes.append(
            {
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": value["metadata"],
                    "messages": f"soak {token} not a list",
                },
            }
        )
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "100200300400599", "changes": changes}],
    }


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


# -- processes ----------------------------------------------------------------------------


class Proc:
    """A `wapipe` subprocess; every incarnation logs to its own file."""

    def __init__(self, name: str, logs: Path, env: dict[str, str], *args: str) -> None:
        self.name, self.logs, self.env, self.args = name, logs, env, args
        self.incarnation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.incarnation += 1
        path = self.logs / f"{self.name}.{self.incarnation}.log"
        with path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wapipe.cli", *self.args],
                cwd=PROJECT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None


def wait_http(url: str, timeout: float = 30) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - t0
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


# -- the client (Meta's side) ---------------------------------------------------------------


@dataclass
class Post:
    body: bytes
    wamids: list[str]  # valid message items
    junk: str | None
    status_only: bool = False
    ok: bool = False
    gave_up: bool = False
    tries: int = 0


@dataclass
class Client:
    url: str
    http: httpx.Client
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    max_503_seconds: float = 0.0
    ok_times: list[float] = field(default_factory=list)  # wall clock of each 200

    def deliver(self, post: Post, budget: float = 300) -> None:
        deadline = time.monotonic() + budget
        delay = 0.25
        while True:
            post.tries += 1
            t0 = time.monotonic()
            try:
                code = self.http.post(
                    self.url, content=post.body, headers=signed(post.body)
                ).status_code
            except httpx.HTTPError:
                code = 0
            took = time.monotonic() - t0
            with self.lock:
                self.codes[code] += 1
                if code == 503:
                    self.max_503_seconds = max(self.max_503_seconds, took)
                if code == 200:
                    self.ok_times.append(time.time())
            if code == 200:
                post.ok = True
                return
            if code not in (0, 500, 502, 503, 504):
                with self.lock:
                    self.unexpected.append(f"HTTP {code}")
                return
            if time.monotonic() > deadline:
                post.gave_up = True
                return
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# -- the soak -------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    started: float = 0.0  # wall clock
    ended: float = 0.0
    note: str = ""


class Soak:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir()
        self.rng = random.Random(args.seed)
        self.users = make_users(args.users, self.rng)
        self.tokens: list[str] = []
        self.posts: list[Post] = []
        self.faults: list[Fault] = []
        self.pool = ThreadPoolExecutor(max_workers=96)
        self.futures: list[Any] = []
        self.status_sent: set[int] = set()
        self.stop_status = threading.Event()
        self.examples: list[str] = []

    # ---- set-up
    def start(self) -> None:
        self.cluster: Cluster = new_cluster(self.root, "wapipe_soak")
        self.cluster.up()
        migrate(self.cluster.url)
        self.db_url = self.cluster.url
        self.graph = FakeGraphApi().start()
        self.agents = [FakeAgent(latency_s=0.1).start() for _ in range(2)]
        ingress_port, m1, m2 = free_ports(3)
        base = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "WAPIPE_LOG_FORMAT": "json",
            "WAPIPE_LOG_LEVEL": "INFO",
        }
        ingress_env = {**base, "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN}
        config = write_config(
            self.root / "wapipe.toml",
            [{"name": "waiter", "endpoints": [a.url for a in self.agents]}],
            worker={
                "poll_interval_seconds": 1.0,
                "health_interval_seconds": self.args.health_seconds,
                "heartbeat_interval_seconds": 5,
            },
        )
        worker_env = {
            **base,
            "WAPIPE_CONFIG": str(config),
            "WHATSAPP_API_URL": self.graph.url,
            "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        }
        self.ingress_base = f"http://127.0.0.1:{ingress_port}"
        self.ingress = Proc(
            "ingress", self.logs, ingress_env, "ingress", "--port", str(ingress_port)
        )
        wait_http(f"{self.ingress_base}/healthz")
        self.workers = [
            Proc(f"worker{i}", self.logs, worker_env, "worker", "--metrics-port", str(port))
            for i, port in enumerate((m1, m2))
        ]
        self.client = Client(
            f"{self.ingress_base}/webhook",
            httpx.Client(timeout=15, limits=httpx.Limits(max_connections=96)),
        )
        threading.Thread(target=self.status_loop, daemon=True).start()

    def stop(self) -> dict[str, int | None]:
        self.stop_status.set()
        codes = {"ingress": self.ingress.stop()}
        for w in self.workers:
            codes[w.name] = w.stop()
        for a in self.agents:
            a.stop()
        self.graph.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        return codes

    # ---- Meta's status webhooks for every accepted send
    def status_loop(self) -> None:
        while not self.stop_status.wait(0.5):
            for i, rec in enumerate(self.graph.delivered()):
                if i in self.status_sent or rec.wamid is None:
                    continue
                self.status_sent.add(i)
                body = json.dumps(status_webhook(rec, "delivered")).encode()
                self.submit(Post(body, [], None, status_only=True))

    def submit(self, post: Post) -> None:
        self.futures.append(self.pool.submit(self.client.deliver, post))

    # ---- traffic
    def traffic(self) -> None:
        n, rate = self.args.messages, self.args.messages / self.args.seconds
        sent = 0
        t_next = time.monotonic()
        while sent < n:
            k = 1 if self.rng.random() < 0.85 else self.rng.randint(2, 6)
            k = min(k, n - sent)
            items: list[dict[str, Any]] = []
            involved: list[User] = []
            for _ in range(k):
                user = self.rng.choice(self.users)
                roll = self.rng.random()
                if user.texts and roll < 0.06:
                    items.append(recorded_item(user, RECORDED_KINDS[int(roll / 0.02)], self.tokens))
                else:
                    items.append(text_item(user, self.tokens))
                if user not in involved:
                    involved.append(user)
            junk = self.rng.choice(JUNK_KINDS) if self.rng.random() < 0.03 else None
            token = new_token()
            self.tokens.append(token)
            body = json.dumps(webhook(involved, items, junk, token), separators=(",", ":")).encode()
            post = Post(body, [str(i["id"]) for i in items], junk)
            self.posts.append(post)
            roll = self.rng.random()
            copies = 3 if roll < 0.04 else 1
            for _ in range(copies):  # concurrent redelivery: the same bytes, at once
                self.submit(Post(body, post.wamids, junk) if _ else post)
            if 0.04 <= roll < 0.12:  # redelivered seconds later
                later = Post(body, post.wamids, junk)
                threading.Timer(self.rng.uniform(2, 6), self.submit, (later,)).start()
            sent += k
            t_next += k / rate
            time.sleep(max(0.0, t_next - time.monotonic()))

    # ---- faults
    def faults_plan(self) -> None:
        d = self.args.seconds
        t0 = time.monotonic()

        def at(fraction: float) -> None:
            time.sleep(max(0.0, t0 + d * fraction - time.monotonic()))

        at(0.10)
        f = self.fault("SIGKILL worker0, restart")
        self.workers[0].kill()
        time.sleep(1)
        self.workers[0].start()
        f.ended = time.time()

        at(0.25)
        f = self.fault("pg_ctl stop -m immediate, restart after 5 s")
        pg_ctl = str(self.cluster.bindir / "pg_ctl")
        res = self.cluster._run(pg_ctl, "stop", "-D", str(self.cluster.data_dir), "-m", "immediate")
        f.note = f"stop rc={res.returncode}"
        time.sleep(5)
        self.cluster.up()
        f.ended = time.time()
        first_ok = self.first_ok_after(f.ended, 30)
        f.note += f"; ingress 200 again {first_ok:.2f} s after the cluster was up"

        at(0.45)
        f = self.fault("SIGKILL ingress, restart")
        self.ingress.kill()
        self.ingress.start()
        took = wait_http(f"{self.ingress_base}/healthz")
        f.ended = time.time()
        f.note = f"ingress healthy {took:.2f} s after restart"

        at(0.60)
        f = self.fault("both agents 503 for 15 s")
        for a in self.agents:
            a.status, a.healthy = 503, False
        time.sleep(15)
        for a in self.agents:
            a.status, a.healthy = 200, True
        f.ended = time.time()

        at(0.80)
        f = self.fault("Graph API 130429 x20 then 131000 x10")
        self.graph.script(*[Error(130429)] * 20, *[Error(131000)] * 10)
        deadline = time.monotonic() + 300
        while self.graph._script and time.monotonic() < deadline:
            time.sleep(0.1)
        f.ended = time.time()
        f.note = "script consumed" if not self.graph._script else "script NOT consumed"

    def fault(self, name: str) -> Fault:
        log(f"fault: {name}")
        f = Fault(name, started=time.time())
        self.faults.append(f)
        return f

    def first_ok_after(self, since: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.client.lock:
                later = [t for t in self.client.ok_times if t >= since]
            if later:
                return min(later) - since
            time.sleep(0.05)
        return float("nan")

    # ---- drain
    def drain(self, timeout: float) -> float:
        t0 = time.monotonic()
        for fut in list(self.futures):
            fut.result(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        stable_since, last = time.monotonic(), -1
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while time.monotonic() - t0 < timeout:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM wapipe.processed_messages"
                    "        WHERE status IN ('queued', 'processing')),"
                    "       (SELECT count(*) FROM wapipe.outbox"
                    "        WHERE status IN ('pending', 'sending'))"
                ).fetchone()
                assert row is not None
                count = self.graph.count()
                if count != last:
                    stable_since, last = time.monotonic(), count
                if row == (0, 0) and time.monotonic() - stable_since > 3:
                    return time.monotonic() - t0
                time.sleep(0.5)
        return float("nan")

    # ---- checks
    def check(self) -> tuple[list[str], list[str]]:
        problems: list[str] = []
        lines: list[str] = []
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            msgs = conn.execute(
                "SELECT id, wamid, from_wa_id, message_type, status, handled_by,"
                " extract(epoch FROM received_at)::float8,"
                " extract(epoch FROM processed_at)::float8,"
                " wa_timestamp, attempts, coalesce(deferrals, 0),"
                " extract(epoch FROM claimed_at)::float8"
                " FROM wapipe.processed_messages ORDER BY wa_timestamp, id"
            ).fetchall()
            outbox = conn.execute(
                "SELECT id, source_key, to_wa_id, status, extract(epoch FROM sent_at)::float8,"
                " body->'text'->>'body' FROM wapipe.outbox"
            ).fetchall()
            dead = conn.execute(
                "SELECT coalesce(error_code, '?'), count(*) FROM wapipe.dead_letters GROUP BY 1"
            ).fetchall()
            quarantined = conn.execute("SELECT count(*) FROM wapipe.quarantine").fetchone()
            events = conn.execute("SELECT count(*) FROM wapipe.webhook_events").fetchone()
        stored = {m[1] for m in msgs}
        ok_posts = [p for p in self.posts if p.ok]
        lost = [w for p in ok_posts for w in p.wamids if w not in stored]
        not_ok = [p for p in self.posts if not p.ok]
        lines.append(
            f"POSTs: {len(self.posts)} distinct message POSTs, {len(ok_posts)} answered 200, "
            f"{len(not_ok)} never 200; HTTP codes seen {dict(self.client.codes)} "
            f"(0 = connection error); {events[0] if events else '?'} raw events stored"
        )
        if not_ok:
            problems.append(f"{len(not_ok)} POSTs never got 200")
        if self.client.unexpected:
            problems.append(f"unexpected answers: {Counter(self.client.unexpected)}")
        if lost:
            problems.append(
                f"{len(lost)} messages of POSTs answered 200 are not stored: {lost[:3]}"
            )
        junk_posts = sum(1 for p in ok_posts if p.junk)
        lines.append(
            f"junk: {junk_posts} POSTs carried a junk item; quarantine rows: "
            f"{quarantined[0] if quarantined else '?'}"
        )
        if junk_posts and not (quarantined and quarantined[0] >= junk_posts):
            problems.append("fewer quarantine rows than POSTs with junk")

        replies_by_key: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in outbox:
            replies_by_key[row[1]].append(row)
        accepted: dict[int, list[Recorded]] = defaultdict(list)
        for rec in self.graph.delivered():
            cb = str(rec.json.get("biz_opaque_callback_data", ""))
            if cb.startswith("outbox:"):
                accepted[int(cb.split(":", 1)[1])].append(rec)
        users_by_address = {a: u for u in self.users for a in (u.phone, u.bsuid) if a}
        queued = [m for m in msgs if not str(m[5] or "").startswith("recorded:")]
        kinds = Counter(str(m[5]).split(":")[0] if m[5] else m[4] for m in msgs)
        lines.append(f"stored messages: {len(msgs)} ({dict(kinds)}), queued-kind {len(queued)}")
        not_done = [m for m in queued if m[4] != "done"]
        if not_done:
            problems.append(
                f"{len(not_done)} queued-kind messages not done: {Counter(m[4] for m in not_done)}"
            )
        dups, missing, extra, notices, latencies = 0, 0, 0, 0, []
        for m in queued:
            rows = replies_by_key.get(m[1], [])
            want = 0 if m[3] == "revoked" or m[5] in ("revoked",) else 1
            if m[5] == "rate_limited":
                notices += 1
                want = len(rows)  # one notice per window, the rest answered with nothing
            if len(rows) < want:
                missing += 1
            elif len(rows) > want:
                extra += 1
            for r in rows:
                sends = accepted.get(r[0], [])
                if len(sends) > 1:
                    dups += 1
                if r[3] != "sent" or not sends:
                    missing += 1
                elif r[4] is not None:
                    latencies.append(r[4] - m[6])
        revoked = sum(1 for m in queued if m[3] == "revoked")
        lines.append(
            f"replies: {len(outbox)} outbox rows, "
            f"{sum(len(v) for v in accepted.values())} accepted sends; "
            f"{revoked} revoked (no reply), {notices} rate-limited; missing {missing}, "
            f"extra {extra}, sent twice {dups}"
        )
        if missing or extra or dups:
            problems.append(f"replies: missing {missing}, extra {extra}, sent twice {dups}")
        if dead:
            problems.append(f"dead letters: {dict((str(k), int(v)) for k, v in dead)}")
        lines.append(f"dead letters: {dict((str(k), int(v)) for k, v in dead) or 0}")
        attempts = Counter(int(m[9]) for m in queued)
        deferred = sum(1 for m in queued if int(m[10]) > 0)
        lines.append(
            f"attempts per message: {dict(sorted(attempts.items()))}; "
            f"deferred at least once: {deferred}"
        )

        # order per conversation, as the user sees it at the Graph API
        outbox_source = {int(r[0]): str(r[1]) for r in outbox}
        position = {m[1]: i for i, m in enumerate(msgs)}
        msg_by_wamid = {m[1]: m for m in msgs}
        sends_by_address: dict[str, list[str]] = defaultdict(list)
        for rec in sorted(self.graph.delivered(), key=lambda r: r.at):
            cb = str(rec.json.get("biz_opaque_callback_data", ""))
            src = outbox_source.get(int(cb.split(":", 1)[1])) if cb.startswith("outbox:") else None
            user = users_by_address.get(rec.address or "")
            if src is not None and user is not None:
                sends_by_address[user.address].append(src)
        inversions, late = 0, 0
        for _address, srcs in sends_by_address.items():
            for a, b in itertools.pairwise(srcs):
                if a in position and b in position and position[a] > position[b]:
                    ma, mb = msg_by_wamid[a], msg_by_wamid[b]
                    # b (earlier by WhatsApp time) was stored after a was claimed: arrived late
                    if mb[6] > (ma[11] or ma[7] or 0):
                        late += 1
                    else:
                        inversions += 1
                        if len(self.examples) < 6:
                            self.examples.append(
                                f"out of order for {_address[:4]}...: "
                                + " then ".join(
                                    f"[{x[3]} ts={x[8]:%H:%M:%S} recv={x[6]:.2f} "
                                    f"done={x[7] or 0:.2f} by={x[5]} att={x[9]}]"
                                    for x in (ma, mb)
                                )
                            )
        lines.append(
            f"order: {inversions} replies out of order per conversation "
            f"({late} more where the earlier message arrived after the later was claimed)"
        )
        if inversions:
            problems.append(f"{inversions} replies out of order")

        # addressing
        wrong_address = 0
        bsuid_sends, both_by_bsuid = 0, 0
        for rec in self.graph.delivered():
            user = users_by_address.get(rec.address or "")
            if user is None:
                wrong_address += 1
                if len(self.examples) < 12:
                    keys = {k: str(v)[:5] for k, v in rec.json.items() if k in ("to", "recipient")}
                    self.examples.append(f"unknown address {keys}")
            elif user.phone is None:
                bsuid_sends += 1
                if rec.json.get("recipient") != user.bsuid or "to" in rec.json:
                    wrong_address += 1
            elif rec.address == user.bsuid:
                both_by_bsuid += 1
        lines.append(
            f"addressing: {bsuid_sends} sends to BSUID-only users (by recipient), "
            f"{both_by_bsuid} to phone + BSUID users by BSUID; "
            f"{wrong_address} wrongly addressed"
        )
        if wrong_address:
            problems.append(f"{wrong_address} sends wrongly addressed")

        if latencies:
            latencies.sort()
            p50, p95 = (
                latencies[min(len(latencies) - 1, int(q * len(latencies)))] for q in (0.5, 0.95)
            )
            lines.append(
                f"latency ingest -> reply sent: p50 {p50:.2f} s, p95 {p95:.2f} s, "
                f"max {latencies[-1]:.2f} s (n={len(latencies)}; "
                f"{sum(1 for x in latencies if x > 10)} over 10 s)"
            )
        for f in self.faults:
            window = [m for m in queued if f.started - 5 <= m[6] <= f.ended]
            sent = [r[4] for m in window for r in replies_by_key.get(m[1], []) if r[4] is not None]
            drain = (max(sent) - f.ended) if sent else float("nan")
            lines.append(
                f"fault {f.name}: lasted {f.ended - f.started:.1f} s, {len(window)} "
                f"messages in it answered {drain:.1f} s after its end. {f.note}"
            )
        lines.append(f"ingress: slowest 503 answer {self.client.max_503_seconds:.2f} s")
        problems.extend(self.check_logs(lines))
        return lines, problems

    def check_logs(self, lines: list[str]) -> list[str]:
        private = [u.phone for u in self.users if u.phone]
        private += [u.bsuid for u in self.users if u.bsuid]
        private += [u.username.lstrip("@") for u in self.users if u.username]
        private += self.tokens
        pattern = re.compile("|".join(re.escape(s) for s in private if s))
        found: dict[str, Counter[str]] = {}
        files = sorted(self.logs.glob("*.log"))
        events: Counter[str] = Counter()
        for path in files:
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    event = str(json.loads(line).get("event", ""))
                    if event in WATCHED_EVENTS:
                        events[event] += 1
        lines.append(f"worker/ingress events: {dict(sorted(events.items()))}")
        for path in [*files, self.cluster.log_file]:
            text = path.read_text(errors="replace")
            hits = Counter(m.group(0)[:6] + "..." for m in pattern.finditer(text))
            tracebacks = text.count("Traceback")
            if hits:
                found[path.name] = hits
            if tracebacks:
                lines.append(f"logs: {path.name} has {tracebacks} tracebacks")
        app_hits = {k: v for k, v in found.items() if k != self.cluster.log_file.name}
        lines.append(
            f"logs: {len(files)} process logs scanned; private strings found: "
            f"{ {k: sum(v.values()) for k, v in found.items()} or 'none' }"
        )
        return [f"private data in logs: {app_hits}"] if app_hits else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=150, help="length of the traffic")
    parser.add_argument("--drain-seconds", type=float, default=300)
    parser.add_argument(
        "--health-seconds", type=float, default=30, help="worker health_interval_seconds (30)"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = parser.parse_args()
    args.seed = args.seed if args.seed is not None else random.randrange(10**6)
    root = Path(tempfile.mkdtemp(prefix="wapipe-soak-"))
    os.chmod(root, 0o755)  # the server runs as the postgres OS user under root
    soak = Soak(args, root)
    ok = False
    try:
        log(
            f"seed {args.seed}; {args.messages} messages from {args.users} users over "
            f"{args.seconds:.0f} s; folder {root}"
        )
        soak.start()
        faults = threading.Thread(target=soak.faults_plan, daemon=True)
        t0 = time.monotonic()
        faults.start()
        soak.traffic()
        faults.join(timeout=600)
        traffic_s = time.monotonic() - t0
        log(f"traffic done in {traffic_s:.0f} s; draining")
        drained = soak.drain(args.drain_seconds)
        log(f"drained {drained:.1f} s after the traffic ended")
        lines, problems = soak.check()
        codes = soak.stop()
        lines.append(f"exit codes on SIGTERM: {codes}")
        print("\n".join(["", "== soak summary ==", *lines]))
        if problems:
            print("\n".join(["", "== PROBLEMS ==", *problems, *soak.examples]))
        else:
            print("\nall checks passed")
        ok = not problems
    finally:
        with contextlib.suppress(Exception):
            soak.stop()
        with contextlib.suppress(Exception):
            remove_cluster(soak.cluster)
        if args.keep or not ok:
            print(f"logs kept in {root / 'logs'}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

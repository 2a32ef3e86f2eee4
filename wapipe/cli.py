"""The `wapipe` command line."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wapipe import queries
from wapipe.cluster import Cluster
from wapipe.db import connect
from wapipe.errors import WapipeError
from wapipe.handoff import add_handoff_commands
from wapipe.migrate import migrate, pending_migrations
from wapipe.ops import add_ops_commands
from wapipe.quarantine import add_quarantine_commands
from wapipe.settings import (
    PROMETHEUS_MULTIPROC_DIR,
    Settings,
    cluster_settings,
    database_url,
    environ,
    export,
    load_settings,
    mask_url,
    prometheus_multiproc_dir,
    uses_local_cluster,
)
from wapipe.signature import sign

# What `wapipe run` uses when the environment names no secret / verify token.
DEV_APP_SECRET = "wapipe-dev-secret"
DEV_VERIFY_TOKEN = "wapipe-dev-verify"
# The business number of the webhooks dev-send and the playground post.
DEV_PHONE_NUMBER_ID = "300100200300400"
DEV_DISPLAY_NUMBER = "250780000100"

Handler = Callable[[argparse.Namespace], int]


def _local_cluster() -> Cluster:
    return Cluster.from_settings(cluster_settings())


def cmd_db_up(_: argparse.Namespace) -> int:
    cluster = _local_cluster()
    started = cluster.up()
    state = "started" if started else "already running"
    print(f"cluster {state}: {cluster.url} (data: {cluster.data_dir})")
    return 0


def cmd_db_down(_: argparse.Namespace) -> int:
    cluster = _local_cluster()
    print("cluster stopped" if cluster.down() else "cluster was not running")
    return 0


def cmd_db_url(_: argparse.Namespace) -> int:
    print(database_url())
    return 0


def cmd_db_migrate(_: argparse.Namespace) -> int:
    report = migrate(database_url())
    for ext in report.extensions_installed:
        print(f"installed extension {ext}")
    applied = ", ".join(report.migrations_applied) or "none pending"
    print(f"schema migrations applied: {applied}")
    print(f"re-applied {report.functions_files} function files and {report.views_files} view files")
    for signature in report.stale_functions_dropped:
        print(f"dropped stale function {signature}")
    return 0


def cmd_db_psql(args: argparse.Namespace) -> int:
    url = database_url()
    os.execvp("psql", ["psql", url, *args.psql_args])


def cmd_db_status(_: argparse.Namespace) -> int:
    url = database_url()
    if uses_local_cluster():
        cluster = _local_cluster()
        running = cluster.is_running()
        print(f"local cluster: {'running' if running else 'stopped'} (data: {cluster.data_dir})")
        if not running:
            return 1
    print(f"database: {mask_url(url)}")
    with connect(url) as conn:
        version = conn.execute(queries.SERVER_VERSION).fetchone()
        print(f"server: PostgreSQL {version[0] if version else '?'}")
        exts = conn.execute(queries.EXTENSIONS).fetchall()
        print("extensions: " + ", ".join(row[0] for row in exts))
    pending = pending_migrations(url)
    print(f"pending migrations: {', '.join(pending) if pending else 'none'}")
    return 0


@dataclass
class ChildProcess:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of this process's environment


def _children(playground_port: int | None = None) -> list[ChildProcess]:
    """The processes `wapipe run` supervises; each issue adds its own.

    With a playground port, the playground runs too and the worker's sender sends to
    its Graph API stand-in, with a token that is not a real one (so it really sends)."""
    worker_env: dict[str, str] = {}
    children = [ChildProcess("ingress", [sys.executable, "-m", "wapipe.cli", "ingress"])]
    if playground_port is not None:
        from wapipe.playground import PLAYGROUND_ACCESS_TOKEN, graph_api_url

        worker_env = {
            "WHATSAPP_API_URL": graph_api_url(playground_port),
            "WHATSAPP_ACCESS_TOKEN": PLAYGROUND_ACCESS_TOKEN,
        }
        children.append(
            ChildProcess(
                "playground",
                [
                    sys.executable,
                    "-m",
                    "wapipe.cli",
                    "playground",
                    "--port",
                    str(playground_port),
                    "--no-banner",
                ],
            )
        )
    children += [
        ChildProcess("worker", [sys.executable, "-m", "wapipe.cli", "worker"], worker_env),
        ChildProcess("demo-agent", [sys.executable, "-m", "wapipe.cli", "demo-agent"]),
    ]
    return children


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.main import run_worker

    sender = not args.no_sender
    return run_worker(
        args.concurrency,
        args.batch,
        args.lock_seconds,
        args.grace_seconds,
        sender,
        metrics_port=args.metrics_port,
        settings=load_settings(),
    )


def cmd_demo_agent(args: argparse.Namespace) -> int:
    from worker.main import run_demo_agent

    return run_demo_agent(args.host, args.port, args.think_seconds, load_settings())


def cmd_ingress(args: argparse.Namespace) -> int:
    import uvicorn

    from ingress.app import check_startup_settings
    from wapipe.log import configure_logging

    settings = load_settings()
    configure_logging("ingress", settings.log)
    if not settings.app_secrets and not settings.allow_unsigned:
        check_startup_settings(settings)  # raises with the one-line reason
    with connect(settings.database_url):  # fail fast, one line, before any worker starts
        pass
    workers = args.workers or settings.ingress_workers
    if workers > 1 and not prometheus_multiproc_dir():
        # Every worker writes its metrics there; /metrics adds them up.
        export(PROMETHEUS_MULTIPROC_DIR, tempfile.mkdtemp(prefix="wapipe-metrics-"))
    uvicorn.run(
        "ingress.app:app",
        host=args.host or settings.ingress_host,
        port=args.port or settings.ingress_port,
        workers=workers,
        log_config=None,  # wapipe.log owns logging (JSON, masked)
        access_log=False,  # no query strings in logs; POSTs are counted in /metrics
        server_header=False,
        timeout_graceful_shutdown=30,  # SIGTERM: stop accepting, finish in-flight requests
    )
    return 0


def dev_webhook(
    text: str,
    wa_id: str | None = "250788123456",
    *,
    user_id: str | None = None,
    username: str | None = None,
    name: str = "Dev",
    message: dict[str, Any] | None = None,
    image: dict[str, str] | None = None,
) -> bytes:
    """A text.json-style webhook with a fresh wamid (for trying the ingress by hand).

    The playground posts every user message through this builder too: `message`
    replaces the text (its type and content, e.g. an interactive reply and its
    context), `image` makes it an image message as image.json (`id`, `mime_type`,
    `sha256`, optional `caption`), and a user without a phone number is sent as Meta
    sends one (text_username_only.json): `from_user_id`, a contact with `user_id` and
    `profile.username`, no `from` and no `wa_id`.
    """
    if image is not None:
        media = {k: image[k] for k in ("id", "mime_type", "sha256")}
        if image.get("caption"):
            media["caption"] = image["caption"]
        message = {"type": "image", "image": media}
    profile: dict[str, str] = {"name": name}
    if username:
        profile["username"] = username
    contact: dict[str, Any] = {"profile": profile}
    sender: dict[str, str] = {}
    if wa_id:
        contact["wa_id"] = wa_id
        sender["from"] = wa_id
    if user_id:
        contact["user_id"] = user_id
        sender["from_user_id"] = user_id
    content = message if message is not None else {"type": "text", "text": {"body": text}}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "900800700600500",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DEV_DISPLAY_NUMBER,
                                "phone_number_id": DEV_PHONE_NUMBER_ID,
                            },
                            "contacts": [contact],
                            "messages": [
                                {
                                    **sender,
                                    "id": f"wamid.dev-{uuid.uuid4().hex}",
                                    "timestamp": str(int(time.time())),
                                    **content,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_curl(url: str, body: bytes, secret: str) -> str:
    return " ".join(
        [
            "curl -sS -X POST",
            shlex.quote(url),
            "-H 'Content-Type: application/json'",
            "-H " + shlex.quote(f"X-Hub-Signature-256: {sign(body, secret)}"),
            "--data-binary " + shlex.quote(body.decode()),
        ]
    )


def _dev_secret(settings: Settings | None = None) -> str:
    secrets = (settings or load_settings()).app_secrets
    return secrets[0] if secrets else DEV_APP_SECRET


def _ingress_url(settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    return f"http://{settings.ingress_host}:{settings.ingress_port}"


def cmd_dev_send(args: argparse.Namespace) -> int:
    import httpx

    url = args.url or f"{_ingress_url()}/webhook"
    body = dev_webhook(args.text, args.wa_id)
    secret = _dev_secret()
    if args.curl:
        print(signed_curl(url, body, secret))
        return 0
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise WapipeError(f"cannot reach the ingress at {url}: {exc}") from exc
    print(f"{response.status_code} {response.text.strip()}")
    return 0 if response.status_code == 200 else 1


def _wait_ready(base_url: str, timeout_seconds: float, path: str = "/readyz") -> bool:
    import httpx

    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}{path}", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _print_monitoring_urls(ingress_base: str, settings: Settings) -> None:
    if settings.status_token:
        print(f"status page: {ingress_base}/status?token={settings.status_token}")
    print(f"ingress metrics: {ingress_base}/metrics")
    worker = settings.worker
    if worker.metrics_port:
        print(f"worker metrics: http://{worker.metrics_host}:{worker.metrics_port}/metrics")
    print(f"demo agent: {worker.demo_agent_url}/agent (the worker sends the outbox too)")


def _print_ingress_banner(settings: Settings, playground_url: str | None = None) -> None:
    base = _ingress_url(settings)
    secret = _dev_secret(settings)
    ready = _wait_ready(base, 20)
    token = settings.verify_token
    if playground_url:
        origin = playground_url.split("/?", 1)[0]
        up = _wait_ready(origin, 20, "/healthz")
        print(f"chat with your agent in the browser (local WhatsApp): {playground_url}")
        if not up:
            print("  (the playground is NOT answering yet, see its log)")
    print(f"ingress: {base}/webhook ({'ready' if ready else 'NOT ready yet, see its log'})")
    _print_monitoring_urls(base, settings)
    print(f"app secret: {secret}   verify token: {token}")
    prog = sys.argv[0] if os.path.basename(sys.argv[0]) == "wapipe" else "wapipe"
    print("send a signed text message (fresh wamid every time):")
    print(f"  {shlex.quote(prog)} dev-send 'hello'")
    print("or the same with curl:")
    print("  " + signed_curl(f"{base}/webhook", dev_webhook("hello"), secret))


def _playground_port_for_run(settings: Settings) -> int:
    """WAPIPE_PLAYGROUND_PORT (8070); when that default is taken, any free port."""
    import socket

    from wapipe.playground import HOST

    if settings.playground.port is not None:
        return settings.playground.port
    port = settings.playground.port_or_default
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
            return port
        except OSError:
            probe.bind((HOST, 0))
            return int(probe.getsockname()[1])


def cmd_run(args: argparse.Namespace) -> int:
    started_cluster = False
    cluster: Cluster | None = None
    # What every child process gets: this process's environment plus the defaults of a
    # local run (the children read their settings from it).
    env = environ()
    if uses_local_cluster(env):
        cluster = _local_cluster()
        started_cluster = cluster.up()
        print(f"database: {cluster.url} ({'started' if started_cluster else 'already running'})")
    migrate(database_url(env))
    print("database migrated")
    env.setdefault("WHATSAPP_APP_SECRET", DEV_APP_SECRET)
    env.setdefault("WHATSAPP_VERIFY_TOKEN", DEV_VERIFY_TOKEN)
    # the status page is on locally, with a token of this run unless one is given
    env.setdefault("WAPIPE_STATUS_TOKEN", secrets.token_urlsafe(16))
    # No access token: replies go to the local WhatsApp (the playground) instead of nowhere.
    playground_port: int | None = None
    playground_url: str | None = None
    settings = load_settings(env)
    if not settings.access_token.strip() and not args.no_playground:
        playground_port = _playground_port_for_run(settings)
        env.setdefault("WAPIPE_PLAYGROUND_TOKEN", secrets.token_urlsafe(16))
        settings = load_settings(env)
        playground_url = f"http://127.0.0.1:{playground_port}/?token={settings.playground.token}"
    # Ctrl-C / SIGTERM from here on only sets `stop`: whatever moment it comes, the
    # children are stopped and the cluster this run started is shut down below.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    procs: list[tuple[ChildProcess, subprocess.Popen[bytes]]] = []
    try:
        for child in _children(playground_port):
            procs.append((child, subprocess.Popen(child.argv, env={**env, **child.env})))
            print(f"started {child.name} (pid {procs[-1][1].pid})", flush=True)
        if any(child.name == "ingress" for child, _ in procs) and not stop.is_set():
            _print_ingress_banner(settings, playground_url)
        if not procs:
            print("no processes to run yet: the database is ready; press Ctrl-C to stop")
        sys.stdout.flush()
        while not stop.wait(0.5):
            for child, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"{child.name} exited with code {proc.returncode}; stopping",
                        file=sys.stderr,
                    )
                    stop.set()
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if cluster is not None and started_cluster:
            cluster.down()
            print("cluster stopped", flush=True)
    return 0


def cmd_playground(args: argparse.Namespace) -> int:
    from wapipe.log import configure_logging
    from wapipe.playground import (
        HOST,
        PlaygroundConfig,
        graph_api_url,
        refuse_real_access_token,
        serve,
    )

    settings = load_settings()
    refuse_real_access_token(settings.access_token, settings.api_url)
    port = args.port or settings.playground.port_or_default
    token = settings.playground.token or secrets.token_urlsafe(16)
    webhook_url = args.webhook_url or f"{_ingress_url(settings)}/webhook"
    configure_logging("playground", settings.log)
    if not args.no_banner:
        print(f"local WhatsApp: http://{HOST}:{port}/?token={token}")
        print(f"posting signed webhooks to {webhook_url}")
        print(
            "point the worker's sender at it: "
            f"WHATSAPP_API_URL={graph_api_url(port)} WHATSAPP_ACCESS_TOKEN=anything-but-real",
            flush=True,
        )
    serve(PlaygroundConfig(webhook_url, _dev_secret(settings), token), port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wapipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the local PostgreSQL cluster and migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("up", help="create and start the local cluster").set_defaults(
        handler=cmd_db_up
    )
    db_sub.add_parser("down", help="stop the local cluster").set_defaults(handler=cmd_db_down)
    db_sub.add_parser("url", help="print DATABASE_URL").set_defaults(handler=cmd_db_url)
    db_sub.add_parser("migrate", help="apply schema, functions, views").set_defaults(
        handler=cmd_db_migrate
    )
    db_sub.add_parser("status", help="cluster, extensions, pending migrations").set_defaults(
        handler=cmd_db_status
    )
    psql = db_sub.add_parser("psql", help="open psql on the database")
    psql.add_argument("psql_args", nargs=argparse.REMAINDER)
    psql.set_defaults(handler=cmd_db_psql)

    run = sub.add_parser("run", help="the whole system on the local cluster")
    run.add_argument(
        "--no-playground",
        action="store_true",
        help="do not start the local WhatsApp (replies then stay in the outbox as dry_run)",
    )
    run.set_defaults(handler=cmd_run)

    playground = sub.add_parser(
        "playground", help="a local WhatsApp in the browser, against a running ingress"
    )
    playground.add_argument("--port", type=int, help="port (WAPIPE_PLAYGROUND_PORT, 8070)")
    playground.add_argument(
        "--webhook-url", help="where to post the webhooks (default: the local ingress)"
    )
    playground.add_argument("--no-banner", action="store_true", help=argparse.SUPPRESS)
    playground.set_defaults(handler=cmd_playground)

    ingress = sub.add_parser("ingress", help="the webhook ingress (uvicorn)")
    ingress.add_argument("--host", help="bind address (WAPIPE_INGRESS_HOST, 127.0.0.1)")
    ingress.add_argument("--port", type=int, help="port (WAPIPE_INGRESS_PORT, 8080)")
    ingress.add_argument("--workers", type=int, help="processes (WAPIPE_INGRESS_WORKERS, 1)")
    ingress.set_defaults(handler=cmd_ingress)

    worker = sub.add_parser("worker", help="claim queued messages and answer them")
    worker.add_argument("--concurrency", type=int, help="messages in flight (config, 8)")
    worker.add_argument("--batch", type=int, help="messages per claim (config, 10)")
    worker.add_argument("--lock-seconds", type=int, help="claim lease, extended while busy (30)")
    worker.add_argument("--grace-seconds", type=float, help="on SIGTERM: time to finish (20)")
    worker.add_argument(
        "--no-sender", action="store_true", help="do not send the outbox (run a sender elsewhere)"
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="Prometheus /metrics port (WAPIPE_WORKER_METRICS_PORT, 9464; 0 = off)",
    )
    worker.set_defaults(handler=cmd_worker)

    demo_agent = sub.add_parser("demo-agent", help="the built-in offline waiter agent")
    demo_agent.add_argument("--host", default="127.0.0.1", help="bind address")
    demo_agent.add_argument("--port", type=int, help="port (8090)")
    demo_agent.add_argument(
        "--think-seconds",
        type=float,
        default=0.0,
        help="wait this long before each answer, as an LLM would (shows typing…)",
    )
    demo_agent.set_defaults(handler=cmd_demo_agent)

    dev_send = sub.add_parser(
        "dev-send", help="post a signed text message with a fresh wamid to the ingress"
    )
    dev_send.add_argument("text", nargs="?", default="hello")
    dev_send.add_argument("--url", help="webhook URL (default: the local ingress)")
    dev_send.add_argument("--wa-id", default="250788123456", help="sender's WhatsApp id")
    dev_send.add_argument("--curl", action="store_true", help="print a curl command instead")
    dev_send.set_defaults(handler=cmd_dev_send)
    add_ops_commands(sub)  # health, workers, dlq (wapipe/ops.py)
    add_quarantine_commands(sub)  # quarantine list|show|replay (wapipe/quarantine.py)
    add_handoff_commands(sub)  # handoff start|end|list, send, window list (wapipe/handoff.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "handler", None) is cmd_db_psql:
        args.psql_args = [*extra, *args.psql_args]  # psql's own options, e.g. -c
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handler: Handler = args.handler
    try:
        return handler(args)
    except WapipeError as exc:
        print(f"wapipe: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""`ingress.app:app`: the Starlette app between Meta and `wapipe.ingest_webhook`.

POST /webhook answers 200 only once the webhook is committed; a database that
is down or slow gets 503 + Retry-After (Meta retries), bad input a 4xx that
stores nothing. Every response carries X-Correlation-Id, which also goes into
the stored event and every log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from prometheus_client import CONTENT_TYPE_LATEST
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingress import store
from ingress.media import serve_media
from ingress.metrics import IngressMetrics
from ingress.payload import storable
from ingress.signature import SignatureCheck, check_signature
from ingress.status import status_page
from wapipe.errors import DatabaseUnavailable, WapipeError
from wapipe.log import bind_correlation_id, configure_logging, debug_enabled, get_logger
from wapipe.settings import Settings, load_settings, mask_url

log = get_logger("wapipe.ingress")

CORRELATION_HEADER = "x-correlation-id"
RETRY_AFTER_SECONDS = 5
_SANE_CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SCOPE_CID = "wapipe.correlation_id"
_ROUTES = frozenset({"/webhook", "/healthz", "/readyz", "/metrics", "/status"})


class IngressConfigError(WapipeError):
    """The ingress cannot start with this configuration."""


@dataclass
class Runtime:
    """What the lifespan opens and every endpoint uses."""

    settings: Settings
    db: store.Database
    metrics: IngressMetrics
    batcher: store.IngestBatcher
    expected_migrations: frozenset[str]
    readiness_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    readiness_checked_at: float = float("-inf")
    readiness_problem: str | None = "not checked yet"
    status_token: str = ""  # WAPIPE_STATUS_TOKEN; empty: GET /status answers 404

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        """The pool; DatabaseUnavailable at once while the database is down."""
        return self.db.pool


class State(TypedDict):
    runtime: Runtime


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.scope["state"]["runtime"]  # request.state, without its wrapper
    return runtime


def correlation_id_of(request: Request) -> str:
    cid: str = request.scope[_SCOPE_CID]
    return cid


# -- endpoints -----------------------------------------------------------------


async def verify_subscription(request: Request) -> Response:
    """Meta's GET handshake: echo hub.challenge when the verify token matches."""
    params = request.query_params
    expected = _runtime(request).settings.verify_token
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    token_ok = (
        bool(expected)
        and token is not None
        and hmac.compare_digest(token.encode(), expected.encode())
    )
    if mode == "subscribe" and token_ok and challenge is not None:
        log.info("webhook verification accepted")
        return PlainTextResponse(challenge)
    log.warning(
        "webhook verification refused",
        mode_ok=mode == "subscribe",
        token_ok=token_ok,
        has_challenge=challenge is not None,
    )
    return PlainTextResponse("verification refused\n", status_code=403)


async def receive_webhook(request: Request) -> Response:
    runtime = _runtime(request)
    settings, metrics = runtime.settings, runtime.metrics
    cid = correlation_id_of(request)

    body = await _read_body(request, settings.max_body_bytes)
    if isinstance(body, Response):
        return body
    metrics.payload_bytes.observe(len(body))

    if settings.app_secrets:
        verdict = check_signature(
            request.headers.get("x-hub-signature-256"), body, settings.app_secrets
        )
        if verdict is not SignatureCheck.VALID:
            metrics.signature_failures.labels(verdict.value).inc()
            log.warning("webhook signature refused", reason=verdict.value, size=len(body))
            if verdict is SignatureCheck.MISMATCH:
                return _refuse(403, "signature does not match")
            return _refuse(401, f"X-Hub-Signature-256 {verdict.value} (want sha256=<hex>)")

    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        return _refuse(400, "body is not valid UTF-8")
    except RecursionError:
        return _refuse(400, "body is not valid JSON: nested too deeply")
    except ValueError as exc:
        return _refuse(400, f"body is not valid JSON: {str(exc).splitlines()[0]}")

    text = storable(text, parsed, body)
    started = time.perf_counter()
    try:
        result = await runtime.batcher.ingest(text, cid)
    except store.PayloadRejected as exc:
        return _refuse(400, str(exc))
    except DatabaseUnavailable as exc:
        metrics.db_unavailable.inc()
        log.error("webhook not stored: database unavailable", reason=str(exc))
        return PlainTextResponse(
            "database unavailable, retry later\n",
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    elapsed = time.perf_counter() - started
    metrics.ingest_seconds.observe(elapsed)
    metrics.ingest_batch_size.observe(result.batch_size)
    if result.new_messages:
        metrics.accepted_messages.inc(result.new_messages)
    if result.duplicates:
        metrics.duplicate_messages.inc(result.duplicates)
    if result.statuses:
        metrics.statuses.inc(result.statuses)
    # DEBUG, not INFO: a line per POST cost ~20 us of the ~250 us of CPU the process
    # spent on it; the counts are in /metrics, the correlation id in webhook_events,
    # and refusals and failures are still logged as warnings and errors.
    if debug_enabled():
        log.debug(
            "webhook stored",
            event_id=result.event_id,
            new_messages=result.new_messages,
            duplicates=result.duplicates,
            statuses=result.statuses,
            errors=result.errors,
            size=len(body),
            ingest_ms=round(elapsed * 1000, 2),
            batch=result.batch_size,
        )
    return stored_response(result)


def stored_response(result: store.IngestResult) -> Response:
    """200 with the ingest's counts as JSON (every value an int: written directly)."""
    return Response(
        b'{"status":"stored","event_id":%d,"new_messages":%d,"duplicates":%d,'
        b'"statuses":%d,"errors":%d}'
        % (result.event_id, result.new_messages, result.duplicates, result.statuses, result.errors),
        media_type="application/json",
    )


async def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    runtime = _runtime(request)
    async with runtime.readiness_lock:
        now = time.monotonic()
        if now - runtime.readiness_checked_at >= runtime.settings.readiness_cache_seconds:
            runtime.readiness_problem = await _readiness_problem(runtime)
            runtime.readiness_checked_at = time.monotonic()
        problem = runtime.readiness_problem
    if problem is None:
        return PlainTextResponse("ready\n")
    return PlainTextResponse(f"not ready: {problem}\n", status_code=503)


async def metrics_endpoint(request: Request) -> Response:
    return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


# -- helpers -------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes | Response:
    """The raw body, or a 4xx response: never reads more than limit + one chunk."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            return _refuse(400, "malformed Content-Length")
        if int(declared) > limit:
            return _refuse(413, f"body larger than {limit} bytes")
    # The ASGI messages themselves, not request.stream(): an async generator per POST.
    chunks: list[bytes] = []
    size = 0
    more_body = True
    while more_body:
        message = await request.receive()
        if message["type"] != "http.request":  # http.disconnect
            return _refuse(400, "client disconnected before the body was complete")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _refuse(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        more_body = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _refuse(status: int, reason: str) -> Response:
    log.warning("webhook refused", status=status, reason=reason)
    return PlainTextResponse(reason.splitlines()[0] + "\n", status_code=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _readiness_problem(runtime: Runtime) -> str | None:
    timeout = min(runtime.settings.db_timeout_seconds, 3.0)
    if not runtime.db.up:
        try:
            runtime.db.ensure_up()
        except DatabaseUnavailable as exc:
            return str(exc)
    try:
        pending = await store.pending_migrations(runtime.pool, runtime.expected_migrations, timeout)
    except DatabaseUnavailable as exc:
        return f"database unreachable: {exc}"
    if pending:
        return f"pending migrations: {', '.join(pending)}"
    return None


# -- correlation id, access metrics --------------------------------------------


class CorrelationIdMiddleware:
    """Gives every request a correlation id (the caller's if sane), binds it for
    logging and returns it in X-Correlation-Id; counts responses by status."""

    def __init__(self, app: ASGIApp, metrics: IngressMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = _correlation_id_from(scope)
        scope[_SCOPE_CID] = cid
        bind_correlation_id(cid)
        status = 500
        header = (CORRELATION_HEADER.encode(), cid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            self.metrics.answered(path if path in _ROUTES else "other", status)


_CORRELATION_HEADER_BYTES = CORRELATION_HEADER.encode()


def _correlation_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == _CORRELATION_HEADER_BYTES:
            try:
                candidate: str = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                break
            if _SANE_CORRELATION_ID.fullmatch(candidate):
                return candidate
            break
    return new_correlation_id()


# Ten decimal digits in a row: the log masker would take them for a phone number.
_DIGIT_RUN = re.compile(r"[0-9]{10}")


def new_correlation_id() -> str:
    """32 random hex digits, like uuid4().hex without its system call: an id to find a
    request by, not a secret (the generator is seeded from the OS in each process).

    Never with ten decimal digits in a row: wapipe.log masks such a run as a phone
    number, and about one uuid4().hex in eleven has one (9 %), so its log lines carried
    another id than its response and its stored event."""
    while True:
        cid = f"{random.getrandbits(128):032x}"
        if not _DIGIT_RUN.search(cid):
            return cid


# -- the app -------------------------------------------------------------------


class AsgiEndpoint:
    """A request -> response endpoint served as a plain ASGI app by its Route.

    For the hottest route: Starlette wraps a function endpoint in two more layers
    per request (request_response, and a second exception-handling wrapper around
    `send`) that only matter for HTTPException and exception handlers, which this
    endpoint neither raises nor has; ExceptionMiddleware still wraps the router."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, configure_logs: bool = True, settle_gc: bool = False
) -> Starlette:
    """The ingress; settings default to the environment, read at start-up.

    settle_gc: the app owns its process (uvicorn's `ingress.app:app`), so once started
    it may tune the process's garbage collector (settle_garbage_collector)."""
    metrics = IngressMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[State]:
        current = settings or load_settings()
        if configure_logs:
            configure_logging("ingress", current.log)
        check_startup_settings(current)
        try:
            db = await store.Database.open(current, on_change=metrics.db_up.set)
        except DatabaseUnavailable as exc:
            log.error("ingress cannot start", reason=str(exc))
            raise
        runtime = Runtime(
            settings=current,
            db=db,
            metrics=metrics,
            batcher=store.IngestBatcher(
                db,
                batch_max=current.ingest_batch_max,
                calls_max=current.ingest_calls_max,
                timeout=current.db_timeout_seconds,
            ),
            expected_migrations=store.expected_migrations(),
            status_token=current.status_token,
        )
        if settle_gc:
            settle_garbage_collector()
        log.info(
            "ingress started",
            database=mask_url(current.database_url),
            pool_min=store.pool_min_size(current),
            pool_max=store.pool_max_size(current),
            secrets=len(current.app_secrets),
            status_page=bool(runtime.status_token),
        )
        try:
            yield {"runtime": runtime}
        finally:
            await db.close()
            log.info("ingress stopped")

    routes = [
        Route("/webhook", verify_subscription, methods=["GET"]),
        Route("/webhook", AsgiEndpoint(receive_webhook), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/status", status_page, methods=["GET"]),
        Route("/media/{media_id}", serve_media, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(CorrelationIdMiddleware, metrics=metrics)],
        lifespan=lifespan,
    )


# Container allocations between two young collections (CPython's default: 700).
# Under load the young generation holds the requests in flight (their coroutines,
# scopes, headers), traversed again at every collection: at 700, every ~20 POSTs.
GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Once started: the modules, pool and app built so far are kept out of every
    later collection (gc.freeze), and young collections run less often.

    Measured under load before this: ~15 % of the process's CPU in the collector,
    and a full collection (~30 ms, every second or two) walking every object of
    every imported module while POSTs waited."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def check_startup_settings(settings: Settings) -> None:
    """Refuse to run without an app secret unless the dev flag says so (then warn loudly)."""
    if settings.app_secrets:
        return
    if not settings.allow_unsigned:
        message = (
            "WHATSAPP_APP_SECRET is not set: the ingress refuses to accept unsigned webhooks "
            "(set WAPIPE_ALLOW_UNSIGNED=1 for local development only)"
        )
        log.error("ingress cannot start", reason=message)
        raise IngressConfigError(message)
    log.warning(
        "INSECURE: WHATSAPP_APP_SECRET is not set and WAPIPE_ALLOW_UNSIGNED=1: "
        "webhook signatures are NOT checked; never run like this in production"
    )


app = create_app(settle_gc=True)

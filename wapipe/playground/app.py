"""The playground's HTTP side: the chat page and its API, and the Graph API stand-in.

| route | for |
| --- | --- |
| `GET /?token=` | the chat page (401 without the token) |
| `GET /static/playground.{js,css}` | its script and style (no secret in them) |
| `GET /api/events?token=` | server-sent events: `snapshot`, then `user`, `message`, `typing` |
| `GET /api/state` | the same snapshot as JSON |
| `POST /api/users` | `{kind: phone\\|username, name, replaces?}`: a new user |
| `POST /api/send` | `{user, texts: [...]}`, or `{user, reply: {kind, id, title}, to: wamid}` |
| `POST /api/receipts` | `{ids, status: delivered\\|read}`: the page showed / the user saw |
| `POST [/{version}]/{phone_number_id}/messages` | the Graph stand-in (any bearer token) |
| `GET [/{version}]/{media_id}` | media: 404 in Meta's shape (no media kept) |
| `GET /healthz` | 200 while it runs |

The API wants the token as `Authorization: Bearer` or `?token=` (EventSource cannot
send headers). Pages are served with a strict Content-Security-Policy (own script and
style only, nothing from elsewhere) and never send the token on as a Referer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ingress.status import token_accepted
from wapipe.log import get_logger
from wapipe.playground.chat import Playground, sse_frame
from wapipe.playground.graph import (
    GraphRequestError,
    MarkRead,
    error_answer,
    media_not_found,
    parse_request,
    send_answer,
)

__all__ = ["PlaygroundConfig", "create_app"]

log = get_logger("wapipe.playground")

KEEPALIVE_SECONDS = 15.0
MAX_BURST = 20  # texts in one /api/send
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_STATIC_TYPES = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class PlaygroundConfig:
    webhook_url: str  # the real ingress's /webhook
    app_secret: str  # signs what is posted there
    token: str  # the page's and the API's
    webhook_timeout_seconds: float = 10.0


def _static(name: str) -> bytes:
    return resources.files("wapipe.playground").joinpath("static", name).read_bytes()


def create_app(
    config: PlaygroundConfig, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The playground app; `transport` replaces the network for the webhooks (tests)."""
    files = {name: _static(name) for name in ("index.html", *_STATIC_TYPES)}
    state: dict[str, Playground] = {}

    def playground() -> Playground:
        return state["playground"]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            timeout=config.webhook_timeout_seconds, transport=transport
        ) as client:
            pg = Playground(config.webhook_url, config.app_secret, client)
            pg.new_user("phone", "You")
            state["playground"] = pg
            try:
                yield
            finally:
                await pg.aclose()

    def authorised(request: Request) -> bool:
        return token_accepted(request, config.token)

    def refused() -> Response:
        return PlainTextResponse(
            "playground token required (?token= as printed by `wapipe run`)\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="wapipe playground"', **_PAGE_HEADERS},
        )

    async def page(request: Request) -> Response:
        if not authorised(request):
            return refused()
        return Response(files["index.html"], media_type="text/html", headers=_PAGE_HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC_TYPES:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(
            files[name],
            media_type=_STATIC_TYPES[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    async def events(request: Request) -> Response:
        if not authorised(request):
            return refused()
        pg = playground()

        async def stream() -> AsyncIterator[str]:
            queue = pg.hub.subscribe()
            try:
                yield sse_frame("snapshot", pg.snapshot())
                while True:
                    try:
                        frame = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if frame is None:
                        return
                    yield frame
            finally:
                pg.hub.unsubscribe(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def api_state(request: Request) -> Response:
        if not authorised(request):
            return refused()
        return JSONResponse(playground().snapshot(), headers={"Cache-Control": "no-store"})

    async def api_users(request: Request) -> Response:
        if not authorised(request):
            return refused()
        body = await _json_object(request)
        kind = body.get("kind", "phone")
        if kind not in ("phone", "username"):
            return _bad("kind must be phone or username")
        replaces = body.get("replaces")
        user = playground().new_user(
            kind, str(body.get("name") or ""), replaces if isinstance(replaces, str) else None
        )
        return JSONResponse(user.public())

    async def api_send(request: Request) -> Response:
        if not authorised(request):
            return refused()
        body = await _json_object(request)
        pg = playground()
        user = pg.users.get(str(body.get("user", "")))
        if user is None:
            return _bad("unknown user")
        texts = body.get("texts")
        reply = body.get("reply")
        if isinstance(texts, list) and texts:
            clean = [t.strip() for t in texts if isinstance(t, str) and t.strip()][:MAX_BURST]
            if not clean:
                return _bad("nothing to send")
            sent = await pg.user_sends_texts(user, clean)
        elif isinstance(reply, dict):
            kind = reply.get("kind")
            if kind not in ("button_reply", "list_reply"):
                return _bad("reply.kind must be button_reply or list_reply")
            chosen = {"id": str(reply.get("id", "")), "title": str(reply.get("title", ""))}
            if kind == "list_reply" and reply.get("description"):
                chosen["description"] = str(reply["description"])
            if not chosen["id"]:
                return _bad("reply.id is required")
            sent = [await pg.user_replies(user, kind, chosen, str(body.get("to", "")))]
        else:
            return _bad("texts or reply is required")
        return JSONResponse({"messages": [m.public() for m in sent]})

    async def api_receipts(request: Request) -> Response:
        if not authorised(request):
            return refused()
        body = await _json_object(request)
        status = body.get("status")
        ids = body.get("ids")
        if status not in ("delivered", "read") or not isinstance(ids, list):
            return _bad("ids (a list) and status (delivered or read) are required")
        count = playground().receipt([i for i in ids if isinstance(i, str)], status)
        return JSONResponse({"accepted": count})

    async def graph_messages(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            error = GraphRequestError(
                "An access token is required to request this resource.", code=190, http_status=401
            )
            return JSONResponse(error_answer(error), status_code=error.http_status)
        try:
            parsed = parse_request(await _json(request))
        except GraphRequestError as exc:
            log.info("graph_request_refused", code=exc.code)
            return JSONResponse(error_answer(exc), status_code=exc.http_status)
        pg = playground()
        if isinstance(parsed, MarkRead):
            pg.mark_read(parsed)
            return JSONResponse({"success": True})
        message = pg.business_sends(parsed, request.path_params["phone_number_id"])
        log.info("graph_message_accepted", message_type=parsed.message_type)

        async def then_sent() -> None:
            pg.advance_statuses(message)

        # The `sent` status webhook goes once this answer is out, as Meta's does.
        return JSONResponse(send_answer(parsed, message.id), background=BackgroundTask(then_sent))

    async def graph_media(request: Request) -> Response:
        return JSONResponse(media_not_found(request.path_params["media_id"]), status_code=404)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/", page),
        Route("/healthz", healthz),
        Route("/static/{name}", static),
        Route("/api/events", events),
        Route("/api/state", api_state),
        Route("/api/users", api_users, methods=["POST"]),
        Route("/api/send", api_send, methods=["POST"]),
        Route("/api/receipts", api_receipts, methods=["POST"]),
        Route("/{version}/{phone_number_id}/messages", graph_messages, methods=["POST"]),
        Route("/{phone_number_id}/messages", graph_messages, methods=["POST"]),
        Route("/{version}/{media_id}", graph_media, methods=["GET"]),
        Route("/{media_id}", graph_media, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.playground = state
    return app


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def _json_object(request: Request) -> dict[str, Any]:
    body = await _json(request)
    return body if isinstance(body, dict) else {}


def _bad(reason: str) -> Response:
    return JSONResponse({"error": reason}, status_code=400)

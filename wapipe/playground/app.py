"""The playground's HTTP side: the chat page and its API, and the Graph API stand-in.

| route | for |
| --- | --- |
| `GET /?token=` | the chat page (401 without the token) |
| `GET /static/playground.{js,css}` | its script and style (no secret in them) |
| `GET /api/events?token=` | server-sent events: `snapshot`, then `user`, `message`, `typing` |
| `GET /api/state` | the same snapshot as JSON |
| `POST /api/users` | `{kind: phone\\|username, name, replaces?}`: a new user |
| `POST /api/send` | `{user, texts: [...]}`, `{user, reply: {kind, id, title}, to: wamid}`, |
| | or `{user, photo: {data: base64, caption?}}` (JPEG/PNG: an `image` webhook) |
| `POST /api/receipts` | `{ids, status: delivered\\|read}`: the page showed / the user saw |
| `GET /api/media/{media_id}?token=` | the stand-in's bytes of a media id, for the page's `<img>` |
| `POST [/{version}]/{phone_number_id}/messages` | the Graph stand-in (any bearer token) |
| `POST [/{version}]/{phone_number_id}/media` | upload (multipart), answers `{"id"}` |
| `GET [/{version}]/{media_id}` | `{url, mime_type, sha256, file_size, id}`; 404 when unknown |
| `GET /whatsapp_business/attachments/?mid=&ext=&hash=` | that URL: the bytes, same token, expires |
| `GET /healthz` | 200 while it runs |

The API wants the token as `Authorization: Bearer` or `?token=` (EventSource cannot
send headers). Pages are served with a strict Content-Security-Policy (own script and
style only, nothing from elsewhere) and never send the token on as a Referer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
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
from wapipe.playground.media import (
    ATTACHMENTS_PATH,
    MAX_UPLOAD_BYTES,
    SUPPORTED_TYPES,
    parse_upload,
    sniff_image,
)
from wapipe.signature import token_accepted

__all__ = ["PlaygroundConfig", "create_app"]

log = get_logger("wapipe.playground")

KEEPALIVE_SECONDS = 15.0
MAX_BURST = 20  # texts in one /api/send
MAX_PHOTO_BYTES = SUPPORTED_TYPES["image/jpeg"]  # the Cloud API's image limit (5 MB)
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_MEDIA_HEADERS = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
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
        photo = body.get("photo")
        if isinstance(photo, dict):
            try:
                content = base64.b64decode(str(photo.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                return _bad("photo.data must be base64")
            mime_type = sniff_image(content)
            if mime_type is None:
                return _bad("a photo must be a JPEG or PNG file")
            if len(content) > MAX_PHOTO_BYTES:
                return _bad(f"a photo is limited to {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
            caption = str(photo.get("caption") or "").strip()[:1024]
            sent = [await pg.user_sends_photo(user, content, mime_type, caption)]
        elif isinstance(texts, list) and texts:
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

    async def api_media(request: Request) -> Response:
        if not authorised(request):
            return refused()
        item = playground().media.get(request.path_params["media_id"])
        if item is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(item.content, media_type=item.mime_type, headers=_MEDIA_HEADERS)

    async def graph_messages(request: Request) -> Response:
        if not _bearer(request):
            return _token_required()
        try:
            parsed = parse_request(await _json(request))
        except GraphRequestError as exc:
            log.info("graph_request_refused", code=exc.code)
            return JSONResponse(error_answer(exc), status_code=exc.http_status)
        pg = playground()
        if isinstance(parsed, MarkRead):
            pg.mark_read(parsed)
            return JSONResponse({"success": True})
        message = pg.business_sends(
            parsed, request.path_params["phone_number_id"], request.url.netloc
        )
        log.info("graph_message_accepted", message_type=parsed.message_type)

        async def then_sent() -> None:
            pg.advance_statuses(message)

        # The `sent` status webhook goes once this answer is out, as Meta's does.
        return JSONResponse(send_answer(parsed, message.id), background=BackgroundTask(then_sent))

    async def graph_media(request: Request) -> Response:
        token = _bearer(request)
        if not token:
            return _token_required()
        media_id = request.path_params["media_id"]
        item = playground().media.get(media_id)
        if item is None:
            return JSONResponse(media_not_found(media_id), status_code=404)
        return JSONResponse(playground().media.info(item, str(request.base_url), token))

    async def graph_download(request: Request) -> Response:
        token = _bearer(request)
        if not token:
            return _token_required()
        try:
            item = playground().media.download(dict(request.query_params), token)
        except GraphRequestError as exc:
            return JSONResponse(error_answer(exc), status_code=exc.http_status)
        return Response(item.content, media_type=item.mime_type, headers=_MEDIA_HEADERS)

    async def graph_upload(request: Request) -> Response:
        if not _bearer(request):
            return _token_required()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 65536:
            error = GraphRequestError("(#131053) The file is too large", code=131053)
            return JSONResponse(error_answer(error), status_code=error.http_status)
        try:
            upload = parse_upload(request.headers.get("content-type", ""), await request.body())
        except GraphRequestError as exc:
            log.info("graph_request_refused", code=exc.code)
            return JSONResponse(error_answer(exc), status_code=exc.http_status)
        item = playground().media.add(upload.content, upload.mime_type)
        log.info("graph_media_uploaded", mime_type=upload.mime_type, size=len(upload.content))
        return JSONResponse({"id": item.id})

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
        Route("/api/media/{media_id}", api_media),
        Route(ATTACHMENTS_PATH, graph_download),
        Route("/{version}/{phone_number_id}/messages", graph_messages, methods=["POST"]),
        Route("/{phone_number_id}/messages", graph_messages, methods=["POST"]),
        Route("/{version}/{phone_number_id}/media", graph_upload, methods=["POST"]),
        Route("/{phone_number_id}/media", graph_upload, methods=["POST"]),
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


def _bearer(request: Request) -> str:
    """The Graph API request's bearer token ("" without one)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def _token_required() -> Response:
    error = GraphRequestError(
        "An access token is required to request this resource.", code=190, http_status=401
    )
    return JSONResponse(error_answer(error), status_code=error.http_status)


def _bad(reason: str) -> Response:
    return JSONResponse({"error": reason}, status_code=400)

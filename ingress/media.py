"""`GET /media/{id}?exp=…&sig=…`: the bytes of a stored inbound media, for agents.

The worker hands agents a signed, expiring URL (wapipe.media_url) instead of the
business's access token. A URL with a bad or missing signature is refused 403,
an expired one 410, a media that is not stored (or purged) 404; nothing is read
from the database before the signature checks out. Bytes come from
wapipe.media_content (migration 0024 keeps them in PostgreSQL).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from wapipe import db, queries
from wapipe.errors import DatabaseRefusal, DatabaseUnavailable
from wapipe.log import get_logger
from wapipe.media_url import check, signing_key

log = get_logger("wapipe.ingress.media")


async def serve_media(request: Request) -> Response:
    runtime: Any = request.state.runtime
    raw_id = request.path_params.get("media_id", "")
    if not str(raw_id).isdigit():
        return PlainTextResponse("not found\n", status_code=404)
    media_id = int(raw_id)
    key = signing_key(runtime.settings.app_secrets, explicit_key=runtime.settings.media_signing_key)
    if key is None:
        return PlainTextResponse("media URLs are not enabled\n", status_code=404)
    problem = check(key, media_id, request.query_params.get("exp"), request.query_params.get("sig"))
    if problem is not None:
        log.warning("media_url_refused", media_id=media_id, reason=problem)
        status = 410 if problem == "expired" else 403
        return PlainTextResponse(f"{problem}\n", status_code=status)
    try:
        rows = await db.call(
            runtime.db,
            queries.MEDIA_CONTENT,
            {"media_id": media_id},
            retry=db.ONCE,
            deadline=time.monotonic() + runtime.settings.db_timeout_seconds,
        )
    except (DatabaseUnavailable, DatabaseRefusal, psycopg.Error) as exc:
        log.error("media_unavailable", media_id=media_id, error=type(exc).__name__)
        return PlainTextResponse(
            "database unavailable\n", status_code=503, headers={"Retry-After": "5"}
        )
    if not rows:
        return PlainTextResponse("not found\n", status_code=404)
    content, mime_type, filename, _size = rows[0]
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    if filename:
        safe = "".join(c for c in str(filename) if c.isprintable() and c not in '"\\')[:200]
        headers["Content-Disposition"] = f'inline; filename="{safe}"'
    return Response(
        bytes(content), media_type=mime_type or "application/octet-stream", headers=headers
    )

"""A fake WhatsApp Graph API: a real Starlette app under uvicorn on a free localhost port.

It records every POST /{phone_number_id}/messages (time, path, auth header, JSON)
and answers with a fresh wamid, unless a scripted behaviour is queued:
`script(Error(130429), Error(131047), Http(500), Drop())` is consumed one per
request, then it answers normally again. `latency_seconds` delays every answer.

Addressing as the Cloud API documents it (2026): `"to": "<phone>"`, or
`"recipient": "<BSUID>"` for a business-scoped user ID, or
`"recipient_type": "group", "to": "<group_id>"`; when both `to` and `recipient`
are present `to` wins. The answer's contacts[] echo the address the way Meta
does: `{"input", "wa_id"}` for a phone, `{"input", "user_id"}` for a BSUID. A
request with neither field gets Meta's error 100. `status_webhook(recorded)`
builds the status webhook Meta would POST for an accepted request (with its
biz_opaque_callback_data), for tests that play Meta's side.

Read receipts + typing indicators (`{"status": "read", "message_id", "typing_indicator"}`
to the same endpoint) are answered `{"success": true}` and recorded apart, in
`reads` (so `requests` still holds only sends). `down = True` answers every call
503. Media: `add_media(bytes)` gives a media id; GET /{media_id} answers its URL,
mime type, sha256 (base64, as Meta gives it) and size; GET /media-bytes/{id} the
bytes (access token required). `expire(id)` makes the id answer Meta's error 100
(subcode 33), `media_status = 404` fails every download, `media_latency_seconds`
slows them; `media_lookups` / `media_downloads` count the calls per id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


@dataclass(frozen=True)
class Error:
    """A Meta error answer with this code (HTTP 400 unless given)."""

    code: int
    http_status: int = 400
    message: str = "scripted error"


@dataclass(frozen=True)
class Http:
    """A bare HTTP status with a non-JSON body (e.g. a 500 from a proxy)."""

    status: int


@dataclass(frozen=True)
class Drop:
    """Meta got the request (and, if accepted, sends the message) but the connection
    drops before the answer's body: the client cannot know the outcome."""

    accepted: bool = True


Behaviour = Error | Http | Drop


@dataclass
class Recorded:
    at: float  # time.monotonic() when the request arrived
    phone_number_id: str
    authorization: str
    json: dict[str, Any]
    answer: str  # "wamid:<id>", "error:<code>", "http:<status>", "drop"
    held: bool = False  # caught by hold_next: answered only after release_held was set

    @property
    def address(self) -> str | None:
        """Whom Meta sends it to: `to` if present (it wins), else `recipient`."""
        return _address(self.json)

    @property
    def wamid(self) -> str | None:
        return self.answer.removeprefix("wamid:") if self.answer.startswith("wamid:") else None


def _address(payload: dict[str, Any]) -> str | None:
    for key in ("to", "recipient"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _is_phone(address: str) -> bool:
    return address.lstrip("+").isdigit()


def status_webhook(
    recorded: Recorded, status: str = "sent", *, timestamp: int | None = None
) -> dict[str, Any]:
    """The status webhook Meta POSTs for an accepted request (statuses[] with the wamid, the
    recipient as phone or BSUID, and the request's biz_opaque_callback_data)."""
    wamid = recorded.wamid
    if wamid is None:
        raise ValueError("only an accepted request has a status")
    address = recorded.address or ""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
    }
    if recorded.json.get("recipient_type") == "group":
        item["recipient_type"] = "group"
        item["recipient_id"] = address
    elif _is_phone(address):
        item["recipient_id"] = address
    else:
        item["recipient_user_id"] = address
    if "biz_opaque_callback_data" in recorded.json:
        item["biz_opaque_callback_data"] = recorded.json["biz_opaque_callback_data"]
    return {
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
                                "display_phone_number": "250780000100",
                                "phone_number_id": recorded.phone_number_id,
                            },
                            "statuses": [item],
                        },
                    }
                ],
            }
        ],
    }


@dataclass
class MediaItem:
    content: bytes
    mime_type: str = "image/jpeg"
    sha256: str | None = None  # what Meta says (base64 of the digest); None: the true one


@dataclass
class FakeGraphApi:
    latency_seconds: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    reads: list[Recorded] = field(default_factory=list)
    down: bool = False
    read_latency_seconds: float = 0.0
    media: dict[str, MediaItem] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    media_status: int = 200
    media_latency_seconds: float = 0.0
    media_lookups: Counter[str] = field(default_factory=Counter)
    media_downloads: Counter[str] = field(default_factory=Counter)
    # The next send is recorded as held, hold_next() is called at once (e.g. to kill the
    # sender: a crash mid-send with no race) and the answer waits until release_held is set.
    hold_next: Callable[[], object] | None = None
    release_held: threading.Event = field(default_factory=threading.Event)
    _script: deque[Behaviour] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v21.0"

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def delivered(self) -> list[Recorded]:
        """Requests Meta would have turned into a message on the user's phone."""
        with self._lock:
            return [r for r in self.requests if r.answer.startswith("wamid:") or r.answer == "drop"]

    def read_calls(self, wamid: str | None = None) -> list[Recorded]:
        """Mark-read + typing calls (of one inbound message when wamid is given)."""
        with self._lock:
            return [r for r in self.reads if wamid is None or r.json.get("message_id") == wamid]

    def add_media(self, content: bytes, mime_type: str = "image/jpeg", **kw: Any) -> str:
        media_id = f"{910000000000 + next(self._ids)}"
        self.media[media_id] = MediaItem(content, mime_type, **kw)
        return media_id

    def expire(self, media_id: str) -> None:
        self.expired.add(media_id)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def to(self, address: str) -> list[Recorded]:
        """Requests addressed to this phone number, BSUID or group id (as Meta reads them)."""
        with self._lock:
            return [r for r in self.requests if r.address == address]

    def max_per_window(self, window_seconds: float = 1.0) -> int:
        """Most requests that arrived within any window of this length (sliding)."""
        with self._lock:
            times = sorted(r.at for r in self.requests)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window_seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # --- the ASGI side -------------------------------------------------------------

    async def _messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        payload = await request.json()
        if isinstance(payload, dict) and payload.get("status") == "read":
            read_answer = await self._read(scope, request, payload)
            await read_answer(scope, receive, send)
            return
        if self.down:
            await JSONResponse("down", status_code=503)(scope, receive, send)
            return
        address = _address(payload) if isinstance(payload, dict) else None
        if address is None:
            # Meta checks the request before it takes anything from a script
            await JSONResponse(
                {
                    "error": {
                        "message": "(#100) The parameter to is required.",
                        "type": "OAuthException",
                        "code": 100,
                        "fbtrace_id": "AbCdEf",
                    }
                },
                status_code=400,
            )(scope, receive, send)
            return
        with self._lock:
            behaviour = self._script.popleft() if self._script else None
            wamid = f"wamid.fake.{next(self._ids)}"
            on_hold, self.hold_next = self.hold_next, None
        answer = (
            f"wamid:{wamid}"
            if behaviour is None
            else f"error:{behaviour.code}"
            if isinstance(behaviour, Error)
            else f"http:{behaviour.status}"
            if isinstance(behaviour, Http)
            else ("drop" if behaviour.accepted else "drop-unprocessed")
        )
        with self._lock:
            self.requests.append(
                Recorded(
                    at=time.monotonic(),
                    phone_number_id=scope["path_params"]["phone_number_id"],
                    authorization=request.headers.get("authorization", ""),
                    json=payload,
                    answer=answer,
                    held=on_hold is not None,
                )
            )
        if on_hold is not None:
            on_hold()
            while not self.release_held.is_set():
                await asyncio.sleep(0.01)
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        if isinstance(behaviour, Drop):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"1000"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"messaging', "more_body": True})
            raise ConnectionAbortedError("fake Graph API: connection dropped on purpose")
        if isinstance(behaviour, Error):
            response: Any = JSONResponse(
                {
                    "error": {
                        "message": behaviour.message,
                        "type": "OAuthException",
                        "code": behaviour.code,
                        "fbtrace_id": "AbCdEf",
                    }
                },
                status_code=behaviour.http_status,
            )
        elif isinstance(behaviour, Http):
            response = JSONResponse("upstream trouble", status_code=behaviour.status)
        else:
            contact: dict[str, str] = (
                {"input": address}
                if payload.get("recipient_type") == "group"
                else {"input": address, "wa_id": address.lstrip("+")}
                if _is_phone(address)
                else {"input": address, "user_id": address}
            )
            response = JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [contact],
                    "messages": [{"id": wamid}],
                }
            )
        await response(scope, receive, send)

    async def _read(self, scope: Scope, request: Request, payload: dict[str, Any]) -> Any:
        """A mark-read (+ typing) call: recorded apart, {"success": true} unless down."""
        answer = "http:503" if self.down else "success"
        with self._lock:
            self.reads.append(
                Recorded(
                    at=time.monotonic(),
                    phone_number_id=scope["path_params"]["phone_number_id"],
                    authorization=request.headers.get("authorization", ""),
                    json=payload,
                    answer=answer,
                )
            )
        if self.read_latency_seconds:
            await asyncio.sleep(self.read_latency_seconds)
        if self.down:
            return JSONResponse("down", status_code=503)
        return JSONResponse({"success": True})

    async def _media_info(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        with self._lock:
            self.media_lookups[media_id] += 1
        item = self.media.get(media_id)
        if self.down:
            return JSONResponse("down", status_code=503)
        if item is None or media_id in self.expired:
            return JSONResponse(
                {
                    "error": {
                        "message": f"Unsupported get request. Object with ID '{media_id}' does "
                        "not exist, cannot be loaded due to missing permissions, or does not "
                        "support this operation",
                        "type": "GraphMethodException",
                        "code": 100,
                        "error_subcode": 33,
                        "fbtrace_id": "AbCdEf",
                    }
                },
                status_code=400,
            )
        digest = base64.b64encode(hashlib.sha256(item.content).digest()).decode()
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"http://127.0.0.1:{self.port}/media-bytes/{media_id}",
                "mime_type": item.mime_type,
                "sha256": item.sha256 or digest,
                "file_size": len(item.content),
                "id": media_id,
            }
        )

    async def _media_bytes(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        with self._lock:
            self.media_downloads[media_id] += 1
        if self.media_latency_seconds:
            await asyncio.sleep(self.media_latency_seconds)
        item = self.media.get(media_id)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Response(b"no token", status_code=401)
        if self.media_status != 200 or item is None:
            return Response(b"gone", status_code=self.media_status if item else 404)
        return Response(item.content, media_type=item.mime_type)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v21.0/{phone_number_id}/messages", _Endpoint(self), methods=["POST"]),
                Route("/v21.0/{media_id}", self._media_info, methods=["GET"]),
                Route("/media-bytes/{media_id}", self._media_bytes, methods=["GET"]),
            ]
        )

    # --- life cycle -----------------------------------------------------------------

    def start(self, port: int = 0) -> FakeGraphApi:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            log_level="critical",
            lifespan="off",
            ws="none",
            http="h11",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 60  # a condition's bound: a loaded machine starts late
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Graph API did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self.release_held.set()  # a held answer does not keep the server from stopping
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
            self._thread = None

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Endpoint:
    """A Route endpoint that is a plain ASGI app (so a drop can be simulated)."""

    def __init__(self, fake: FakeGraphApi) -> None:
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fake._messages(scope, receive, send)

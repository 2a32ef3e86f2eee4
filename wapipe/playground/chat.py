"""What the playground remembers and does: users, their chats, and both sides of Meta.

In memory only (a restart starts empty). Every change is published to the open
pages as a server-sent event: `user`, `message` (new or changed; pages upsert by
id) and `typing`; a page that (re)connects first gets a `snapshot`.

The user's side: a message typed in the page becomes the webhook `wapipe dev-send`
builds (wapipe.cli.dev_webhook), signed with the app secret and POSTed to the real
ingress. The business's side: what the sender POSTs to the Graph stand-in is
recorded as a message to that user, and its status webhooks go back to the ingress,
signed, in order: `sent` at once, `delivered` when a page has shown it, `read` when
the user had its chat open. A message's ticks show the last status the ingress
accepted (HTTP 200).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from wapipe.cli import DEV_DISPLAY_NUMBER, dev_webhook
from wapipe.log import get_logger
from wapipe.playground.graph import STATUS_ORDER, MarkRead, Send, new_wamid, status_webhook
from wapipe.playground.media import MediaItem, MediaStore
from wapipe.signature import sign

__all__ = ["ChatMessage", "Hub", "Playground", "User"]

log = get_logger("wapipe.playground")

TYPING_SECONDS = 25  # Meta drops the indicator after 25 s or at the next message
STATUS_ATTEMPTS = 3  # a status webhook the ingress did not take is posted this many times


@dataclass
class User:
    key: str  # how replies address the user: the phone number, else the BSUID
    name: str
    wa_id: str | None
    user_id: str | None
    username: str | None
    hidden: bool = False  # replaced by a reset: no longer listed

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "wa_id": self.wa_id,
            "user_id": self.user_id,
            "username": self.username,
            "hidden": self.hidden,
        }


@dataclass
class ChatMessage:
    id: str  # the wamid
    seq: int
    user: str  # User.key
    side: Literal["user", "business"]
    type: str
    content: dict[str, Any]  # the Graph API request (business) or the webhook message (user)
    at_ms: int
    # user side: sending, delivered (the ingress took it), read (marked read), failed
    # business side: accepted, then the last status webhook the ingress took
    status: str
    error: str = ""
    phone_number_id: str = ""
    callback_data: str | None = None
    # the stand-in's media this message shows (a user's photo, a reply's image id or own link)
    media: MediaItem | None = None
    # business side: the furthest status a page asked for, and a lock keeping them in order
    wanted: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "user": self.user,
            "side": self.side,
            "type": self.type,
            "content": self.content,
            "at": self.at_ms,
            "status": self.status,
            "error": self.error,
            "media": self.media.public() if self.media else None,
        }


class Hub:
    """The open event streams: each gets every event published after it subscribed."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self._queues.discard(queue)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        frame = sse_frame(event, data)
        for queue in self._queues:
            queue.put_nowait(frame)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        for queue in self._queues:
            queue.put_nowait(None)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


def sse_frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _now_ms() -> int:
    return int(time.time() * 1000)


class Playground:
    def __init__(self, webhook_url: str, app_secret: str, client: httpx.AsyncClient) -> None:
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.client = client
        self.hub = Hub()
        self.users: dict[str, User] = {}
        self.messages: dict[str, ChatMessage] = {}
        self.typing_until_ms: dict[str, int] = {}
        self.media = MediaStore()
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- state --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = _now_ms()
        return {
            "users": [u.public() for u in self.users.values()],
            "messages": [m.public() for m in self.messages.values()],
            "typing": {k: v for k, v in self.typing_until_ms.items() if v > now},
        }

    def new_user(
        self, kind: Literal["phone", "username"], name: str, replaces: str | None = None
    ) -> User:
        name = " ".join(name.split())[:40] or "Guest"
        if kind == "phone":
            wa_id = "25078" + "".join(secrets.choice("0123456789") for _ in range(7))
            user = User(wa_id, name, wa_id, None, None)
        else:
            bsuid = "RW." + "".join(secrets.choice("0123456789") for _ in range(16))
            handle = "".join(c for c in name.lower() if c.isalnum())[:20] or "guest"
            username = f"@{handle}.{secrets.randbelow(900) + 100}"
            user = User(bsuid, name, None, bsuid, username)
        self.users[user.key] = user
        old = self.users.get(replaces) if replaces else None
        if old is not None and old.key != user.key:
            old.hidden = True
            self.hub.publish("user", old.public())
        self.hub.publish("user", user.public())
        return user

    def _user_for(self, send: Send) -> User:
        """The user a send goes to; one the playground did not create is added (e.g. the
        replies to `wapipe dev-send`)."""
        key = send.address
        user = self.users.get(key)
        if user is None:
            if send.recipient:
                user = User(key, "Unknown user", None, key, None)
            else:
                user = User(key, f"+{key}", key, None, None)
            self.users[key] = user
            self.hub.publish("user", user.public())
        return user

    def _add(self, message: ChatMessage) -> ChatMessage:
        self.messages[message.id] = message
        self.hub.publish("message", message.public())
        return message

    def _changed(self, message: ChatMessage) -> None:
        self.hub.publish("message", message.public())

    def _set_typing(self, user: str, until_ms: int) -> None:
        if until_ms:
            self.typing_until_ms[user] = until_ms
        elif self.typing_until_ms.pop(user, None) is None:
            return
        self.hub.publish("typing", {"user": user, "until": until_ms})

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        self.hub.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the user's side: webhooks to the ingress ---------------------------------------

    async def user_sends_texts(self, user: User, texts: Iterable[str]) -> list[ChatMessage]:
        """Each text one webhook, posted one after the other without waiting for replies
        (a burst, in order)."""
        sent = []
        for text in texts:
            content = {"type": "text", "text": {"body": text}}
            sent.append(await self._post_user_message(user, content))
        return sent

    async def user_replies(
        self,
        user: User,
        kind: Literal["button_reply", "list_reply"],
        reply: dict[str, str],
        to_message: str,
    ) -> ChatMessage:
        """A tap on a reply button or a list row of the business message `to_message`."""
        content = {
            "type": "interactive",
            "interactive": {"type": kind, kind: reply},
            "context": {"from": DEV_DISPLAY_NUMBER, "id": to_message},
        }
        return await self._post_user_message(user, content)

    async def user_sends_photo(
        self, user: User, content: bytes, mime_type: str, caption: str = ""
    ) -> ChatMessage:
        """A photo: kept by the stand-in under a fresh media id, announced by an `image`
        webhook (id, mime_type, sha256, caption) that the worker fetches as from Meta."""
        item = self.media.add(content, mime_type)
        image = {"id": item.id, "mime_type": mime_type, "sha256": item.sha256_base64}
        if caption:
            image["caption"] = caption
        return await self._post_user_message(user, None, image=image, media=item)

    async def _post_user_message(
        self,
        user: User,
        content: dict[str, Any] | None,
        *,
        image: dict[str, str] | None = None,
        media: MediaItem | None = None,
    ) -> ChatMessage:
        body = dev_webhook(
            "",
            user.wa_id,
            user_id=user.user_id,
            username=user.username,
            name=user.name,
            message=content,
            image=image,
        )
        sent = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]
        message = self._add(
            ChatMessage(
                id=sent["id"],
                seq=next(self._seq),
                user=user.key,
                side="user",
                type=sent["type"],
                content=sent,
                at_ms=_now_ms(),
                status="sending",
                media=media,
            )
        )
        ok, detail = await self._post_webhook(body)
        if message.status == "sending":  # a mark-read may have come first
            message.status = "delivered" if ok else "failed"
        message.error = "" if ok else detail
        self._changed(message)
        log.info("playground_webhook_posted", kind="message", ok=ok)
        return message

    async def _post_webhook(self, body: bytes) -> tuple[bool, str]:
        """POST signed; (True, "") on 200, else (False, a short reason)."""
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, self.app_secret),
        }
        try:
            response = await self.client.post(self.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return False, f"cannot reach the ingress at {self.webhook_url}: {type(exc).__name__}"
        if response.status_code == 200:
            return True, ""
        return False, f"HTTP {response.status_code}: {response.text.strip()[:200]}"

    # -- the business's side: the Graph stand-in ----------------------------------------

    def business_sends(self, send: Send, phone_number_id: str, netloc: str = "") -> ChatMessage:
        """Record an accepted send; its `sent` status webhook follows. An image (or sticker)
        by id of the stand-in's media, or by a link to its own download URL (`netloc` is the
        stand-in's host:port), shows those bytes; anything else stays a card."""
        user = self._user_for(send)
        media = None
        source = send.payload.get(send.message_type)
        if send.message_type in ("image", "sticker") and isinstance(source, dict):
            media_id, link = source.get("id"), source.get("link")
            if isinstance(media_id, str):
                media = self.media.get(media_id)
            elif isinstance(link, str) and netloc:
                own = self.media.own_media_id(link, netloc)
                media = self.media.get(own) if own else None
        self._set_typing(user.key, 0)
        message = self._add(
            ChatMessage(
                id=new_wamid(),
                seq=next(self._seq),
                user=user.key,
                side="business",
                type=send.message_type,
                content=send.payload,
                at_ms=_now_ms(),
                status="accepted",
                phone_number_id=phone_number_id,
                callback_data=send.callback_data,
                media=media,
                wanted=1,
            )
        )
        return message

    def mark_read(self, request: MarkRead) -> None:
        """The business read a user's message (and, maybe, is typing): blue ticks on it and
        every earlier message of that user; "typing…" for up to 25 s."""
        target = self.messages.get(request.message_id)
        if target is None or target.side != "user":
            return  # Meta answers success for any message it knows; unknown here: ignored
        for message in self.messages.values():
            if (
                message.user == target.user
                and message.side == "user"
                and message.seq <= target.seq
                and message.status in ("sending", "delivered")
            ):
                message.status = "read"
                self._changed(message)
        if request.typing:
            self._set_typing(target.user, _now_ms() + TYPING_SECONDS * 1000)

    def receipt(self, ids: Iterable[str], status: str) -> int:
        """A page showed these business messages (delivered) or the user saw them (read)."""
        level = STATUS_ORDER.index(status) + 1
        count = 0
        for wamid in ids:
            message = self.messages.get(wamid)
            if message is None or message.side != "business" or message.wanted >= level:
                continue
            message.wanted = level
            self.advance_statuses(message)
            count += 1
        return count

    def advance_statuses(self, message: ChatMessage) -> None:
        self._spawn(self._advance(message))

    async def _advance(self, message: ChatMessage) -> None:
        """Post the status webhooks between the last one the ingress took and the one
        wanted, in order; one refused three times stops the line (ticks stay)."""
        async with message.lock:
            user = self.users[message.user]
            while True:
                done = (
                    STATUS_ORDER.index(message.status) + 1 if message.status in STATUS_ORDER else 0
                )
                if done >= message.wanted:
                    return
                status = STATUS_ORDER[done]
                body = json.dumps(
                    status_webhook(
                        message.id,
                        status,
                        phone_number_id=message.phone_number_id,
                        display_phone_number=DEV_DISPLAY_NUMBER,
                        wa_id=user.wa_id,
                        user_id=user.user_id,
                        name=user.name,
                        username=user.username,
                        callback_data=message.callback_data,
                    ),
                    separators=(",", ":"),
                ).encode()
                ok, detail = False, ""
                for attempt in range(STATUS_ATTEMPTS):
                    ok, detail = await self._post_webhook(body)
                    if ok:
                        break
                    await asyncio.sleep(0.5 * (attempt + 1))
                log.info("playground_webhook_posted", kind="status", status=status, ok=ok)
                if not ok:
                    message.error = f"status {status}: {detail}"
                    self._changed(message)
                    return
                message.status = status
                message.error = ""
                self._changed(message)

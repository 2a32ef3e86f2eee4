"""The Graph API stand-in's media: ids with their bytes, kept in memory.

The Cloud API way, which the worker's own fetch code (worker/media.py, worker/graph.py)
follows:

- `GET /{version}/{media_id}` with the bearer token answers
  `{"messaging_product": "whatsapp", "url", "mime_type", "sha256", "file_size", "id"}`;
  the URL points back at the stand-in (`/whatsapp_business/attachments/?mid=&ext=&hash=`,
  shaped like Meta's lookaside URLs) and expires after `URL_TTL_SECONDS` (Meta's live
  for minutes); an unknown id is 404 with Meta's error object (code 100, subcode 33);
- `GET` of that URL needs the same bearer token that looked it up and answers the bytes
  with their Content-Type; an expired or altered URL is 403 ("URL signature expired"),
  so a client looks the id up again;
- `POST /{version}/{phone_number_id}/media` (multipart: `messaging_product`, `type`,
  `file`) answers `{"id": …}`: an agent can reply with an uploaded image's id.

The user's photos from the chat page are kept here too: their webhook carries the id.
At most `MAX_ITEMS` files / `MAX_TOTAL_BYTES` are kept; the oldest go first.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from wapipe.playground.graph import GraphRequestError

__all__ = [
    "ATTACHMENTS_PATH",
    "IMAGE_TYPES",
    "MAX_ITEMS",
    "URL_TTL_SECONDS",
    "MediaItem",
    "MediaStore",
    "Upload",
    "parse_upload",
    "sniff_image",
]

URL_TTL_SECONDS = 300  # Meta's media URLs live for about five minutes
ATTACHMENTS_PATH = "/whatsapp_business/attachments/"
MAX_ITEMS = 200
MAX_TOTAL_BYTES = 64 * 1024 * 1024
# The Cloud API's upload limits by media family (developers.facebook.com: supported media).
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
SUPPORTED_TYPES: dict[str, int] = {
    "image/jpeg": 5 * 1024 * 1024,
    "image/png": 5 * 1024 * 1024,
    "image/webp": 500 * 1024,  # stickers
    "audio/aac": 16 * 1024 * 1024,
    "audio/amr": 16 * 1024 * 1024,
    "audio/mpeg": 16 * 1024 * 1024,
    "audio/mp4": 16 * 1024 * 1024,
    "audio/ogg": 16 * 1024 * 1024,
    "video/mp4": 16 * 1024 * 1024,
    "video/3gpp": 16 * 1024 * 1024,
    "text/plain": 16 * 1024 * 1024,  # documents: 100 MB at Meta, 16 MB here (memory)
    "application/pdf": 16 * 1024 * 1024,
}
MAX_UPLOAD_BYTES = max(SUPPORTED_TYPES.values())
UPLOAD_ERROR = 131053  # Meta: "Media upload error"


@dataclass(frozen=True)
class MediaItem:
    id: str
    content: bytes
    mime_type: str

    @property
    def sha256_hex(self) -> str:
        """As GET /{media_id} gives it."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def sha256_base64(self) -> str:
        """As a media webhook gives it."""
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode()

    def public(self) -> dict[str, Any]:
        """What the chat page is told (never the bytes)."""
        return {"id": self.id, "mime_type": self.mime_type, "size": len(self.content)}


def sniff_image(content: bytes) -> str | None:
    """image/png or image/jpeg from the bytes' signature; None for anything else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


class MediaStore:
    """Media ids -> bytes, and the signed download URLs the stand-in hands out."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # tests move it past a URL's expiry
        self._items: OrderedDict[str, MediaItem] = OrderedDict()
        self._key = secrets.token_bytes(32)
        self._total = 0

    def add(self, content: bytes, mime_type: str) -> MediaItem:
        # numeric, 15-16 digits, like Meta's media ids
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        item = MediaItem(media_id, content, mime_type)
        self._items[media_id] = item
        self._total += len(content)
        while len(self._items) > MAX_ITEMS or (
            self._total > MAX_TOTAL_BYTES and len(self._items) > 1
        ):
            _, oldest = self._items.popitem(last=False)
            self._total -= len(oldest.content)
        return item

    def get(self, media_id: str) -> MediaItem | None:
        return self._items.get(media_id)

    def __len__(self) -> int:
        return len(self._items)

    # -- the Cloud API's answers -------------------------------------------------------

    def info(self, item: MediaItem, base_url: str, access_token: str) -> dict[str, Any]:
        """The answer to GET /{media_id}: a download URL good for URL_TTL_SECONDS, for the
        holder of this access token."""
        expires = int(self.clock()) + URL_TTL_SECONDS
        query = {
            "mid": item.id,
            "ext": str(expires),
            "hash": self._signature(item.id, expires, access_token),
        }
        return {
            "messaging_product": "whatsapp",
            "url": f"{base_url.rstrip('/')}{ATTACHMENTS_PATH}?{urlencode(query)}",
            "mime_type": item.mime_type,
            "sha256": item.sha256_hex,
            "file_size": len(item.content),
            "id": item.id,
        }

    def download(self, query: dict[str, str], access_token: str) -> MediaItem:
        """The item a download URL names; GraphRequestError (403) when the URL expired or
        is not one handed to this token, (404) when the media is gone."""
        mid = query.get("mid", "")
        try:
            expires = int(query.get("ext", ""))
        except ValueError:
            raise GraphRequestError("URL signature mismatch", code=100, http_status=403) from None
        expected = self._signature(mid, expires, access_token)
        if not hmac.compare_digest(expected, query.get("hash", "")):
            raise GraphRequestError("URL signature mismatch", code=100, http_status=403)
        if self.clock() > expires:
            raise GraphRequestError("URL signature expired", code=100, http_status=403)
        item = self._items.get(mid)
        if item is None:
            raise GraphRequestError("Media not found", code=100, http_status=404)
        return item

    def own_media_id(self, link: str, netloc: str) -> str | None:
        """The media id of a link that points at this stand-in's own download URL (an agent
        may send `image.link` with one), else None: external links are never fetched."""
        parts = urlsplit(link)
        if parts.scheme != "http" or parts.netloc != netloc or parts.path != ATTACHMENTS_PATH:
            return None
        mid = parse_qs(parts.query).get("mid", [""])[0]
        return mid if mid in self._items else None

    def _signature(self, media_id: str, expires: int, access_token: str) -> str:
        token_digest = hashlib.sha256(access_token.encode()).hexdigest()
        message = f"{media_id}:{expires}:{token_digest}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Upload:
    content: bytes
    mime_type: str


def parse_upload(content_type: str, body: bytes) -> Upload:
    """A `POST /{phone_number_id}/media` body (multipart/form-data: messaging_product,
    type, file) as an Upload; GraphRequestError as the Cloud API refuses it."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise GraphRequestError("(#100) The request must be multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, tuple[bytes, str | None]] = {}
    if message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                part_type = part.get("content-type")
                fields[name] = (payload, part.get_content_type() if part_type else None)
    if fields.get("messaging_product", (b"", None))[0].decode(errors="replace") != "whatsapp":
        raise GraphRequestError("(#100) The parameter messaging_product is required.")
    if "file" not in fields:
        raise GraphRequestError("(#100) The parameter file is required.")
    content, part_type = fields["file"]
    declared = fields.get("type", (b"", None))[0].decode(errors="replace").strip().lower()
    mime_type = declared or (part_type or "")
    limit = SUPPORTED_TYPES.get(mime_type)
    if limit is None:
        choices = ", ".join(sorted(SUPPORTED_TYPES))
        raise GraphRequestError(
            f"(#{UPLOAD_ERROR}) Param type must be a supported media type: {choices}",
            code=UPLOAD_ERROR,
        )
    if not content:
        raise GraphRequestError(f"(#{UPLOAD_ERROR}) The file is empty", code=UPLOAD_ERROR)
    if len(content) > limit:
        raise GraphRequestError(
            f"(#{UPLOAD_ERROR}) {mime_type} files are limited to {limit} bytes",
            code=UPLOAD_ERROR,
        )
    if mime_type in IMAGE_TYPES and sniff_image(content) != mime_type:
        raise GraphRequestError(f"(#{UPLOAD_ERROR}) The file is not {mime_type}", code=UPLOAD_ERROR)
    return Upload(content, mime_type)

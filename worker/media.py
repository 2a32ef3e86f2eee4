"""Media the agent can see (issue 16, point 2).

For an image, audio (voice notes are audio with voice = true), video, document or
sticker message the handler asks `MediaFetcher.prepare(msg, service)` before the
agent call. The bytes are fetched once per message and kept in PostgreSQL
(wapipe.media, migration 0024; README "Media" says why and what it costs):

1. wapipe.claim_media: the message's media row, held under a lease by one worker
   at a time. Another worker that needs the same row waits for it (polling
   within the lease) instead of downloading it again; a row already stored
   (a retry, another worker) is used as it is.
2. Under the `whatsapp-media` breaker (kind media) and the media timeout class:
   media id -> URL (GET {api}/{media_id} with the access token; a URL already in
   the webhook is used directly) -> download with the token, read up to
   `max_bytes`. A file declared or found larger is recorded `oversize`: described
   to the agent, not downloaded. The sha256 Meta gives (hex or base64) must match.
3. wapipe.store_media keeps the bytes; cleanup_media purges them with the
   message retention (media.retention_days, 7).

Failures: an expired or unknown media id (HTTP 404/410, Meta codes 100, 131052,
131053) is `media_expired`, dead-lettered without retries; anything else is
`media_download_failed`, retried with backoff like an agent failure (and then
dead-lettered with that reason). While the media breaker is open nothing is
downloaded and no attempt is spent: the message waits for the breaker like a message
whose agent is down (MediaUnavailable -> wapipe.defer_message, waiting_for = the
breaker; it comes back at the breaker's next trial or when it closes, and after
retry.max_wait_seconds it is a dead letter, service_unavailable_too_long).

The agent gets a descriptor (type, mime_type, size, sha256, caption, filename,
status) and `url`: a signed, expiring URL of the ingress (wapipe.media_url) that
never exposes the business's token; `python` agents also get the bytes, and so does
the request builder of a multimodal `openai` service for audio (worker.agents:
input_audio for wav/mp3, a text part with the URL for other formats).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from wapipe import db, queries
from wapipe.log import get_logger
from wapipe.media_url import signed_url, signing_key
from wapipe.settings import Settings
from worker.config import MediaConfig, ServiceConfig
from worker.errors import MessageProcessingError, ServiceUnavailable, StoreUnavailable
from worker.graph import GraphCalls, MediaFetchError, MediaInfo, MediaTooLarge, mask_recipient
from worker.metrics import WorkerMetrics
from worker.store import ClaimedMessage
from worker.typing_indicator import graph_calls_enabled

log = get_logger("worker.media")

MEDIA_TYPES = frozenset({"image", "audio", "voice", "video", "document", "sticker"})
# How long a worker waits for another worker's download of the same media at most
# between two looks, and the lease it takes for its own.
WAIT_STEP_SECONDS = 0.5

# breaker_configure's policy arguments left to the stored defaults
_DEFAULT_POLICY: dict[str, Any] = dict.fromkeys(
    ("failure_rate", "open_seconds", "window_seconds", "min_calls", "half_open_calls")
)


class MediaExpired(MessageProcessingError):
    """The media id is expired or unknown: no retry can fetch it."""

    default_code = "media_expired"


class MediaDownloadFailed(MessageProcessingError):
    """The download failed for a reason that may pass: retried with backoff."""

    default_code = "media_download_failed"


class MediaUnavailable(ServiceUnavailable):
    """The media breaker is open: nothing was downloaded, so no attempt is spent; the
    message waits for the breaker (the handler defers it)."""

    default_code = "media_breaker_open"

    def __init__(self, breaker: str) -> None:
        super().__init__(f"{breaker} breaker open", context={"service": breaker})
        self.breaker = breaker


@dataclass(frozen=True)
class MediaDescriptor:
    id: int
    type: str
    status: str  # stored | oversize
    mime_type: str | None
    size: int | None
    sha256: str | None
    caption: str | None
    filename: str | None
    url: str | None
    content: bytes | None = None  # for in-process (`python`) agents only

    def as_json(self) -> dict[str, Any]:
        """What the agent request carries as `media` (never the bytes)."""
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "mime_type": self.mime_type,
            "size": self.size,
            "sha256": self.sha256,
            "caption": self.caption,
            "filename": self.filename,
            "url": self.url,
        }


def media_source(msg: ClaimedMessage) -> dict[str, Any] | None:
    """The message's media object ({"id", "mime_type", "sha256", "caption", ...}), if any."""
    if msg.message_type not in MEDIA_TYPES:
        return None
    source = msg.payload.get(msg.message_type)
    if not isinstance(source, dict) and msg.message_type == "voice":
        source = msg.payload.get("audio")
    return source if isinstance(source, dict) else None


def sha256_matches(expected: str | None, content: bytes) -> bool | None:
    """Does Meta's sha256 (hex or base64 of the 32-byte digest) match the bytes? None when
    the value given is not a sha256 digest at all (nothing to check against)."""
    if not expected:
        return None
    digest = hashlib.sha256(content).digest()
    value = expected.strip()
    if len(value) == 64:
        try:
            return bytes.fromhex(value) == digest
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    return decoded == digest if len(decoded) == 32 else None


class MediaFetcher:
    def __init__(
        self,
        calls: GraphCalls | None,
        pool: AsyncConnectionPool[Any],
        config: MediaConfig,
        worker_id: str,
        *,
        key: bytes | None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.calls = calls
        self.pool = pool
        self.config = config
        self.worker_id = worker_id
        self.key = key
        self.metrics = metrics or WorkerMetrics()
        self.lease_seconds = 60
        self._breaker_configured = False

    @classmethod
    def create(
        cls,
        settings: Settings,
        config: MediaConfig,
        pool: AsyncConnectionPool[Any],
        metrics: WorkerMetrics,
        worker_id: str,
    ) -> MediaFetcher:
        calls = (
            GraphCalls(settings.api_url, settings.access_token or "dry-run")
            if config.enabled and graph_calls_enabled(settings)
            else None
        )
        key = signing_key(settings.app_secrets, explicit_key=settings.media_signing_key)
        return cls(calls, pool, config, worker_id, key=key, metrics=metrics)

    async def aclose(self) -> None:
        if self.calls is not None:
            await self.calls.aclose()

    # -- the handler's one call ------------------------------------------------------

    async def prepare(
        self, msg: ClaimedMessage, service: ServiceConfig | None = None
    ) -> MediaDescriptor | None:
        """The message's media, stored (or described when oversize); None for a message
        without media or with media off. MediaExpired / MediaDownloadFailed on failure;
        MediaUnavailable while the media breaker is open (nothing fetched)."""
        source = media_source(msg)
        if source is None or self.calls is None:
            return None
        want_bytes = service is not None and (
            service.in_process
            # a multimodal openai service gets wav/mp3 audio as an input_audio part
            or (
                service.protocol == "openai"
                and service.multimodal
                and msg.message_type in ("audio", "voice")
            )
        )
        deadline = time.monotonic() + self.lease_seconds + self.config.timeout_seconds
        while True:
            row = await self._one(
                queries.CLAIM_MEDIA,
                {
                    "wamid": msg.wamid,
                    "phone_number_id": msg.phone_number_id,
                    "media_type": msg.message_type,
                    "source": Jsonb(source),
                    "worker_id": self.worker_id,
                    "lease_seconds": self.lease_seconds,
                },
            )
            media_id, status, claimed, mime, size, sha, error, wait_ms = row
            if claimed:
                return await self._fetch(msg, int(media_id), source, want_bytes)
            if status == "stored":
                self.metrics.media_fetches.labels("cached").inc()
                content = await self._content(int(media_id)) if want_bytes else None
                return self._descriptor(
                    msg, int(media_id), source, "stored", mime, size, sha, content
                )
            if status == "oversize":
                return self._descriptor(msg, int(media_id), source, "oversize", mime, size, None)
            if status == "gone":
                raise MediaExpired(f"media expired or unknown: {error}", retryable=False)
            # another worker is downloading it: wait for its outcome, not a second download
            if time.monotonic() > deadline:
                raise MediaDownloadFailed("waited too long for another worker's download")
            await asyncio.sleep(min(max(int(wait_ms), 1) / 1000, WAIT_STEP_SECONDS))

    # -- download --------------------------------------------------------------------

    async def _fetch(
        self, msg: ClaimedMessage, media_id: int, source: dict[str, Any], want_bytes: bool
    ) -> MediaDescriptor:
        assert self.calls is not None
        await self._configure_breaker()
        state = await self._scalar(queries.BREAKER_ALLOW, {"name": self.config.breaker_name})
        if state == "open":
            self.metrics.media_fetches.labels("breaker_open").inc()
            await self._fail(media_id, "failed", "media breaker open")
            raise MediaUnavailable(self.config.breaker_name)
        started = time.monotonic()
        declared = source.get("file_size")
        mime = source.get("mime_type") if isinstance(source.get("mime_type"), str) else None
        expected_sha = source.get("sha256") if isinstance(source.get("sha256"), str) else None
        try:
            content, info = await self._download(source, declared)
            if info is not None:
                mime = info.mime_type or mime
                expected_sha = info.sha256 or expected_sha
            if sha256_matches(expected_sha, content) is False:
                raise MediaFetchError("sha256 does not match the one Meta gave", http_status=200)
        except MediaTooLarge as exc:
            await self._fail(media_id, "oversize", str(exc), exc.size, mime)
            await self._breaker(True, started, None)
            self.metrics.media_fetches.labels("oversize").inc()
            self._log("media_oversize", msg, media_id, size=exc.size)
            return self._descriptor(msg, media_id, source, "oversize", mime, exc.size, None)
        except MediaFetchError as exc:
            outcome = "gone" if exc.gone else "failed"
            await self._fail(media_id, outcome, str(exc))
            await self._breaker(not exc.breaker_failure, started, str(exc))
            self.metrics.media_fetches.labels(outcome).inc()
            if exc.gone:
                raise MediaExpired(str(exc), retryable=False) from exc
            raise MediaDownloadFailed(str(exc)) from exc
        size = await self._scalar(
            queries.STORE_MEDIA,
            {
                "media_id": media_id,
                "worker_id": self.worker_id,
                "content": content,
                "mime_type": mime,
            },
        )
        took = time.monotonic() - started
        await self._breaker(True, started, None)
        self.metrics.media_fetches.labels("stored").inc()
        self.metrics.media_bytes.inc(len(content))
        self.metrics.media_fetch_seconds.observe(took)
        self._log("media_stored", msg, media_id, size=size, duration_ms=int(took * 1000))
        return self._descriptor(
            msg,
            media_id,
            source,
            "stored",
            mime,
            int(size),
            hashlib.sha256(content).hexdigest(),
            content if want_bytes else None,
        )

    async def _download(
        self, source: dict[str, Any], declared: Any
    ) -> tuple[bytes, MediaInfo | None]:
        """Bytes and, when looked up, what Meta says of them. A webhook URL is tried first;
        when it no longer works the media id gives a fresh one."""
        assert self.calls is not None
        cfg = self.config
        if isinstance(declared, int) and declared > cfg.max_bytes:
            raise MediaTooLarge(declared)
        url = source.get("url") if isinstance(source.get("url"), str) else None
        media_id = source.get("id")
        if url:
            try:
                return await self.calls.download(url, cfg.max_bytes, cfg.timeout_seconds), None
            except MediaFetchError as exc:
                if not media_id or exc.http_status is None or exc.http_status >= 500:
                    raise
        if not isinstance(media_id, str) or not media_id:
            raise MediaFetchError("the message has neither a media id nor a URL", gone=True)
        info = await self.calls.media_info(media_id, cfg.timeout_seconds)
        if info.file_size is not None and info.file_size > cfg.max_bytes:
            raise MediaTooLarge(info.file_size)
        return await self.calls.download(info.url, cfg.max_bytes, cfg.timeout_seconds), info

    # -- what the agent gets ---------------------------------------------------------

    def _descriptor(
        self,
        msg: ClaimedMessage,
        media_id: int,
        source: dict[str, Any],
        status: str,
        mime: str | None,
        size: int | None,
        sha: str | None,
        content: bytes | None = None,
    ) -> MediaDescriptor:
        url = (
            signed_url(self.config.public_url, self.key, media_id, self.config.url_ttl_seconds)
            if status == "stored" and self.key is not None
            else None
        )
        caption = source.get("caption")
        filename = source.get("filename")
        return MediaDescriptor(
            id=media_id,
            type="voice" if source.get("voice") is True else msg.message_type,
            status=status,
            mime_type=mime,
            size=int(size) if size is not None else None,
            sha256=sha,
            caption=caption if isinstance(caption, str) else None,
            filename=filename if isinstance(filename, str) else None,
            url=url,
            content=content,
        )

    # -- database --------------------------------------------------------------------

    async def _rows(self, sql: LiteralString, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # once: a media call that cannot reach the database fails the message's attempt
        return await db.call(self.pool, sql, params, retry=db.ONCE)

    async def _one(self, sql: LiteralString, params: dict[str, Any]) -> tuple[Any, ...]:
        rows = await self._rows(sql, params)
        assert rows, "the media functions return one row"
        return rows[0]

    async def _scalar(self, sql: LiteralString, params: dict[str, Any]) -> Any:
        return (await self._one(sql, params))[0]

    async def _content(self, media_id: int) -> bytes | None:
        rows = await self._rows(queries.MEDIA_CONTENT, {"media_id": media_id})
        return bytes(rows[0][0]) if rows else None

    async def _fail(
        self,
        media_id: int,
        outcome: str,
        error: str,
        size: int | None = None,
        mime: str | None = None,
    ) -> None:
        await self._rows(
            queries.FAIL_MEDIA,
            {
                "media_id": media_id,
                "worker_id": self.worker_id,
                "outcome": outcome,
                "error": error,
                "size_bytes": size,
                "mime_type": mime,
            },
        )

    async def _configure_breaker(self) -> None:
        if not self._breaker_configured:
            await self._rows(
                queries.BREAKER_CONFIGURE,
                {"name": self.config.breaker_name, "kind": "media"} | _DEFAULT_POLICY,
            )
            self._breaker_configured = True

    async def _breaker(self, ok: bool, started: float, error: str | None) -> None:
        try:
            await self._rows(
                queries.BREAKER_RECORD,
                {
                    "name": self.config.breaker_name,
                    "ok": ok,
                    "duration_ms": int((time.monotonic() - started) * 1000),
                    "endpoint": "/{media_id}",
                    "error": error,
                },
            )
        except StoreUnavailable:
            log.warning("breaker_record_failed", service=self.config.breaker_name)

    def _log(self, event: str, msg: ClaimedMessage, media_id: int, **fields: Any) -> None:
        log.info(
            event,
            msg_id=msg.msg_id,
            media_id=media_id,
            media_type=msg.message_type,
            user=mask_recipient(msg.user),
            **fields,
        )

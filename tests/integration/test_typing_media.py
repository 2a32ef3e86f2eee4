"""Issue 16: read receipt + typing indicator, and media the agent can see.

Real PostgreSQL, the fake Graph API as a real server, in-process workers (the
`python` protocol agents below record what they were given). No timed assertions:
calls are counted; waits only bound how long a test may take.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from ingress.app import create_app
from tests.fakes import MIN_WAIT_SECONDS, end_open_period, fast_retries, ingest, scalar
from tests.fakes.agent_server import FakeAgent
from tests.fakes.graph_api import FakeGraphApi
from tests.payloads import text_message
from wapipe.media_url import signed_url, signing_key
from wapipe.settings import Settings
from worker.agents import AgentRequest, call_agent
from worker.config import (
    PYTHON_ENDPOINT_PREFIX,
    MediaConfig,
    ServiceConfig,
    TypingConfig,
    WorkerConfig,
)
from worker.media import MediaExpired, MediaFetcher, sha256_matches
from worker.metrics import WorkerMetrics
from worker.runner import Worker
from worker.store import ClaimedMessage

with warnings.catch_warnings():
    # starlette's testclient touches an alias anyio deprecates (import time only)
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

SECRET = "media-test-secret"
SEEN: list[AgentRequest] = []
AGENT_SECONDS = {"value": 0.0}
# when set, the agent answers only once this holds (a thinking LLM whose call lasts until
# the test has seen what it waits for: a condition, not a duration)
AGENT_UNTIL: dict[str, Callable[[], bool] | None] = {"value": None}


async def recording_agent(request: AgentRequest) -> dict[str, Any]:
    """Records the request; takes AGENT_SECONDS to answer, or until AGENT_UNTIL holds."""
    SEEN.append(request)
    if AGENT_SECONDS["value"]:
        await asyncio.sleep(AGENT_SECONDS["value"])
    until = AGENT_UNTIL["value"]
    if until is not None:
        deadline = time.monotonic() + 60
        while not until():
            if time.monotonic() > deadline:
                raise RuntimeError("the condition the agent waits for never came")
            await asyncio.sleep(0.05)
    return {"reply": f"seen: {request.text}"}


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraphApi]:
    fake = FakeGraphApi().start()
    monkeypatch.setenv("WHATSAPP_API_URL", fake.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "test-token")
    monkeypatch.setenv("WHATSAPP_APP_SECRET", SECRET)
    monkeypatch.setenv("WAPIPE_SEND_RATE_PER_SECOND", "1000")
    SEEN.clear()
    AGENT_SECONDS["value"] = 0.0
    AGENT_UNTIL["value"] = None
    yield fake
    fake.stop()


def _config(**typing: float) -> WorkerConfig:
    return WorkerConfig(
        services=(
            ServiceConfig(
                name="rec",
                protocol="python",
                endpoints=(f"{PYTHON_ENDPOINT_PREFIX}tests.integration.test_typing_media:recording_agent",),
            ),
        ),
        default_agent="rec",
        concurrency=4,
        batch=4,
        poll_interval_seconds=0.2,
        typing=TypingConfig(**typing),
        media=MediaConfig(public_url="http://media.test"),
    )


def image_message(wa_id: str, media_id: str, caption: str = "look") -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.test.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "image",
        "image": {"id": media_id, "mime_type": "image/jpeg", "caption": caption},
    }


def _status(conn: psycopg.Connection[Any], wamid: str) -> str | None:
    value = scalar(conn, "SELECT status FROM wapipe.processed_messages WHERE wamid = %s", wamid)
    return None if value is None else str(value)


async def _until(check: Callable[[], Any], timeout: float = MIN_WAIT_SECONDS) -> Any:
    """`check`'s first truthy value, polled; its last value after `timeout` (a condition's
    bound, generous for a loaded machine: it only makes a failing run longer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    return check()


def _with_worker(
    db_url: str, config: WorkerConfig, body: Callable[[Worker], Awaitable[None]], n: int = 1
) -> None:
    async def main() -> None:
        workers = [Worker(config, db_url, health_checks=False) for _ in range(n)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            await body(workers[0])
        finally:
            for w in workers:
                w.request_stop()
            await asyncio.gather(*tasks)

    asyncio.run(main())


def _done(conn: psycopg.Connection[Any], wamid: str) -> Callable[[], bool]:
    return lambda: _status(conn, wamid) in ("done", "dead")


def _typing_idle(worker: Worker) -> Callable[[], bool]:
    """No typing call in flight: a stopped turn starts none, so counts are final."""
    return lambda: not worker.typing._tasks


# -- typing ------------------------------------------------------------------------------


def test_typing_once_per_turn_before_the_reply(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    msg = text_message("250788000001", "hello")
    AGENT_SECONDS["value"] = 0.3

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"])), "not handled"
        assert await _until(_typing_idle(worker)), "a typing call still running"

    _with_worker(db_url, _config(), body)
    calls = graph.read_calls(msg["id"])
    assert len(calls) == 1, "one read + typing call for the turn"
    assert calls[0].json == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": msg["id"],
        "typing_indicator": {"type": "text"},
    }
    assert calls[0].authorization == "Bearer test-token"
    assert _status(conn, msg["id"]) == "done"
    assert graph.requests == [], "no send: the typing call is not a message"


def test_typing_refreshed_during_a_long_agent_call_never_after(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    msg = text_message("250788000002", "think hard")
    # the agent thinks until the first call and two refreshes (every 0.5 s) have arrived:
    # without refreshes it never answers and the test fails
    AGENT_UNTIL["value"] = lambda: len(graph.read_calls(msg["id"])) >= 3
    after: list[int] = []

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"]), timeout=90), "not handled"
        assert await _until(_typing_idle(worker)), "a typing call still running"
        after.append(len(graph.read_calls(msg["id"])))
        await asyncio.sleep(1.5)  # three refresh intervals: a refresh after the reply shows
        after.append(len(graph.read_calls(msg["id"])))

    _with_worker(db_url, _config(refresh_seconds=0.5), body)
    assert after[0] >= 3, f"refreshed while the agent worked: {after[0]} calls"
    # paced, never a burst: each refresh leaves refresh_seconds after the previous call's
    # answer, so arrivals are at least that far apart (a slow machine only widens the gaps;
    # a count's upper bound was a timed assertion: a slow completion meant more refreshes)
    arrivals = [c.at for c in graph.read_calls(msg["id"])]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(arrivals)]
    assert all(g >= 0.45 for g in gaps), f"typing calls closer than refresh_seconds: {gaps}"
    assert after[1] == after[0], "no typing call once the reply was queued"


def test_graph_down_or_slow_never_holds_the_reply(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    down = text_message("250788000003", "anyone?")
    slow = text_message("250788000004", "hello?")
    metrics: list[WorkerMetrics] = []

    async def body(worker: Worker) -> None:
        metrics.append(worker.metrics)
        graph.down = True
        await asyncio.to_thread(ingest, conn, [down])
        assert await _until(_done(conn, down["id"])), "not handled while Graph is down"
        # The typing call runs beside the agent call and may reach Graph after the reply is
        # queued: bring Graph back only once it has been refused (CI saw it arrive late).
        assert await _until(lambda: graph.read_calls(down["id"])), "no typing call while down"
        graph.down = False
        graph.read_latency_seconds = 20  # longer than the typing budget (15 s)
        await asyncio.to_thread(ingest, conn, [slow])
        assert await _until(_done(conn, slow["id"])), "not handled while Graph is slow"
        await _until(lambda: _sample(metrics[0], "timeout") >= 1, timeout=90)

    # a budget a loaded CI machine keeps for a call that is merely refused (0.3 s was not;
    # 5 s, the default, left a stalled machine a chance to count the refusal a timeout)
    _with_worker(db_url, _config(timeout_seconds=15), body)
    for m in (down, slow):
        assert _status(conn, m["id"]) == "done"
        reply = scalar(
            conn, "SELECT body->'text'->>'body' FROM wapipe.outbox WHERE source_key = %s", m["id"]
        )
        assert reply == f"seen: {m['text']['body']}", "the reply is queued all the same"
    assert [c.answer for c in graph.read_calls(down["id"])] == ["http:503"]
    assert _sample(metrics[0], "failed") == 1
    assert _sample(metrics[0], "timeout") == 1
    attempts = scalar(conn, "SELECT max(attempts) FROM wapipe.processed_messages")
    assert attempts == 1, "no retry because of the typing call"


def test_typing_off_for_a_service_and_for_rate_limited_or_revoked(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    import dataclasses

    config = _config()
    off = dataclasses.replace(
        config, services=(dataclasses.replace(config.services[0], typing=False),)
    )
    msg = text_message("250788000005", "quiet please")

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"]))

    _with_worker(db_url, off, body)
    assert graph.read_calls() == []

    limited = dataclasses.replace(config, rate_limit_max=1)
    first, second = text_message("250788000006", "a"), text_message("250788000006", "b")

    async def body2(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [first, second])
        assert await _until(_done(conn, second["id"]))
        assert await _until(_typing_idle(worker)), "a typing call still running"

    _with_worker(db_url, limited, body2)
    assert len(graph.read_calls(first["id"])) == 1
    assert graph.read_calls(second["id"]) == [], "a rate-limited message gets no typing"


def _sample(metrics: WorkerMetrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "wapipe_typing_indicators_total", {"outcome": outcome}
    )
    return value or 0.0


# -- media -------------------------------------------------------------------------------


def test_media_descriptor_bytes_and_signed_url(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    photo = b"\xff\xd8\xff" + bytes(range(256)) * 40
    media_id = graph.add_media(photo)
    msg = image_message("250788000010", media_id, caption="this one")

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"]))

    _with_worker(db_url, _config(), body)
    assert _status(conn, msg["id"]) == "done"
    (request,) = SEEN
    assert request.media_content == photo, "a python agent gets the bytes"
    media = request.media
    assert media is not None
    assert media["type"] == "image" and media["status"] == "stored"
    assert media["mime_type"] == "image/jpeg" and media["caption"] == "this one"
    assert media["size"] == len(photo)
    assert media["sha256"] == hashlib.sha256(photo).hexdigest()
    assert media["url"].startswith(f"http://media.test/media/{media['id']}?exp=")
    assert "test-token" not in str(media)
    assert graph.media_lookups[media_id] == 1 and graph.media_downloads[media_id] == 1

    path = media["url"].removeprefix("http://media.test")
    key = signing_key((SECRET,), {})
    assert key is not None
    settings = Settings(database_url=db_url, app_secrets=(SECRET,))
    with TestClient(create_app(settings, configure_logs=False)) as client:
        got = client.get(path)
        assert got.status_code == 200 and got.content == photo
        assert got.headers["content-type"] == "image/jpeg"
        forged = client.get(path[:-4] + ("0000" if not path.endswith("0000") else "1111"))
        assert forged.status_code == 403, "a wrong signature is refused"
        old = signed_url("", key, int(media["id"]), 60, now=time.time() - 3600)
        assert client.get(old).status_code == 410, "an expired URL is refused"
        other = signed_url("", key, int(media["id"]) + 1, 60)
        assert client.get(other).status_code == 404, "a signed URL of nothing stored: 404"
        assert client.get(f"/media/{media['id']}").status_code == 403, "no signature: refused"


def test_expired_media_id_is_dead_lettered_without_retries(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    media_id = graph.add_media(b"old photo")
    graph.expire(media_id)
    msg = image_message("250788000011", media_id)

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"]))

    _with_worker(db_url, _config(), body)
    row = conn.execute(
        "SELECT error_code, attempts FROM wapipe.dead_letters WHERE wamid = %s", (msg["id"],)
    ).fetchone()
    assert row == ("media_expired", 1), row
    assert SEEN == [], "the agent is not called"
    assert graph.media_downloads[media_id] == 0
    assert scalar(conn, "SELECT status FROM wapipe.media WHERE wamid = %s", msg["id"]) == "gone"


def test_failed_download_retried_with_backoff_then_dead_letter(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    fast_retries(conn, initial=0.2, max_attempts=2, cap=0.2)
    media_id = graph.add_media(b"voice", mime_type="audio/ogg")
    graph.media_status = 500
    msg = image_message("250788000012", media_id)

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"]))

    _with_worker(db_url, _config(), body)
    row = conn.execute(
        "SELECT error_code, attempts FROM wapipe.dead_letters WHERE wamid = %s", (msg["id"],)
    ).fetchone()
    assert row == ("media_download_failed", 2), row
    assert graph.media_downloads[media_id] == 2, "one download per attempt"


def test_media_breaker_open_defers_without_spending_an_attempt(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    """While the media breaker is open the message waits (deferred, waiting_for the
    breaker, no attempt spent, nothing downloaded); once the breaker is due a trial it
    is fetched and answered on its first attempt."""
    photo = b"photo while the breaker was open" * 10
    media_id = graph.add_media(photo)
    msg = image_message("250788000015", media_id)
    conn.execute(
        "INSERT INTO wapipe.breakers (name, kind, state, opened_at, open_seconds)"
        " VALUES ('whatsapp-media', 'media', 'open', now(), 3600)"
    )

    def row() -> Any:
        return conn.execute(
            "SELECT status, attempts, deferrals, waiting_for FROM wapipe.processed_messages"
            " WHERE wamid = %s",
            (msg["id"],),
        ).fetchone()

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(lambda: (r := row()) is not None and r[2] >= 1), "never deferred"
        assert row() == ("queued", 0, 1, "whatsapp-media"), row()
        assert graph.media_downloads[media_id] == 0 and SEEN == []
        # the breaker's open period is over: a trial is due (ended again at every look)
        done = _done(conn, msg["id"])
        assert await _until(lambda: end_open_period(conn, "whatsapp-media") or done()), (
            "not answered once the breaker let it"
        )

    _with_worker(db_url, _config(), body)
    status, attempts, deferrals, _ = row()
    assert (status, attempts, deferrals) == ("done", 1, 1), "one real attempt: the download"
    assert graph.media_downloads[media_id] == 1
    assert scalar(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0
    (request,) = SEEN
    assert request.media is not None and request.media["status"] == "stored"


def test_oversize_is_described_not_downloaded(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    import dataclasses

    media_id = graph.add_media(b"x" * 5000, mime_type="video/mp4")
    msg = image_message("250788000013", media_id)
    config = dataclasses.replace(_config(), media=MediaConfig(max_bytes=1000))

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [msg])
        assert await _until(_done(conn, msg["id"]))

    _with_worker(db_url, config, body)
    (request,) = SEEN
    assert request.media is not None
    assert request.media["status"] == "oversize" and request.media["size"] == 5000
    assert request.media["url"] is None and request.media_content is None
    assert graph.media_downloads[media_id] == 0


def test_media_fetched_once_by_two_workers(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    """Two fetchers (two worker ids, their own pools) ask for the same message's media at
    once while the download is slow: one downloads, the other waits for its result."""
    photo = b"slow photo" * 100
    media_id = graph.add_media(photo)
    graph.media_latency_seconds = 0.5
    payload = image_message("250788000014", media_id)
    msg = ClaimedMessage(
        1,
        1,
        payload["id"],
        "c",
        "300100200300400",
        "250788000014",
        "image",
        5,
        1,
        payload,
        None,
        "cid",
        None,  # type: ignore[arg-type]
    )
    settings = Settings(
        database_url=db_url, access_token="test-token", api_url=graph.url, app_secrets=(SECRET,)
    )

    async def main() -> list[Any]:
        from psycopg_pool import AsyncConnectionPool

        results: list[Any] = []
        async with (
            AsyncConnectionPool(db_url, kwargs={"autocommit": True}) as pool_a,
            AsyncConnectionPool(db_url, kwargs={"autocommit": True}) as pool_b,
        ):
            fetchers = [
                MediaFetcher.create(settings, MediaConfig(), pool, WorkerMetrics(), worker_id)
                for pool, worker_id in ((pool_a, "worker-a"), (pool_b, "worker-b"))
            ]
            results = await asyncio.gather(*(f.prepare(msg) for f in fetchers))
            for f in fetchers:
                await f.aclose()
        return results

    first, second = asyncio.run(main())
    assert graph.media_downloads[media_id] == 1, "downloaded once"
    assert graph.media_lookups[media_id] == 1
    assert first.id == second.id and first.status == second.status == "stored"
    assert first.sha256 == second.sha256 == hashlib.sha256(photo).hexdigest()
    assert scalar(conn, "SELECT count(*) FROM wapipe.media") == 1


def test_media_of_many_messages_with_two_workers(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    ids = [graph.add_media(f"photo {i}".encode() * 50) for i in range(8)]
    messages = [image_message(f"25078800002{i}", media_id) for i, media_id in enumerate(ids)]

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, messages)
        for m in messages:
            assert await _until(_done(conn, m["id"]))

    _with_worker(db_url, _config(), body, n=2)
    assert all(graph.media_downloads[i] == 1 for i in ids), graph.media_downloads
    assert scalar(conn, "SELECT count(*) FROM wapipe.media WHERE status = 'stored'") == 8
    assert len(SEEN) == 8


def audio_message(wa_id: str, media_id: str, mime_type: str, voice: bool) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": f"wamid.test.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "audio",
        "audio": {"id": media_id, "mime_type": mime_type, "voice": voice},
    }


def test_openai_multimodal_gets_mp3_as_input_audio_and_a_voice_note_described(
    db_url: str, conn: psycopg.Connection[Any], graph: FakeGraphApi
) -> None:
    """A fake OpenAI-compatible server on localhost: an mp3 goes as an input_audio part
    (base64 of the bytes, format mp3); a WhatsApp voice note (OGG/Opus, which
    input_audio does not take) as a text part naming it with its signed URL."""
    mp3 = b"ID3\x03" + bytes(range(256)) * 8
    ogg = b"OggS" + bytes(range(256)) * 4
    mp3_id = graph.add_media(mp3, mime_type="audio/mpeg")
    ogg_id = graph.add_media(ogg, mime_type="audio/ogg; codecs=opus")
    song = audio_message("250788000030", mp3_id, "audio/mpeg", voice=False)
    note = audio_message("250788000031", ogg_id, "audio/ogg; codecs=opus", voice=True)
    llm = FakeAgent(answer={"choices": [{"message": {"content": "heard it"}}]}).start()
    config = dataclasses.replace(
        _config(),
        services=(
            ServiceConfig(
                name="llm",
                protocol="openai",
                endpoints=(llm.url,),
                path="/v1/chat/completions",
                model="gpt-4o-audio-preview",
                multimodal=True,
            ),
        ),
        default_agent="llm",
    )

    async def body(worker: Worker) -> None:
        await asyncio.to_thread(ingest, conn, [song, note])
        for m in (song, note):
            assert await _until(_done(conn, m["id"]))

    try:
        _with_worker(db_url, config, body)
    finally:
        llm.stop()
    assert _status(conn, song["id"]) == _status(conn, note["id"]) == "done"
    assert len(llm.calls) == 2, [c.body for c in llm.calls]
    parts = [c.body["messages"][-1]["content"] for c in llm.calls]
    audio = [p for ps in parts for p in ps if p["type"] == "input_audio"]
    encoded = base64.b64encode(mp3).decode()
    assert audio == [{"type": "input_audio", "input_audio": {"data": encoded, "format": "mp3"}}]
    described = [p["text"] for ps in parts for p in ps[1:] if p["type"] == "text"]
    assert len(described) == 1, parts
    assert described[0].startswith(f"[voice note: audio/ogg; codecs=opus, {len(ogg)} bytes, ")
    assert "http://media.test/media/" in described[0] and "sig=" in described[0]
    assert "test-token" not in str(parts)
    assert all(ps[0]["type"] == "text" for ps in parts), "the user's text part comes first"
    replies = conn.execute("SELECT body->'text'->>'body' FROM wapipe.outbox").fetchall()
    assert replies == [("heard it",), ("heard it",)]


def test_openai_audio_formats() -> None:
    from worker.agents import openai_audio_format

    assert openai_audio_format("audio/mpeg") == "mp3"
    assert openai_audio_format("audio/wav") == "wav"
    assert openai_audio_format("audio/x-wav; rate=16000") == "wav"
    assert openai_audio_format("audio/ogg; codecs=opus") is None
    assert openai_audio_format("audio/amr") is None
    assert openai_audio_format(None) is None


# -- units -------------------------------------------------------------------------------


def test_sha256_in_hex_or_base64() -> None:
    data = b"bytes"
    digest = hashlib.sha256(data)
    assert sha256_matches(digest.hexdigest(), data) is True
    assert sha256_matches(base64.b64encode(digest.digest()).decode(), data) is True
    assert sha256_matches(digest.hexdigest(), b"other") is False
    assert sha256_matches("k9X0dGVzdHNoYTI1Ng==", data) is None, "not a digest: nothing to check"
    assert sha256_matches(None, data) is None


def test_agent_protocols_carry_the_descriptor() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        seen.append(json.loads(request.content))
        if request.url.path.endswith("/completions"):
            return httpx.Response(200, json={"choices": [{"message": {"content": "a cat"}}]})
        return httpx.Response(200, json={"reply": "ok"})

    media = {"id": 7, "type": "image", "status": "stored", "url": "http://i/media/7?exp=1&sig=a"}
    request = AgentRequest("a", "250788000001", {}, "what is it?", [], {}, "cid", media=media)
    wapipe_svc = ServiceConfig(name="w", endpoints=("http://agent",))
    openai_svc = ServiceConfig(
        name="o",
        endpoints=("http://llm",),
        protocol="openai",
        multimodal=True,
        path="/v1/chat/completions",
    )

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await call_agent(client, wapipe_svc, "http://agent", request)
            await call_agent(client, openai_svc, "http://llm", request)

    asyncio.run(main())
    assert seen[0]["media"] == media
    assert seen[1]["messages"][-1]["content"] == [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": media["url"]}},
    ]


def test_media_expired_is_not_retryable() -> None:
    assert MediaExpired("x", retryable=False).retryable is False

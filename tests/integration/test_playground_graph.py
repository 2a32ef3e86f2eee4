"""The playground's Graph API stand-in and chat API, without a browser.

Shapes: the requests the real sender builds (worker.graph.build_message) are accepted
and answered so that the sender's own parser (worker.graph.parse_response) reads a sent
message with its wamid; refusals read as Meta's errors; the status webhooks it posts
have the shape of the status fixtures and are signed like `wapipe dev-send`'s. The app
runs under TestClient with the network to the ingress replaced by a recorder.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ingress.signature import SignatureCheck, check_signature
from tests.integration.test_ingress_app import TestClient  # imported without its warning
from tests.payloads import sample
from wapipe.cli import DEV_DISPLAY_NUMBER, DEV_PHONE_NUMBER_ID, main
from wapipe.errors import WapipeError
from wapipe.media_url import signing_key
from wapipe.playground import PlaygroundConfig, create_app, refuse_real_access_token
from wapipe.playground.graph import (
    GraphRequestError,
    MarkRead,
    Send,
    error_answer,
    parse_request,
    send_answer,
    status_webhook,
)
from wapipe.playground.media import URL_TTL_SECONDS, MediaStore
from worker.config import MediaConfig
from worker.demo_agent import answer as demo_answer
from worker.graph import (
    GraphCalls,
    MediaFetchError,
    Outcome,
    build_message,
    media_info_from,
    parse_response,
)
from worker.media import MediaFetcher, sha256_matches
from worker.store import ClaimedMessage

PHONE = "250788123456"
BSUID = "RW.4471902245518830"
SECRET = "playground-test-secret"
TOKEN = "playground-test-token-0123456789"
MESSAGES_PATH = f"/v21.0/{DEV_PHONE_NUMBER_ID}/messages"
GRAPH_AUTH = {"Authorization": "Bearer anything-but-real"}
TEXT = {"type": "text", "text": {"body": "Hello and welcome!"}}


# -- pure shapes ---------------------------------------------------------------------------


def test_a_send_to_a_phone_number_reads_as_sent_with_its_wamid() -> None:
    request = build_message(PHONE, TEXT, "outbox:7")
    parsed = parse_request(json.loads(json.dumps(request)))
    assert isinstance(parsed, Send)
    assert (parsed.address, parsed.message_type, parsed.callback_data) == (
        PHONE,
        "text",
        "outbox:7",
    )
    answer = send_answer(parsed, "wamid.PLAY1")
    assert answer == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": PHONE, "wa_id": PHONE}],
        "messages": [{"id": "wamid.PLAY1"}],
    }
    result = parse_response(200, json.dumps(answer).encode(), 3)
    assert (result.outcome, result.wamid) == (Outcome.SENT, "wamid.PLAY1")


def test_a_send_to_a_bsuid_is_answered_with_user_id() -> None:
    request = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": BSUID,
        **TEXT,
        "biz_opaque_callback_data": "outbox:8",
    }
    parsed = parse_request(request)
    assert isinstance(parsed, Send)
    assert (parsed.address, parsed.to, parsed.recipient) == (BSUID, None, BSUID)
    answer = send_answer(parsed, "wamid.PLAY2")
    assert answer["contacts"] == [{"input": BSUID, "user_id": BSUID}]
    assert parse_response(200, json.dumps(answer).encode(), 3).wamid == "wamid.PLAY2"


def test_interactive_and_template_sends_are_accepted() -> None:
    list_message = {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "What would you like to order?"},
            "action": {"button": "See the menu", "sections": []},
        },
    }
    assert isinstance(parse_request(build_message(PHONE, list_message, "outbox:1")), Send)
    template = {"type": "template", "template": {"name": "order_ready", "language": {"code": "en"}}}
    parsed = parse_request(build_message(PHONE, template, "outbox:2"))
    assert isinstance(parsed, Send)
    assert send_answer(parsed, "wamid.T")["messages"] == [
        {"id": "wamid.T", "message_status": "accepted"}
    ]


def test_mark_read_with_typing_indicator() -> None:
    call = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN1",
        "typing_indicator": {"type": "text"},
    }
    assert parse_request(call) == MarkRead("wamid.IN1", typing=True)
    del call["typing_indicator"]
    assert parse_request(call) == MarkRead("wamid.IN1", typing=False)


@pytest.mark.parametrize(
    "request_json",
    [
        [],
        {"to": PHONE, **TEXT},  # no messaging_product
        {"messaging_product": "whatsapp", **TEXT},  # nobody to send to
        {"messaging_product": "whatsapp", "to": PHONE, "type": "text"},  # no text object
        {"messaging_product": "whatsapp", "to": PHONE, "type": "fax", "fax": {}},
        {"messaging_product": "whatsapp", "to": PHONE, "type": "interactive", "interactive": {}},
        {"messaging_product": "whatsapp", "status": "delivered", "message_id": "wamid.X"},
        {"messaging_product": "whatsapp", "status": "read"},
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.X",
            "typing_indicator": {"type": "audio"},
        },
    ],
)
def test_refused_requests_read_as_meta_errors_that_are_not_retried(request_json: Any) -> None:
    with pytest.raises(GraphRequestError) as refused:
        parse_request(request_json)
    answer = error_answer(refused.value)
    assert answer["error"]["code"] == 100 and answer["error"]["message"].startswith("(#100)")
    result = parse_response(refused.value.http_status, json.dumps(answer).encode(), 1)
    assert (result.outcome, result.error_code) == (Outcome.FAIL, 100)


def test_status_webhooks_have_the_fixtures_shape() -> None:
    sent = status_webhook(
        "wamid.OUTBOUND0001",
        "sent",
        phone_number_id=DEV_PHONE_NUMBER_ID,
        display_phone_number=DEV_DISPLAY_NUMBER,
        wa_id=PHONE,
        user_id=None,
        name="Aline",
        username=None,
        callback_data=None,
        timestamp=1764000200,
    )
    assert sent == sample("status_sent")

    read = status_webhook(
        "wamid.OUTBOUND0042",
        "read",
        phone_number_id=DEV_PHONE_NUMBER_ID,
        display_phone_number=DEV_DISPLAY_NUMBER,
        wa_id=None,
        user_id=BSUID,
        name="Keza",
        username="@keza.rw",
        callback_data="outbox:42",
        timestamp=1780000120,
    )
    expected = sample("status_read_username_user")
    value = expected["entry"][0]["changes"][0]["value"]
    del value["statuses"][0]["recipient_parent_user_id"]  # the playground has no parents
    del value["contacts"][0]["parent_user_id"]
    value["statuses"][0]["biz_opaque_callback_data"] = "outbox:42"
    assert read == expected


def test_no_playground_beside_a_real_access_token(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_real_access_token("", "https://graph.facebook.com/v21.0")
    refuse_real_access_token("dummy", "http://127.0.0.1:8070/v21.0")
    for url in ("https://graph.facebook.com/v21.0", "https://GRAPH.facebook.com/v19.0/"):
        with pytest.raises(WapipeError, match="real access token"):
            refuse_real_access_token("EAAG-real", url)

    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAAG-real")
    monkeypatch.delenv("WHATSAPP_API_URL", raising=False)
    assert main(["playground", "--port", "1"]) == 1  # refused before it listens


# -- the app, with the ingress replaced by a recorder -----------------------------------------


@dataclass
class Ingress:
    """Records what the playground posts to /webhook; answers 200 unless told otherwise."""

    posted: list[dict[str, Any]] = field(default_factory=list)
    answer: int = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        signature = request.headers.get("X-Hub-Signature-256")
        assert check_signature(signature, body, (SECRET,)) is SignatureCheck.VALID
        self.posted.append(json.loads(body))
        if self.answer != 200:
            return httpx.Response(self.answer, text="refused on purpose")
        return httpx.Response(200, json={"status": "stored"})

    def statuses(self) -> list[tuple[str, str]]:
        found = []
        for payload in self.posted:
            for s in payload["entry"][0]["changes"][0]["value"].get("statuses", []):
                found.append((s["id"], s["status"]))
        return found

    def messages(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for payload in self.posted:
            found += payload["entry"][0]["changes"][0]["value"].get("messages", [])
        return found


@pytest.fixture
def ingress() -> Ingress:
    return Ingress()


@pytest.fixture
def client(ingress: Ingress) -> Iterator[TestClient]:
    config = PlaygroundConfig("http://ingress.test/webhook", SECRET, TOKEN)
    app = create_app(config, transport=httpx.MockTransport(ingress.handle))
    with TestClient(app, base_url="http://127.0.0.1:8070") as test_client:
        yield test_client


def api(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.json()


def state(client: TestClient) -> dict[str, Any]:
    snapshot: dict[str, Any] = client.get("/api/state", params={"token": TOKEN}).json()
    return snapshot


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_page_api_and_events_need_the_token(client: TestClient) -> None:
    for path in ("/", "/api/state", "/api/events"):
        assert client.get(path).status_code == 401
        assert client.get(path, params={"token": "wrong"}).status_code == 401
    assert client.post("/api/send", json={}).status_code == 401
    page = client.get("/", params={"token": TOKEN})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert TOKEN not in page.text
    for name in ("playground.js", "playground.css"):
        assert client.get(f"/static/{name}").status_code == 200
    escape = client.get("/static/../app.py")  # read as the Graph path /app.py: no token
    assert escape.status_code in (401, 404) and "create_app" not in escape.text


def test_graph_send_needs_a_bearer_token(client: TestClient) -> None:
    request = build_message(PHONE, TEXT, "outbox:1")
    refused = client.post(MESSAGES_PATH, json=request)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 190
    assert client.post(MESSAGES_PATH, json=request, headers=GRAPH_AUTH).status_code == 200


def test_a_typed_message_is_a_signed_dev_send_webhook(client: TestClient, ingress: Ingress) -> None:
    you = state(client)["users"][0]
    sent = api(client, "/api/send", {"user": you["key"], "texts": ["hello", "menu"]})
    assert [m["status"] for m in sent["messages"]] == ["delivered", "delivered"]
    posted = ingress.messages()
    assert [m["text"]["body"] for m in posted] == ["hello", "menu"]
    assert all(m["from"] == you["wa_id"] and "from_user_id" not in m for m in posted)
    contact = ingress.posted[0]["entry"][0]["changes"][0]["value"]["contacts"][0]
    assert contact == {"profile": {"name": "You"}, "wa_id": you["wa_id"]}

    keza = api(client, "/api/users", {"kind": "username", "name": "Keza"})
    assert keza["wa_id"] is None and keza["user_id"].startswith("RW.")
    api(client, "/api/send", {"user": keza["key"], "texts": ["hi"]})
    value = ingress.posted[-1]["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [
        {"profile": {"name": "Keza", "username": keza["username"]}, "user_id": keza["user_id"]}
    ]
    message = value["messages"][0]
    assert message["from_user_id"] == keza["user_id"] and "from" not in message

    ingress.answer = 400
    failed = api(client, "/api/send", {"user": keza["key"], "texts": ["again"]})["messages"][0]
    assert failed["status"] == "failed" and "HTTP 400" in failed["error"]


def test_a_reply_goes_to_its_user_and_its_statuses_follow_in_order(
    client: TestClient, ingress: Ingress
) -> None:
    you = state(client)["users"][0]
    api(client, "/api/send", {"user": you["key"], "texts": ["hello"]})
    inbound = ingress.messages()[0]["id"]

    typing = client.post(
        MESSAGES_PATH,
        json={
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": inbound,
            "typing_indicator": {"type": "text"},
        },
        headers=GRAPH_AUTH,
    )
    assert typing.json() == {"success": True}
    snap = state(client)
    assert snap["typing"][you["key"]] > time.time() * 1000
    assert [m["status"] for m in snap["messages"]] == ["read"]

    answer = client.post(
        MESSAGES_PATH, json=build_message(you["wa_id"], TEXT, "outbox:5"), headers=GRAPH_AUTH
    ).json()
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    eventually(lambda: ingress.statuses() == [(wamid, "sent")], "the sent status")
    snap = state(client)
    assert you["key"] not in snap["typing"]  # the reply ends "typing…"
    reply = snap["messages"][-1]
    assert (reply["id"], reply["side"], reply["status"]) == (wamid, "business", "sent")

    assert api(client, "/api/receipts", {"ids": [wamid], "status": "read"}) == {"accepted": 1}
    eventually(lambda: len(ingress.statuses()) == 3, "delivered and read")
    assert ingress.statuses() == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]
    eventually(lambda: state(client)["messages"][-1]["status"] == "read", "read ticks")
    status = ingress.posted[-1]["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["recipient_id"] == you["wa_id"]
    assert status["biz_opaque_callback_data"] == "outbox:5"
    # asking again posts nothing more
    assert api(client, "/api/receipts", {"ids": [wamid], "status": "delivered"}) == {"accepted": 0}


def test_replies_to_a_user_it_does_not_know_open_a_chat(client: TestClient) -> None:
    client.post(MESSAGES_PATH, json=build_message(PHONE, TEXT, "outbox:1"), headers=GRAPH_AUTH)
    request = {"messaging_product": "whatsapp", "recipient": BSUID, **TEXT}
    assert client.post(MESSAGES_PATH, json=request, headers=GRAPH_AUTH).status_code == 200
    users = {u["key"]: u for u in state(client)["users"]}
    assert users[PHONE]["wa_id"] == PHONE
    assert users[BSUID]["user_id"] == BSUID and users[BSUID]["wa_id"] is None


# -- media: the Cloud API's id -> URL -> bytes, uploads, photos from the page ------------------


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG (red pixels), built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def send_photo(client: TestClient, user: str, content: bytes, caption: str = "") -> Any:
    photo = {"data": base64.b64encode(content).decode(), "caption": caption}
    return api(client, "/api/send", {"user": user, "photo": photo})["messages"][0]


def store_of(client: TestClient) -> MediaStore:
    store: MediaStore = client.app.state.playground["playground"].media  # type: ignore[attr-defined]
    return store


def test_a_photo_is_an_image_webhook_of_the_cloud_api_shape(
    client: TestClient, ingress: Ingress
) -> None:
    you = state(client)["users"][0]
    png = tiny_png()
    shown = send_photo(client, you["key"], png, caption="  our table  ")
    assert shown["status"] == "delivered" and shown["type"] == "image"
    message = ingress.messages()[0]
    image = message["image"]
    expected = sample("image")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert list(message) == list(expected)  # from, id, timestamp, type, image
    assert list(image) == list(expected["image"])  # id, mime_type, sha256, caption
    assert image["mime_type"] == "image/png" and image["caption"] == "our table"
    assert image["id"].isdigit() and sha256_matches(image["sha256"], png) is True
    assert shown["media"] == {"id": image["id"], "mime_type": "image/png", "size": len(png)}
    # the page shows it from the stand-in's bytes, with the page's token only
    assert client.get(f"/api/media/{image['id']}").status_code == 401
    page_copy = client.get(f"/api/media/{image['id']}", params={"token": TOKEN})
    assert page_copy.content == png and page_copy.headers["content-type"] == "image/png"

    # no caption: no caption key; what is not a JPEG or PNG is refused
    send_photo(client, you["key"], tiny_png(1, 1))
    assert "caption" not in ingress.messages()[1]["image"]
    refused = client.post(
        "/api/send",
        json={"user": you["key"], "photo": {"data": base64.b64encode(b"GIF89a...").decode()}},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert refused.status_code == 400 and len(ingress.messages()) == 2


def test_media_id_to_url_to_bytes_like_the_cloud_api(client: TestClient) -> None:
    you = state(client)["users"][0]
    png = tiny_png()
    media_id = send_photo(client, you["key"], png)["media"]["id"]

    no_token = client.get(f"/v21.0/{media_id}")
    assert no_token.status_code == 401 and no_token.json()["error"]["code"] == 190
    looked_up = client.get(f"/v21.0/{media_id}", headers=GRAPH_AUTH)
    assert looked_up.status_code == 200
    answer = looked_up.json()
    assert list(answer) == ["messaging_product", "url", "mime_type", "sha256", "file_size", "id"]
    assert answer["messaging_product"] == "whatsapp" and answer["id"] == media_id
    assert (answer["mime_type"], answer["file_size"]) == ("image/png", len(png))
    assert answer["sha256"] == hashlib.sha256(png).hexdigest()
    info = media_info_from(200, looked_up.content)  # the worker's own reading of it
    assert info.url.startswith("http://127.0.0.1:8070/whatsapp_business/attachments/?mid=")
    assert (info.mime_type, info.file_size) == ("image/png", len(png))
    # the unversioned path answers the same way
    assert client.get(f"/{media_id}", headers=GRAPH_AUTH).json()["id"] == media_id

    url = info.url
    assert client.get(url).status_code == 401  # the token is required
    other = client.get(url, headers={"Authorization": "Bearer another-token"})
    assert other.status_code == 403  # the URL was handed to the other token
    got = client.get(url, headers=GRAPH_AUTH)
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    tampered = url.replace(f"mid={media_id}", "mid=1000000000000001")
    assert client.get(tampered, headers=GRAPH_AUTH).status_code == 403

    # the URL expires after a few minutes, as Meta's do; a new lookup gives a fresh one
    store = store_of(client)
    now = time.time()
    store.clock = lambda: now + URL_TTL_SECONDS + 1
    expired = client.get(url, headers=GRAPH_AUTH)
    assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
    fresh = client.get(f"/v21.0/{media_id}", headers=GRAPH_AUTH).json()["url"]
    assert fresh != url and client.get(fresh, headers=GRAPH_AUTH).content == png


def test_an_unknown_media_id_is_404_in_metas_shape(client: TestClient) -> None:
    response = client.get("/v21.0/1234567890", headers=GRAPH_AUTH)
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )
    assert "1234567890" in error["message"] and error["fbtrace_id"]
    with pytest.raises(MediaFetchError) as gone:
        media_info_from(response.status_code, response.content)
    assert gone.value.gone  # the worker dead-letters it as media_expired, no retries


def test_upload_answers_an_id_and_a_reply_by_id_or_own_link_shows_the_image(
    client: TestClient,
) -> None:
    png = tiny_png()
    upload_path = f"/v21.0/{DEV_PHONE_NUMBER_ID}/media"
    form = {"messaging_product": "whatsapp", "type": "image/png"}
    files = {"file": ("dish.png", png, "image/png")}
    assert client.post(upload_path, data=form, files=files).status_code == 401
    uploaded = client.post(upload_path, data=form, files=files, headers=GRAPH_AUTH)
    assert uploaded.status_code == 200, uploaded.text
    assert list(uploaded.json()) == ["id"]
    media_id = uploaded.json()["id"]
    info = client.get(f"/v21.0/{media_id}", headers=GRAPH_AUTH).json()
    assert (info["mime_type"], info["file_size"]) == ("image/png", len(png))

    for bad_form, bad_files, code in (
        ({"type": "image/png"}, files, 100),  # no messaging_product
        (form, None, 100),  # no file
        ({**form, "type": "application/x-msdownload"}, files, 131053),
        ({**form, "type": "image/jpeg"}, files, 131053),  # the bytes are a PNG
    ):
        refused = client.post(upload_path, data=bad_form, files=bad_files, headers=GRAPH_AUTH)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == code
        assert parse_response(400, refused.content, 1).outcome is Outcome.FAIL

    def reply(image: dict[str, str]) -> dict[str, Any]:
        body = build_message(PHONE, {"type": "image", "image": image}, "outbox:9")
        answer = client.post(MESSAGES_PATH, json=body, headers=GRAPH_AUTH)
        assert answer.status_code == 200
        wamid = answer.json()["messages"][0]["id"]
        shown: dict[str, Any] = next(m for m in state(client)["messages"] if m["id"] == wamid)
        return shown

    by_id = reply({"id": media_id, "caption": "Today's special"})
    assert by_id["media"] == {"id": media_id, "mime_type": "image/png", "size": len(png)}
    by_own_link = reply({"link": info["url"]})
    assert by_own_link["media"] is not None and by_own_link["media"]["id"] == media_id
    assert reply({"link": "https://example.com/pizza.png"})["media"] is None  # stays a card
    assert reply({"id": "999"})["media"] is None  # an id the stand-in never saw: a card


def test_the_workers_media_fetch_against_the_stand_in(db_url: str) -> None:
    """worker/media.py, as the worker runs it: the webhook's media id -> the stand-in's URL
    -> the bytes, sha256 checked, stored in wapipe.media, a descriptor for the agent."""
    ingress = Ingress()
    config = PlaygroundConfig("http://ingress.test/webhook", SECRET, TOKEN)
    app = create_app(config, transport=httpx.MockTransport(ingress.handle))
    png = tiny_png(40, 30)

    async def main() -> tuple[Any, bytes]:
        from psycopg_pool import AsyncConnectionPool

        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8070"
            ) as http,
            AsyncConnectionPool(db_url, kwargs={"autocommit": True}) as pool,
        ):
            snap = (await http.get("/api/state", params={"token": TOKEN})).json()
            photo = {"data": base64.b64encode(png).decode(), "caption": "for the chef"}
            sent = await http.post(
                "/api/send",
                json={"user": snap["users"][0]["key"], "photo": photo},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert sent.status_code == 200, sent.text
            payload = ingress.messages()[0]
            calls = GraphCalls("http://127.0.0.1:8070/v21.0", "worker-token", client=http)
            fetcher = MediaFetcher(
                calls, pool, MediaConfig(), "worker-1", key=signing_key((SECRET,))
            )
            msg = ClaimedMessage(
                1,
                1,
                payload["id"],
                "c",
                DEV_PHONE_NUMBER_ID,
                payload["from"],
                "image",
                5,
                1,
                payload,
                None,
                "cid",
                None,  # type: ignore[arg-type]
            )
            descriptor = await fetcher.prepare(msg)
            assert descriptor is not None
            async with pool.connection() as db:
                cur = await db.execute("SELECT content FROM wapipe.media")
                row = await cur.fetchone()
                assert row is not None
            return descriptor, bytes(row[0])

    descriptor, stored = asyncio.run(main())
    assert stored == png
    assert (descriptor.type, descriptor.status, descriptor.mime_type) == (
        "image",
        "stored",
        "image/png",
    )
    assert descriptor.size == len(png) and descriptor.sha256 == hashlib.sha256(png).hexdigest()
    assert descriptor.caption == "for the chef" and descriptor.url
    assert answer_of_demo_agent(descriptor.as_json()).startswith("Nice photo! (image/png, 1 KB)")


def answer_of_demo_agent(media: dict[str, Any]) -> str:
    reply: str = demo_answer("[image]", {}, media)["reply"]
    return reply


def test_the_demo_waiter_names_what_it_saw() -> None:
    media = {"type": "image", "status": "stored", "mime_type": "image/png", "size": 12 * 1024}
    assert answer_of_demo_agent(media) == "Nice photo! (image/png, 12 KB)"
    assert answer_of_demo_agent({**media, "caption": "dinner"}) == (
        'Nice photo! (image/png, 12 KB) You wrote: "dinner".'
    )
    oversize = {**media, "status": "oversize", "size": 20 * 1024 * 1024}
    assert answer_of_demo_agent(oversize).startswith("That photo is too large")
    assert demo_answer("hello", {})["reply"].startswith("Hello and welcome!")

"""Talking to AI agents over HTTP: the `wapipe` protocol and OpenAI-compatible servers.

`wapipe` protocol (README, "Worker and agents"):
  POST {endpoint}{path}  {"agent", "user", "message", "messages", "text", "history", "context",
                          "correlation_id", "media" (only for a media message: worker.media)}
  200 -> {"reply": <Graph API message object | array of them | plain text | null>,
          "context": {...optional, merged into the memory context},
          "workflow": {...optional action, e.g. {"action": "start", "workflow_type": "order"}}}
Every protocol's answer is checked and normalised in worker.replies (one seam).
`openai` protocol: POST {endpoint}/v1/chat/completions with the history as chat
messages; the first choice's content becomes a text reply. With `multimodal = true`
an image comes as an `image_url` content part (its signed URL), and audio in a
format Chat Completions accepts (`input_audio` takes only wav and mp3) as an
`input_audio` part with the bytes in base64; other audio, such as WhatsApp voice
notes (OGG/Opus), is described in a text part with its signed URL (converting it
would need ffmpeg, which wapipe does not ship: an agent that wants the sound fetches
the URL).
`python` protocol: an agent in the worker process, `callable = "package.module:function"`:
  (await) function(AgentRequest) -> what a `wapipe` agent answers: {"reply", "context",
  "workflow"} as a dict, or just the reply (text, message object, list, None).
  No HTTP and no health checks; the timeout class and the breaker apply as for any agent.
"""

from __future__ import annotations

import asyncio
import base64
import http.cookiejar
import importlib
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from functools import lru_cache
from types import CoroutineType
from typing import Any

import httpx

from wapipe.errors import WapipeError
from wapipe.settings import env_secret
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig
from worker.errors import AgentError
from worker.replies import AgentReply as AgentReply
from worker.replies import normalize_reply as normalize_reply
from worker.replies import openai_answer, python_answer, wapipe_answer
from worker.replies import text_message as text_message


@dataclass(frozen=True)
class AgentRequest:
    agent: str
    # the user's stable key (their phone, BSUID or group:<id>); never logged unmasked
    user: str
    message: dict[str, Any]
    text: str
    history: list[dict[str, Any]]
    context: dict[str, Any]
    correlation_id: str
    # every identifier known for the user: user, bsuid, parent_bsuid, phone (only when
    # Meta shared one), username, name, group_id (README, "Identity")
    identity: dict[str, Any] = field(default_factory=dict)
    # when the conversation's 24-hour window closes (ISO 8601; None: never opened):
    # a reply that goes out later needs an outside_window template
    window_closes_at: str | None = None
    # every message this turn answers, in order: `message` alone, or a burst of texts
    # (README, "A burst answered once") whose bodies `text` joins with newlines
    messages: list[dict[str, Any]] = field(default_factory=list)
    # the message's media descriptor (worker.media: type, status, mime_type, size, sha256,
    # caption, filename, url = a signed expiring URL of the ingress); None without media
    media: dict[str, Any] | None = None
    # the media's bytes: for in-process (`python`) agents, and for the `input_audio`
    # part of a multimodal `openai` service (never sent to a `wapipe` agent)
    media_content: bytes | None = None


class NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing: agents are stateless JSON APIs, and one client
    serves every user, so a cookie one answer set must not ride along with the next
    user's request. (It also spares httpx's cookie parsing on every response.)"""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


@lru_cache(maxsize=256)
def _url(endpoint: str, path: str) -> httpx.URL:
    """An endpoint's URL, parsed once (httpx parses a str URL on every request)."""
    return httpx.URL(endpoint + path)


@lru_cache(maxsize=64)
def _timeout(seconds: float) -> dict[str, float | None]:
    return httpx.Timeout(seconds).as_dict()


_JSON_HEADERS = ((b"Content-Type", b"application/json"), (b"Accept", b"application/json"))


async def _post_json(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: dict[str, Any],
    headers: dict[str, str],
    timeout: float,
) -> httpx.Response:
    """POST a JSON body. The request is built here with only the headers an agent needs
    and sent as is: httpx's per-call merging of client URL, headers, cookies and params
    (and every extra header it then walks) is most of the client-side cost of a call."""
    request = httpx.Request(
        "POST",
        url,
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        headers=[*_JSON_HEADERS, *((k.encode(), v.encode()) for k, v in headers.items())],
        extensions={"timeout": _timeout(timeout)},
    )
    return await client.send(request)


def _text_at(value: Any, *keys: str) -> str | None:
    """value[keys[0]][keys[1]]... when every step is an object and the end is text."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) else None


def summary_of(messages: list[dict[str, Any]]) -> str:
    """What the assistant said, as text for the conversation memory.

    Its messages were checked by worker.replies (or built by the worker itself);
    still, nothing here can raise on an odd shape.
    """
    parts: list[str] = []
    for m in messages:
        kind = m.get("type") if isinstance(m, dict) else None
        if kind == "text":
            parts.append(_text_at(m, "text", "body") or _text_at(m, "text") or "")
        elif kind == "interactive":
            parts.append(_text_at(m, "interactive", "body", "text") or "[interactive]")
        else:
            parts.append(f"[{kind}]")
    return "\n".join(p for p in parts if p)


async def call_agent(
    client: httpx.AsyncClient, service: ServiceConfig, endpoint: str, request: AgentRequest
) -> AgentReply:
    """One call of an agent endpoint (HTTP, or in-process for a `python` service);
    failures as AgentError (retryable or not)."""
    timeout = service.call_timeout_seconds
    if service.in_process:
        return await _call_python(service, endpoint, request, timeout)
    try:
        if service.protocol == "openai":
            return await _call_openai(client, service, endpoint, request, timeout)
        return await _call_wapipe(client, service, endpoint, request, timeout)
    except httpx.TimeoutException as exc:
        raise AgentError(
            f"{service.name} did not answer within {timeout:g} s",
            code="agent_timeout",
            context={"endpoint": endpoint},
        ) from exc
    except httpx.ConnectError as exc:
        # nothing was sent: the registry may try another endpoint at once
        raise AgentError(
            f"{service.name} unreachable: {type(exc).__name__}",
            code="agent_unreachable",
            context={"endpoint": endpoint},
        ) from exc
    except httpx.TransportError as exc:
        raise AgentError(
            f"{service.name} connection failed: {type(exc).__name__}",
            code="agent_transport_error",
            context={"endpoint": endpoint},
        ) from exc


def _check_status(service: ServiceConfig, response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    # 408/429/5xx are the agent's trouble and may pass; other 4xx mean our request is wrong
    retryable = response.status_code in (408, 425, 429) or response.status_code >= 500
    raise AgentError(
        f"{service.name} answered HTTP {response.status_code}",
        code=f"agent_http_{response.status_code}",
        retryable=retryable,
        recoverable=retryable,
    )


def _json_body(service: ServiceConfig, response: httpx.Response) -> Any:
    """The parsed body; its shape is worker.replies' to check. Not JSON at all (a proxy's
    error page, a cut-off body) stays retryable."""
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise AgentError(
            f"{service.name} answered with invalid JSON", code="agent_bad_json"
        ) from exc


async def _call_wapipe(
    client: httpx.AsyncClient,
    service: ServiceConfig,
    endpoint: str,
    request: AgentRequest,
    timeout: float,
) -> AgentReply:
    body: dict[str, Any] = {
        "agent": request.agent,
        "user": request.user,
        "identity": request.identity,
        "message": request.message,
        "messages": request.messages or [request.message],
        "text": request.text,
        "history": request.history,
        "context": request.context,
        "correlation_id": request.correlation_id,
        "window_closes_at": request.window_closes_at,
    }
    if request.media is not None:
        body["media"] = request.media
    response = await _post_json(
        client,
        _url(endpoint, service.path),
        body,
        {"X-Correlation-Id": request.correlation_id},
        timeout,
    )
    _check_status(service, response)
    return wapipe_answer(_json_body(service, response), agent=service.name)


async def _call_openai(
    client: httpx.AsyncClient,
    service: ServiceConfig,
    endpoint: str,
    request: AgentRequest,
    timeout: float,
) -> AgentReply:
    messages: list[dict[str, Any]] = []
    if service.system_prompt:
        messages.append({"role": "system", "content": service.system_prompt})
    messages.extend(
        {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
        for m in request.history
        if m.get("role") in ("user", "assistant", "system")
    )
    messages.append({"role": "user", "content": _openai_user_content(service, request)})
    headers = {"X-Correlation-Id": request.correlation_id}
    key = env_secret(service.api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = await _post_json(
        client,
        _url(endpoint, service.path),
        {"model": service.model or "default", "messages": messages, "user": request.agent},
        headers,
        timeout,
    )
    _check_status(service, response)
    return openai_answer(_json_body(service, response), agent=service.name)


# MIME types (parameters dropped) -> the `input_audio` formats Chat Completions accepts
OPENAI_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
}
AUDIO_TYPES = frozenset({"audio", "voice"})


def openai_audio_format(mime_type: Any) -> str | None:
    """'wav' or 'mp3' for a MIME type `input_audio` accepts; None otherwise (OGG/Opus...)."""
    if not isinstance(mime_type, str):
        return None
    return OPENAI_AUDIO_FORMATS.get(mime_type.split(";", 1)[0].strip().lower())


def _openai_user_content(service: ServiceConfig, request: AgentRequest) -> Any:
    """The user turn: the text; for multimodal services, plus the image as an image_url
    part, or the audio as an input_audio part (wav, mp3) or else as a text part saying
    what it is and where to fetch it."""
    media = request.media
    if not service.multimodal or media is None or media.get("status") != "stored":
        return request.text
    text_part = {"type": "text", "text": request.text}
    kind = media.get("type")
    if kind in ("image", "sticker") and media.get("url"):
        return [text_part, {"type": "image_url", "image_url": {"url": media["url"]}}]
    if kind in AUDIO_TYPES:
        audio_format = openai_audio_format(media.get("mime_type"))
        if audio_format is not None and request.media_content is not None:
            data = base64.b64encode(request.media_content).decode("ascii")
            return [
                text_part,
                {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}},
            ]
        noun = "voice note" if kind == "voice" else "audio"
        size = media.get("size")
        described = f"[{noun}: {media.get('mime_type') or 'unknown type'}"
        described += f", {size} bytes" if isinstance(size, int) else ""
        described += f", {media['url']}]" if media.get("url") else "]"
        return [text_part, {"type": "text", "text": described}]
    return request.text


@lru_cache(maxsize=64)
def in_process_agent(endpoint: str) -> Callable[[AgentRequest], Any]:
    """The function a `python` service's endpoint ("python:package.module:function") names.

    Imported once; a clear WapipeError when it cannot be (the worker checks every
    in-process service this way when it starts).
    """
    target = endpoint.removeprefix(PYTHON_ENDPOINT_PREFIX)
    module_name, _, attr = target.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise WapipeError(f"in-process agent {target!r} cannot be loaded: {exc}") from exc
    if not callable(found):
        raise WapipeError(f"in-process agent {target!r} is not callable")
    return found  # type: ignore[no-any-return]


class _Resumed:
    """Awaiting it runs the rest of a coroutine whose first step has run already: each
    wait the coroutine yields goes to the awaiting task, and each resumption (a value,
    or an exception such as the timeout's cancellation) goes back to the coroutine."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro, self._first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waits_for = self._coro, self._first
        while True:
            try:
                resumed = yield waits_for
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    waits_for = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waits_for = coro.send(resumed)
                except StopIteration as done:
                    return done.value


async def _within(answer: Awaitable[Any], deadline: float) -> Any:
    """The awaitable's result, by `deadline` (the event loop's clock).

    A coroutine's first step runs here at once: an agent that answers without waiting
    for anything (no await that suspends) is done then and needs no timer (a timeout
    only ever interrupts a wait, and the timer costs more than such an agent's whole
    call). Only a coroutine that waits has its rest run under asyncio.timeout_at.
    """
    if not isinstance(answer, CoroutineType):  # another awaitable: the plain way
        async with asyncio.timeout_at(deadline):
            return await answer
    try:
        first = answer.send(None)
    except StopIteration as done:
        return done.value
    async with asyncio.timeout_at(deadline):
        return await _Resumed(answer, first)


async def _call_python(
    service: ServiceConfig, endpoint: str, request: AgentRequest, timeout: float
) -> AgentReply:
    """Call an in-process agent under the service's timeout; its failures as AgentError."""
    agent = in_process_agent(endpoint)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        answer = agent(request)
        if inspect.isawaitable(answer):
            answer = await _within(answer, deadline)
    except AgentError:
        raise
    except TimeoutError as exc:
        raise AgentError(
            f"{service.name} did not answer within {timeout:g} s", code="agent_timeout"
        ) from exc
    except Exception as exc:  # the agent's own bug or trouble: worth another try
        raise AgentError(
            f"{service.name} raised {type(exc).__name__}", code="agent_exception"
        ) from exc
    return python_answer(answer, agent=service.name)

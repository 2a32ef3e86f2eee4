"""Agent answers are checked at one seam (worker.replies): the lenient forms the README
documents are normalised, Graph API message objects pass unchanged, anything else is
`agent_bad_reply` naming the offending field, never another exception. Unit tests (no
database), a property-based fuzz, and two runs of a real worker against a real database."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import WorkerProcess, fast_retries, scalar, send_text, wait_for, write_config
from tests.fakes.agent_server import FakeAgent
from worker.agents import AgentRequest, call_agent, summary_of
from worker.config import ServiceConfig
from worker.errors import AgentError
from worker.replies import (
    INTERACTIVE_TYPES,
    MESSAGE_TYPES,
    AgentReply,
    normalize_reply,
    openai_answer,
    python_answer,
    wapipe_answer,
)

HI = {"type": "text", "text": {"body": "hi"}}


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    """The message of the agent_bad_reply that call raises (and that it is not retryable)."""
    with pytest.raises(AgentError) as caught:
        call(*args, **kwargs)
    exc = caught.value
    assert exc.code == "agent_bad_reply"
    assert exc.retryable is False
    assert exc.recoverable is False
    return str(exc)


# ---------------------------------------------------------------- lenient forms


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        ([], []),
        ("hi", [HI]),
        ({"text": "hi"}, [HI]),
        # the decision: text as a bare string inside a typed object is normalised
        ({"type": "text", "text": "hi"}, [HI]),
        (
            {"type": "text", "text": "hi", "context": {"message_id": "wamid.X"}},
            [{"type": "text", "text": {"body": "hi"}, "context": {"message_id": "wamid.X"}}],
        ),
        (["hi", None, "", {"text": "there"}], [HI, {"type": "text", "text": {"body": "there"}}]),
        ([{"type": "text", "text": "a"}, HI], [{"type": "text", "text": {"body": "a"}}, HI]),
    ],
)
def test_lenient_forms_are_normalised(raw: Any, expected: list[dict[str, Any]]) -> None:
    assert normalize_reply(raw) == expected
    assert normalize_reply(expected) == expected  # normalised once is normalised


# ---------------------------------------------------------------- Graph API objects pass as is

LINK = "https://example.com/a.jpg"
VALID: list[dict[str, Any]] = [
    {"type": "text", "text": {"body": "hi", "preview_url": True}},
    {"type": "image", "image": {"id": "1234"}},
    {"type": "image", "image": {"link": LINK, "caption": "our terrace"}},
    {"type": "audio", "audio": {"link": "https://example.com/a.ogg"}},
    {"type": "video", "video": {"id": "77", "caption": ""}},
    {"type": "document", "document": {"link": LINK, "filename": "menu.pdf", "caption": "menu"}},
    {"type": "sticker", "sticker": {"id": "55"}},
    {"type": "location", "location": {"latitude": -1.95, "longitude": 30, "name": "Kigali"}},
    {
        "type": "contacts",
        "contacts": [{"name": {"formatted_name": "Front desk"}, "phones": [{"phone": "+1 555"}]}],
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Table"},
            "body": {"text": "Book a table?"},
            "footer": {"text": "reply below"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no", "title": "No"}},
                ]
            },
        },
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Menu"},
            "action": {
                "button": "See",
                "sections": [{"title": "Mains", "rows": [{"id": "pizza", "title": "Pizza"}]}],
            },
        },
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "cta_url",
            "body": {"text": "Our site"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": LINK}},
        },
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "flow",
            "body": {"text": "Sign up"},
            "action": {
                "name": "flow",
                "parameters": {"flow_message_version": "3", "flow_cta": "Go", "flow_id": "9"},
            },
        },
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "product",
            "action": {"catalog_id": "c1", "product_retailer_id": "sku1"},
        },
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "product_list",
            "header": {"type": "text", "text": "Shop"},
            "body": {"text": "Pick"},
            "action": {
                "catalog_id": "c1",
                "sections": [{"title": "All", "product_items": [{"product_retailer_id": "a"}]}],
            },
        },
    },
    {
        "type": "interactive",
        "interactive": {
            "type": "location_request_message",
            "body": {"text": "Where are you?"},
            "action": {"name": "send_location"},
        },
    },
    {
        "type": "template",
        "template": {
            "name": "order_ready",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}],
        },
    },
    {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "\U0001f44d"}},
    {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}},
]


def test_the_samples_cover_every_known_type() -> None:
    assert {m["type"] for m in VALID} == set(MESSAGE_TYPES)
    assert {m["interactive"]["type"] for m in VALID if m["type"] == "interactive"} == set(
        INTERACTIVE_TYPES
    )


@pytest.mark.parametrize("message", VALID, ids=lambda m: m["type"])
def test_graph_api_objects_pass_unchanged_with_unknown_fields(message: dict[str, Any]) -> None:
    # Meta adds fields: unknown ones at every level pass through as written
    extended = copy.deepcopy(message)
    extended["new_top_level"] = {"anything": [1, 2]}
    inner = extended[message["type"]]
    (inner[0] if isinstance(inner, list) else inner)["new_inner"] = "x"
    before = copy.deepcopy(extended)
    assert normalize_reply(extended) == [before]
    assert normalize_reply([message, extended]) == [message, before]
    assert extended == before  # nothing mutated


# ---------------------------------------------------------------- refusals name the field


def _button(**action: Any) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "Pick"}, "action": action},
    }


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (["ok", _button()], "reply[1].interactive.action.buttons: field required"),
        (_button(buttons=[]), "reply.interactive.action.buttons: must not be empty"),
        (
            _button(buttons=[{"type": "reply", "reply": {"id": "a"}}]),
            "reply.interactive.action.buttons[0].reply.title: field required",
        ),
        (
            _button(buttons=[{"type": "url", "reply": {"id": "a", "title": "A"}}]),
            "reply.interactive.action.buttons[0].type: input should be 'reply'",
        ),
        (
            {"type": "interactive", "interactive": {"type": "button", "action": {"buttons": []}}},
            "reply.interactive.body: field required",
        ),
        ({"type": "interactive", "interactive": "hello"}, "reply.interactive: must be an object"),
        ({"type": "interactive", "interactive": {}}, "reply.interactive.type: field required"),
        (
            {"type": "interactive", "interactive": {"type": "carousel"}},
            "reply.interactive.type: unknown type 'carousel' (known: button, list",
        ),
        (
            {
                "type": "interactive",
                "interactive": {"type": "list", "body": {"text": "x"}, "action": {"button": "b"}},
            },
            "reply.interactive.action.sections: field required",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "flow",
                    "body": {"text": "x"},
                    "action": {
                        "name": "flow",
                        "parameters": {"flow_message_version": "3", "flow_cta": "Go"},
                    },
                },
            },
            "reply.interactive.action.parameters: needs a flow_id or a flow_name",
        ),
        ({"type": "text", "text": {"body": ""}}, "reply.text.body: must not be empty"),
        ({"type": "text", "text": {"body": 5}}, "reply.text.body: must be a string"),
        ({"type": "text", "text": ["hi"]}, "reply.text: must be an object"),
        ({"type": "text"}, "reply.text: field required"),
        ({"type": "text", "text": ""}, "reply.text.body: must not be empty"),
        ({"type": "image", "image": {"caption": "c"}}, "reply.image: needs an id or a link"),
        ({"type": "image", "image": {"id": 12}}, "reply.image.id: must be a string"),
        ({"type": "image"}, "reply.image: field required"),
        (
            {"type": "location", "location": {"latitude": "1.5", "longitude": 2}},
            "reply.location.latitude: must be a number",
        ),
        ({"type": "contacts", "contacts": []}, "reply.contacts: must not be empty"),
        (
            {"type": "contacts", "contacts": [{"name": {}}]},
            "reply.contacts[0].name.formatted_name: field required",
        ),
        (
            {"type": "template", "template": {"name": "t"}},
            "reply.template.language: field required",
        ),
        ({"type": "reaction", "reaction": {"emoji": "x"}}, "reply.reaction.message_id"),
        ({"type": "text", "text": {"body": "x"}, "context": "q"}, "reply.context: must be an"),
        ({"type": "carousel"}, "reply.type: unknown type 'carousel' (known: text, image"),
        ({"type": 7}, "reply.type: must be a string, got a number"),
        ({"body": "hi"}, "reply.type: field required"),
        ({"text": {"body": "hi"}}, "reply.type: field required"),
        (42, "reply: must be text or a message object, got a number"),
        (True, "reply: must be text or a message object, got a boolean"),
        (["a", 3.5], "reply[1]: must be text or a message object, got a number"),
        ([["hi"]], "reply[0]: a list inside a list"),
    ],
)
def test_anything_else_is_refused_naming_the_field(raw: Any, named: str) -> None:
    message = refused(normalize_reply, raw, agent="waiter")
    assert message.startswith(f"waiter: {named}"), message


def test_refusals_never_quote_what_the_agent_wrote() -> None:
    # the agent may quote the user; only field names and schema words reach the DLQ
    secret = "my card 4111 for 250788123456"
    for raw in (
        {"type": secret},
        {"type": "image", "image": {"caption": secret}},
        {"type": "text", "text": {"body": secret, "preview_url": secret}},
        [{"type": "location", "location": {"latitude": secret, "longitude": secret}}],
    ):
        message = refused(normalize_reply, raw)
        assert "4111" not in message
        assert "250788" not in message
    with pytest.raises(AgentError) as caught:
        normalize_reply({"type": "text", "text": {"body": 1, "preview_url": secret}})
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ---------------------------------------------------------------- the wapipe answer around it


def test_wapipe_answer_reply_context_and_workflow() -> None:
    answer = wapipe_answer(
        {
            "reply": {"type": "text", "text": "hi"},
            "context": {"turns": 2},
            "workflow": {"action": "start", "workflow_type": "order"},
            "unknown": "ignored",
        }
    )
    assert answer == AgentReply([HI], {"turns": 2}, {"action": "start", "workflow_type": "order"})
    assert wapipe_answer({}) == AgentReply([], {}, None)
    assert wapipe_answer({"reply": None, "context": None, "workflow": None}) == AgentReply([])
    assert wapipe_answer({"reply": "hi", "workflow": {}}).workflow is None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"reply": "hi", "context": []}, "context: must be an object, got an array"),
        ({"reply": "hi", "context": "turns=2"}, "context: must be an object, got a string"),
        ({"reply": "hi", "workflow": "start"}, "workflow: must be an object, got a string"),
        ({"workflow": {"workflow_type": "order"}}, "workflow.action: field required"),
        ({"workflow": {"action": 1}}, "workflow.action: must be a string"),
        ({"reply": {"type": "text", "text": 5}}, "reply.text: must be an object"),
        ("hi", "answer: must be an object, got a string"),
        ([HI], "answer: must be an object, got an array"),
        (None, "answer: must be an object, got null"),
    ],
)
def test_wapipe_answer_refusals(body: Any, named: str) -> None:
    assert refused(wapipe_answer, body, agent="waiter") == f"waiter: {named}"


# ---------------------------------------------------------------- openai and python answers


def _completion(content: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


def test_openai_answer() -> None:
    assert openai_answer(_completion("hi")) == AgentReply([HI])
    assert openai_answer(_completion("")) == AgentReply([])


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"id": "x"}, "choices: field required"),
        ({"choices": []}, "choices: must not be empty"),
        ({"choices": "hi"}, "choices: must be an array"),
        ({"choices": [{}]}, "choices[0].message: field required"),
        ({"choices": [{"message": {"role": "assistant"}}]}, "choices[0].message.content: field"),
        (_completion(None), "choices[0].message.content: must be a string"),
        (_completion(["a"]), "choices[0].message.content: must be a string"),
        (_completion({"text": "hi"}), "choices[0].message.content: must be a string"),
        ([], "answer: must be an object"),
    ],
)
def test_openai_answer_refusals(body: Any, named: str) -> None:
    assert refused(openai_answer, body, agent="billing").startswith(f"billing: {named}")


def test_python_answers_are_checked_too() -> None:
    assert python_answer("hi") == AgentReply([HI])
    assert python_answer({"reply": "hi", "context": {"a": 1}}) == AgentReply([HI], {"a": 1})
    # a message object with a quote context is a message, not an answer
    quoted = {"type": "text", "text": {"body": "hi"}, "context": {"message_id": "wamid.X"}}
    assert python_answer(quoted) == AgentReply([quoted])
    # an AgentReply built by the agent's own code goes through the same check
    assert python_answer(AgentReply([{"type": "text", "text": "hi"}])) == AgentReply([HI])
    assert "reply[0].text.body" in refused(
        python_answer, AgentReply([{"type": "text", "text": {}}])
    )
    assert "context" in refused(python_answer, AgentReply([], context=[]))  # type: ignore[arg-type]
    assert "workflow.action" in refused(python_answer, AgentReply([], workflow={"x": 1}))


# ---------------------------------------------------------------- through call_agent


def _request() -> AgentRequest:
    return AgentRequest(
        agent="waiter",
        user="250788000001",
        message={"type": "text", "text": {"body": "hello"}},
        text="hello",
        history=[],
        context={},
        correlation_id="cid-1",
    )


def _call(service: ServiceConfig, body: Any) -> AgentReply:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode())

    async def go() -> AgentReply:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await call_agent(client, service, service.endpoints[0], _request())

    return asyncio.run(go())


def test_every_protocol_goes_through_the_seam() -> None:
    wapipe = ServiceConfig(name="waiter", endpoints=("http://agent.test",))
    assert _call(wapipe, {"reply": {"type": "text", "text": "hi"}}).messages == [HI]
    assert "waiter: reply[0].interactive" in refused(_call, wapipe, {"reply": [_button()]})
    assert "waiter: answer: must be an object" in refused(_call, wapipe, ["hi"])

    openai = ServiceConfig(
        name="billing", endpoints=("http://agent.test",), protocol="openai", path="/v1/x"
    )
    assert _call(openai, _completion("hi")).messages == [HI]
    assert "billing: choices[0].message.content" in refused(_call, openai, _completion(None))

    python = ServiceConfig(
        name="inproc",
        endpoints=("python:tests.integration.test_agent_replies:sloppy_agent",),
        protocol="python",
    )
    assert _call(python, None).messages == [HI]
    bad = ServiceConfig(
        name="inproc",
        endpoints=("python:tests.integration.test_agent_replies:bad_agent",),
        protocol="python",
    )
    assert "inproc: reply.image: needs an id or a link" in refused(_call, bad, None)


async def sloppy_agent(request: AgentRequest) -> dict[str, Any]:
    return {"reply": {"type": "text", "text": "hi"}}


def bad_agent(request: AgentRequest) -> dict[str, Any]:
    return {"type": "image", "image": {}}


# ---------------------------------------------------------------- summary_of


def test_summary_of_checked_messages_and_odd_shapes() -> None:
    checked = normalize_reply(["hi", VALID[9], VALID[1]])
    assert summary_of(checked) == "hi\nBook a table?\n[image]"
    # the worker's own messages skip the seam; nothing they hold can raise here
    odd: list[Any] = [
        {"type": "text", "text": "bare"},
        {"type": "text", "text": None},
        {"type": "interactive", "interactive": "x"},
        {"type": "interactive", "interactive": {"body": ["x"]}},
        {"no": "type"},
        "not a dict",
        None,
    ]
    assert summary_of(odd) == "bare\n[interactive]\n[interactive]\n[None]\n[None]\n[None]"


# ---------------------------------------------------------------- fuzz

PROPERTY_SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.sampled_from(["text", "image", "interactive", "button", "reply", "", "hi"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "text", "body", "image", "id", "interactive", "action"])
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@st.composite
def extended_messages(draw: st.DrawFn) -> Any:
    """A valid Graph API object with an unknown field added at some level."""
    message = copy.deepcopy(draw(st.sampled_from(VALID)))
    node: Any = message
    while isinstance(node, dict) and draw(st.booleans()):
        children = [v for v in node.values() if isinstance(v, dict)]
        if not children:
            break
        node = draw(st.sampled_from(children))
    if isinstance(node, dict):
        node[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
    return message


@st.composite
def broken_messages(draw: st.DrawFn) -> Any:
    """A valid Graph API object with one value somewhere replaced or one key dropped."""
    message = copy.deepcopy(draw(st.sampled_from(VALID)))
    node: Any = message
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return message
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
        return message


def _holds_on_success(messages: list[dict[str, Any]]) -> None:
    assert all(isinstance(m, dict) and m["type"] in MESSAGE_TYPES for m in messages)
    assert normalize_reply(messages) == messages  # idempotent
    summary_of(messages)


def _only_bad_reply(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except AgentError as exc:
        assert exc.code == "agent_bad_reply" and exc.retryable is False, exc
        return None


@PROPERTY_SETTINGS
@given(
    raw=json_values
    | broken_messages()
    | extended_messages()
    | st.lists(broken_messages() | extended_messages() | st.text(max_size=5), max_size=3)
)
def test_normalize_raises_nothing_but_agent_bad_reply(raw: Any) -> None:
    messages = _only_bad_reply(normalize_reply, raw)
    if messages is not None:
        _holds_on_success(messages)
    answer = _only_bad_reply(wapipe_answer, {"reply": raw, "context": raw, "workflow": raw})
    if answer is not None:
        _holds_on_success(answer.messages)
    _only_bad_reply(python_answer, raw)
    _only_bad_reply(openai_answer, raw)
    _only_bad_reply(openai_answer, {"choices": [{"message": raw}]})


# ---------------------------------------------------------------- a real worker, a real database


def _worker(db_url: str, server_tmp: Path, agent: FakeAgent) -> WorkerProcess:
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    return WorkerProcess(db_url, config, server_tmp)


def test_worker_stores_the_sloppy_text_reply_normalised(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.answer = {"reply": {"type": "text", "text": "hi"}, "context": {"n": 1}}
    send_text(conn, "250788010001", "hello")
    w = _worker(db_url, server_tmp, agent)
    workers.append(w)
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 1, what="a reply")
    assert scalar(conn, "SELECT body FROM wapipe.outbox") == HI
    assert scalar(conn, "SELECT status FROM wapipe.processed_messages") == "done"
    memory = scalar(conn, "SELECT messages FROM wapipe.ai_conversation_memory")
    assert [(m["role"], m["content"]) for m in memory] == [("user", "hello"), ("assistant", "hi")]
    assert w.terminate() == 0
    log = w.output()
    assert "AttributeError" not in log
    assert '"message_handled"' in log


def test_worker_dead_letters_a_bad_reply_at_once_and_logs_it_once(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    fast_retries(conn)  # were it retried, three attempts would come within a second
    agent.answer = {"reply": ["one moment", _button()]}
    send_text(conn, "250788010002", "hello")
    w = _worker(db_url, server_tmp, agent)
    workers.append(w)
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM wapipe.dead_letters") == 1, what="a dead letter"
    )
    row = conn.execute(
        "SELECT error_code, attempts, last_error FROM wapipe.dead_letters"
    ).fetchone()
    assert row is not None
    assert row[0] == "agent_bad_reply"
    assert row[1] == 1
    assert row[2] == (
        "agent_bad_reply: waiter: reply[1].interactive.action.buttons: field required"
    )
    assert scalar(conn, "SELECT status FROM wapipe.processed_messages") == "dead"
    assert scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 0
    # the next message of the same user is not held up behind it
    agent.answer = {"reply": "fine now"}
    send_text(conn, "250788010002", "again")
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 1, what="next reply")
    assert w.terminate() == 0
    assert len(agent.calls) == 2  # one attempt each
    log = w.output()
    assert "AttributeError" not in log
    assert "unexpected_error" not in log
    assert "message_retry_scheduled" not in log
    failures = [line for line in log.splitlines() if "agent_bad_reply" in line]
    assert len(failures) == 1, failures
    assert '"message_dead_lettered"' in failures[0]

"""What an agent answered, checked at one seam before anything else looks at it.

Every protocol's answer (`wapipe` JSON, `openai` chat completion, `python` return
value) becomes an AgentReply here and nowhere else. Replies are checked against the
shapes of the Graph API message objects a business may send, with pydantic models:
the fields Meta needs must be there with the right JSON type; fields wapipe does
not know pass through unchanged (the Graph API keeps adding some), and a message
that passes is stored exactly as the agent wrote it. Meta's own limits (lengths,
counts) are left to Meta: the sender reports its refusal.

Lenient forms (README, "The `wapipe` agent protocol"), normalised before the check:
  null / ""                          -> no reply
  "hi"                               -> {"type": "text", "text": {"body": "hi"}}
  {"text": "hi"} (no type)           -> the same
  {"type": "text", "text": "hi"}     -> the same (text as a bare string: the most
                                        natural mistake; other fields are kept)
  a list of any of these             -> one message each, in order (null, "" skipped)
Anything else is refused with AgentError code `agent_bad_reply` (not retryable) whose
message names the offending field, e.g. `reply[1].interactive.action.buttons: field
required`. Error messages name fields and schema values only, never what the agent
wrote (it may quote the user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from worker.errors import AgentError

__all__ = [
    "INTERACTIVE_TYPES",
    "MESSAGE_TYPES",
    "AgentReply",
    "normalize_reply",
    "openai_answer",
    "python_answer",
    "text_message",
    "wapipe_answer",
]


@dataclass(frozen=True)
class AgentReply:
    messages: list[dict[str, Any]]
    context: dict[str, Any] = field(default_factory=dict)
    workflow: dict[str, Any] | None = None
    # {"reason": str | None, "minutes": int | None}: hand the conversation to a human
    handoff: dict[str, Any] | None = None
    # a message (normally a template) the sender sends instead of the reply when the
    # 24-hour window has closed by the time it goes out
    outside_window: dict[str, Any] | None = None


def text_message(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


# ---------------------------------------------------------------- shapes
# strict: a JSON string must be a string (no 1 -> "1"), so what passes is stored as is.

T = TypeVar("T")
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
NonEmptyList = Annotated[list[T], Field(min_length=1)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Text(_Shape):
    body: NonEmpty
    preview_url: bool | None = None


class _Media(_Shape):
    id: NonEmpty | None = None
    link: NonEmpty | None = None

    @model_validator(mode="after")
    def _has_source(self) -> _Media:
        if self.id is None and self.link is None:
            raise PydanticCustomError("media_source", "needs an id or a link")
        return self


class _CaptionedMedia(_Media):
    caption: str | None = None


class _Document(_CaptionedMedia):
    filename: str | None = None


class _Location(_Shape):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class _ContactName(_Shape):
    formatted_name: NonEmpty


class _Contact(_Shape):
    name: _ContactName
    phones: list[dict[str, Any]] | None = None
    emails: list[dict[str, Any]] | None = None
    urls: list[dict[str, Any]] | None = None
    addresses: list[dict[str, Any]] | None = None


class _Language(_Shape):
    code: NonEmpty


class _Component(_Shape):
    type: NonEmpty
    parameters: list[dict[str, Any]] | None = None


class _Template(_Shape):
    name: NonEmpty
    language: _Language
    components: list[_Component] | None = None


class _Reaction(_Shape):
    message_id: NonEmpty
    emoji: str  # "" takes a reaction back


class _ReplyTo(_Shape):
    message_id: NonEmpty


class _Message(_Shape):
    type: str
    context: _ReplyTo | None = None  # the message this one answers (a quote bubble)


class _TextMessage(_Message):
    text: _Text


class _ImageMessage(_Message):
    image: _CaptionedMedia


class _AudioMessage(_Message):
    audio: _Media


class _VideoMessage(_Message):
    video: _CaptionedMedia


class _DocumentMessage(_Message):
    document: _Document


class _StickerMessage(_Message):
    sticker: _Media


class _LocationMessage(_Message):
    location: _Location


class _ContactsMessage(_Message):
    contacts: NonEmptyList[_Contact]


class _InteractiveMessage(_Message):
    interactive: dict[str, Any]  # its own shape depends on interactive.type: see below


class _TemplateMessage(_Message):
    template: _Template


class _ReactionMessage(_Message):
    reaction: _Reaction


MESSAGE_SHAPES: dict[str, type[_Message]] = {
    "text": _TextMessage,
    "image": _ImageMessage,
    "audio": _AudioMessage,
    "video": _VideoMessage,
    "document": _DocumentMessage,
    "sticker": _StickerMessage,
    "location": _LocationMessage,
    "contacts": _ContactsMessage,
    "interactive": _InteractiveMessage,
    "template": _TemplateMessage,
    "reaction": _ReactionMessage,
}
MESSAGE_TYPES = tuple(MESSAGE_SHAPES)


# interactive objects: header, body and footer are common; the action depends on the type


class _Header(_Shape):
    type: Literal["text", "image", "video", "document"]
    text: str | None = None


class _BodyText(_Shape):
    text: NonEmpty


class _Footer(_Shape):
    text: str


class _Interactive(_Shape):
    type: str
    header: _Header | None = None
    body: _BodyText | None = None
    footer: _Footer | None = None


class _NeedsBody(_Interactive):
    body: _BodyText


class _ButtonReply(_Shape):
    id: NonEmpty
    title: NonEmpty


class _Button(_Shape):
    type: Literal["reply"]
    reply: _ButtonReply


class _ButtonAction(_Shape):
    buttons: NonEmptyList[_Button]


class _ButtonInteractive(_NeedsBody):
    action: _ButtonAction


class _Row(_Shape):
    id: NonEmpty
    title: NonEmpty
    description: str | None = None


class _Section(_Shape):
    title: str | None = None
    rows: NonEmptyList[_Row]


class _ListAction(_Shape):
    button: NonEmpty
    sections: NonEmptyList[_Section]


class _ListInteractive(_NeedsBody):
    action: _ListAction


class _CtaUrlParameters(_Shape):
    display_text: NonEmpty
    url: NonEmpty


class _CtaUrlAction(_Shape):
    name: Literal["cta_url"]
    parameters: _CtaUrlParameters


class _CtaUrlInteractive(_NeedsBody):
    action: _CtaUrlAction


class _FlowParameters(_Shape):
    flow_message_version: NonEmpty
    flow_cta: NonEmpty
    flow_id: NonEmpty | None = None
    flow_name: NonEmpty | None = None
    flow_token: str | None = None
    flow_action: str | None = None
    flow_action_payload: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _names_a_flow(self) -> _FlowParameters:
        if self.flow_id is None and self.flow_name is None:
            raise PydanticCustomError("flow_ref", "needs a flow_id or a flow_name")
        return self


class _FlowAction(_Shape):
    name: Literal["flow"]
    parameters: _FlowParameters


class _FlowInteractive(_NeedsBody):
    action: _FlowAction


class _ProductAction(_Shape):
    catalog_id: NonEmpty
    product_retailer_id: NonEmpty


class _ProductInteractive(_Interactive):
    action: _ProductAction


class _ProductItem(_Shape):
    product_retailer_id: NonEmpty


class _ProductSection(_Shape):
    title: str | None = None
    product_items: NonEmptyList[_ProductItem]


class _ProductListAction(_Shape):
    catalog_id: NonEmpty
    sections: NonEmptyList[_ProductSection]


class _ProductListInteractive(_NeedsBody):
    header: _Header
    action: _ProductListAction


class _SendLocationAction(_Shape):
    name: Literal["send_location"]


class _LocationRequestInteractive(_NeedsBody):
    action: _SendLocationAction


INTERACTIVE_SHAPES: dict[str, type[_Interactive]] = {
    "button": _ButtonInteractive,
    "list": _ListInteractive,
    "cta_url": _CtaUrlInteractive,
    "flow": _FlowInteractive,
    "product": _ProductInteractive,
    "product_list": _ProductListInteractive,
    "location_request_message": _LocationRequestInteractive,
}
INTERACTIVE_TYPES = tuple(INTERACTIVE_SHAPES)


# wapipe protocol: the answer around the reply


class _Workflow(_Shape):
    action: NonEmpty  # which actions exist is complete_message's rule, not repeated here


# openai protocol: the part of a chat completion wapipe reads


class _ChatMessage(_Shape):
    content: str


class _Choice(_Shape):
    message: _ChatMessage


class _ChatCompletion(_Shape):
    choices: NonEmptyList[_Choice]


# ---------------------------------------------------------------- errors

# pydantic's words for what went wrong, in JSON's words
_PROBLEMS = {
    "missing": "field required",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be an array",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
}


def bad_reply(agent: str, where: str, problem: str) -> AgentError:
    return AgentError(
        f"{agent}: {where}: {problem}",
        code="agent_bad_reply",
        context={"field": where},
        recoverable=False,
        retryable=False,
    )


def _path(where: str, loc: tuple[int | str, ...]) -> str:
    out = where
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "answer"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _check(agent: str, where: str, shape: type[BaseModel], value: Any) -> None:
    """value against shape, or agent_bad_reply naming the first offending field."""
    try:
        shape.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        first = errors[0]
        problem = _PROBLEMS.get(first["type"]) or first["msg"]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        problem = problem[:1].lower() + problem[1:] + more
        # from None: pydantic's own text quotes the input, which may quote the user
        raise bad_reply(agent, _path(where, first["loc"]), problem) from None
    except (RecursionError, TypeError, ValueError) as exc:  # pydantic keeps these, but be sure
        raise bad_reply(agent, where, f"cannot be checked ({type(exc).__name__})") from exc


def _known_type(agent: str, where: str, value: Any, known: tuple[str, ...]) -> str:
    if value is None:
        raise bad_reply(agent, where, "field required")
    if not isinstance(value, str):
        raise bad_reply(agent, where, f"must be a string, got {_json_type(value)}")
    if value not in known:
        # the agent's word is shown only when it cannot be anything but a type name
        named = f"{value!r} " if value.isidentifier() and len(value) <= 40 else ""
        raise bad_reply(agent, where, f"unknown type {named}(known: {', '.join(known)})")
    return value


# ---------------------------------------------------------------- the seam


def check_message(message: dict[str, Any], *, agent: str = "agent", where: str = "reply") -> None:
    """One Graph API message object (already normalised) against its shape."""
    kind = _known_type(agent, f"{where}.type", message.get("type"), MESSAGE_TYPES)
    _check(agent, where, MESSAGE_SHAPES[kind], message)
    if kind == "interactive":
        inner = message["interactive"]
        sub = _known_type(agent, f"{where}.interactive.type", inner.get("type"), INTERACTIVE_TYPES)
        _check(agent, f"{where}.interactive", INTERACTIVE_SHAPES[sub], inner)


def _message(item: Any, agent: str, where: str) -> dict[str, Any] | None:
    """One reply item as a checked message object (lenient forms normalised), or None."""
    if item is None or item == "":
        return None
    if isinstance(item, str):
        return text_message(item)  # valid as built: a non-empty body
    if not isinstance(item, dict):
        raise bad_reply(agent, where, f"must be text or a message object, got {_json_type(item)}")
    message: dict[str, Any] = item
    if "type" not in message and isinstance(message.get("text"), str):
        message = text_message(message["text"])
    elif message.get("type") == "text" and isinstance(message.get("text"), str):
        message = {**message, "text": {"body": message["text"]}}
    check_message(message, agent=agent, where=where)
    return message


def normalize_reply(
    raw: Any, *, agent: str = "agent", where: str = "reply"
) -> list[dict[str, Any]]:
    """A reply (text, a message object, a list of them, null) -> checked message objects.

    Raises AgentError `agent_bad_reply` (not retryable) naming the offending field.
    """
    if not isinstance(raw, list):
        message = _message(raw, agent, where)
        return [] if message is None else [message]
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if isinstance(item, list):
            raise bad_reply(agent, f"{where}[{i}]", "a list inside a list")
        message = _message(item, agent, f"{where}[{i}]")
        if message is not None:
            out.append(message)
    return out


def _context(raw: Any, agent: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_reply(agent, "context", f"must be an object, got {_json_type(raw)}")
    return raw


def _workflow(raw: Any, agent: str) -> dict[str, Any] | None:
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise bad_reply(agent, "workflow", f"must be an object, got {_json_type(raw)}")
    _check(agent, "workflow", _Workflow, raw)
    return raw


def _handoff(raw: Any, agent: str, where: str = "handoff") -> dict[str, Any] | None:
    """{"reason": text | null, "minutes": positive integer | null}; true means no details."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return {"reason": None, "minutes": None}
    if not isinstance(raw, dict):
        raise bad_reply(agent, where, f"must be an object, got {_json_type(raw)}")
    reason, minutes = raw.get("reason"), raw.get("minutes")
    if reason is not None and not isinstance(reason, str):
        raise bad_reply(agent, f"{where}.reason", f"must be a string, got {_json_type(reason)}")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1
    ):
        raise bad_reply(agent, f"{where}.minutes", "must be a positive integer")
    return {"reason": reason, "minutes": minutes}


def _outside_window(raw: Any, agent: str, where: str = "outside_window") -> dict[str, Any] | None:
    return None if raw is None else _message(raw, agent, where)


def wapipe_answer(body: Any, *, agent: str = "agent") -> AgentReply:
    """A `wapipe` protocol answer {"reply", "context", "workflow", "handoff",
    "outside_window"} (other keys ignored)."""
    if not isinstance(body, dict):
        raise bad_reply(agent, "answer", f"must be an object, got {_json_type(body)}")
    return AgentReply(
        normalize_reply(body.get("reply"), agent=agent),
        _context(body.get("context"), agent),
        _workflow(body.get("workflow"), agent),
        _handoff(body.get("handoff"), agent),
        _outside_window(body.get("outside_window"), agent),
    )


_ANSWER_KEYS = frozenset(("reply", "context", "workflow", "handoff", "outside_window"))


def python_answer(answer: Any, *, agent: str = "agent") -> AgentReply:
    """What a `python` agent returned: an AgentReply, an answer dict, or just the reply."""
    if isinstance(answer, AgentReply):
        return AgentReply(
            normalize_reply(answer.messages, agent=agent),
            _context(answer.context, agent),
            _workflow(answer.workflow, agent),
            _handoff(answer.handoff, agent),
            _outside_window(answer.outside_window, agent),
        )
    # a message object has a type; an answer never does
    if isinstance(answer, dict) and "type" not in answer and answer.keys() & _ANSWER_KEYS:
        return wapipe_answer(answer, agent=agent)
    return AgentReply(normalize_reply(answer, agent=agent))


def openai_answer(body: Any, *, agent: str = "agent") -> AgentReply:
    """An OpenAI-compatible chat completion: choices[0].message.content as a text reply."""
    _check(agent, "", _ChatCompletion, body)
    content: str = body["choices"][0]["message"]["content"]
    # wapipe's field convention for OpenAI-compatible servers: a top-level "wapipe"
    # object with the `wapipe` protocol's "handoff" / "outside_window" (README)
    extra = body.get("wapipe") if isinstance(body, dict) else None
    if extra is not None and not isinstance(extra, dict):
        raise bad_reply(agent, "wapipe", f"must be an object, got {_json_type(extra)}")
    extra = extra or {}
    return AgentReply(
        [text_message(content)] if content else [],
        handoff=_handoff(extra.get("handoff"), agent, "wapipe.handoff"),
        outside_window=_outside_window(extra.get("outside_window"), agent, "wapipe.outside_window"),
    )

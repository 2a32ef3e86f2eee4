"""Structured logging shared by every wapipe process.

One JSON object per line (timestamp, level, process, pid, correlation_id,
logger, event and fields), or a human format with WAPIPE_LOG_FORMAT=console.
Whatever is logged goes through one redaction step first (invariant 7): digit
runs that look like phone numbers are masked (+250788***456) and keys that may
hold a message body are blanked. The standard library's loggers (uvicorn,
psycopg) are routed through the same processors.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from wapipe.settings import LogSettings

__all__ = [
    "bind_correlation_id",
    "configure_logging",
    "debug_enabled",
    "get_logger",
    "mask_person",
    "mask_phone",
]

# 10-15 digits not glued to other digits, optionally with a leading "+".
_PHONE_RE = re.compile(r"(?<![0-9])\+?([0-9]{10,15})(?![0-9])")
# A business-scoped user id: country code, a dot, optionally ENT., then the id
# (RW.4471902245518830, RW.ENT.9903318274405126).
_BSUID_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\.(?:ENT\.)?)([A-Za-z0-9]{4})([A-Za-z0-9]{3,})")
# Keys whose values name a person: masked whatever their shape.
_PERSON_KEYS = frozenset({"username", "profile_name"})
_REDACTED = "[redacted]"
# Keys whose values may carry what a user wrote or the raw webhook.
_SECRET_KEYS = frozenset(
    {"body", "text", "payload", "content", "caption", "raw_body", "message_body", "request_body"}
)
# Keys structlog itself owns; their values are never phone numbers.
_TRUSTED_KEYS = frozenset({"timestamp", "level", "pid", "process", "logger"})


def mask_phone(s: str) -> str:
    """Every phone number and business-scoped user id in s masked:
    250788123456 -> +250788***456, RW.4471902245518830 -> RW.4471***830."""
    s = _PHONE_RE.sub(lambda m: f"+{m.group(1)[:6]}***{m.group(1)[-3:]}", s)
    if "." in s:
        s = _BSUID_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(3)[-3:]}", s)
    return s


def mask_person(value: Any) -> str:
    """A username or profile name: its first two characters, then ***."""
    text = str(value)
    return f"{text[:2]}***" if text else text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return mask_phone(str(value)) if abs(value) >= 10**9 else value
    if isinstance(value, Mapping):
        return {k: _redact_field(str(k).lower(), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v) for v in value]
    return mask_phone(repr(value))


def _redact_field(key: str, value: Any) -> Any:
    if key in _SECRET_KEYS:
        return _REDACTED
    if key in _PERSON_KEYS and value is not None:
        return mask_person(value)
    return _redact(value)


def _redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in _TRUSTED_KEYS:
            continue
        event_dict[key] = _redact_field(key.lower(), event_dict[key])
    return event_dict


class _AddProcess:
    def __init__(self, process: str) -> None:
        self.process = process

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("process", self.process)
        event_dict.setdefault("pid", os.getpid())
        return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard library's lines, written to whatever sys.stderr is when the line is
    written (as _NamedWriteLogger's are): a handler holding the stream of the moment it
    was made wrote into a closed file once that stream was swapped and closed (a test's
    capture), and printed "--- Logging error ---" instead of the line."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _NamedWriteLogger(structlog.WriteLogger):
    def __init__(self, name: str) -> None:
        super().__init__(sys.stderr)  # looked up now: tests swap sys.stderr
        self.name = name


def _named_write_logger(*args: Any) -> _NamedWriteLogger:
    return _NamedWriteLogger(str(args[0]) if args else "")


def _add_logger_name(
    logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.setdefault("logger", getattr(logger, "name", ""))
    return event_dict


# The level configure_logging set; until it runs every line is written.
_level = logging.DEBUG


def debug_enabled() -> bool:
    """Whether DEBUG lines are written: a hot path asks before it builds one (a filtered
    call through a module's lazy logger still binds a new logger)."""
    return _level <= logging.DEBUG


def configure_logging(process: str, settings: LogSettings | None = None) -> None:
    """Set up structlog and the standard library for this process (idempotent).

    Without settings: WAPIPE_LOG_FORMAT / WAPIPE_LOG_LEVEL of the environment."""
    settings = settings or LogSettings.from_env()
    console = settings.console
    level_name = settings.level
    level = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    global _level
    _level = level
    # For the standard library's records (uvicorn, psycopg, …).
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _AddProcess(process),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    # wapipe's own lines skip the standard library: a level-filtering structlog
    # logger renders and writes them itself (a line dropped by the level costs a
    # method call; one written costs a third of the stdlib route, which matters at
    # one line per webhook).
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            _AddProcess(process),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,  # last before rendering: covers tracebacks too
            renderer,
        ],
        logger_factory=_named_write_logger,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.set_name("wapipe")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "wapipe"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own handlers when it configures logging; ours are enough.
    # (uvicorn.access is left as the server set it: its lines carry query strings.)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry `logger`: name (configured lazily)."""
    return structlog.get_logger(name)


def bind_correlation_id(cid: str) -> None:
    """Attach cid to every log line of the current context (task / request)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=cid)


if not structlog.is_configured():
    # Until the process calls configure_logging (a bench, a script importing worker
    # code), lines still leave masked and redacted, as JSON on stderr.
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )

"""Worker configuration: the WAPIPE_CONFIG TOML file, or a built-in default.

The default points at the demo agent (`wapipe demo-agent`, port 8090), so
`make run` answers messages offline. Every key is optional; see README,
"Worker and agents", for the whole file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wapipe.errors import WapipeError
from wapipe.settings import WorkerSettings, worker_config_path

# Timeout class per service kind (ARCHITECTURE.md, Configuration).
KIND_TIMEOUT_SECONDS = {"default": 30.0, "agent": 120.0, "payment": 60.0, "media": 300.0}
PROTOCOLS = ("wapipe", "openai", "python")
# A `python` service runs in the worker process: its one endpoint is this prefix
# plus the callable's import path ("python:package.module:function").
PYTHON_ENDPOINT_PREFIX = "python:"
FALLBACKS = ("retry", "reply")


@dataclass(frozen=True)
class BreakerPolicy:
    """Overrides of the breaker.<kind>.* settings; None keeps the setting."""

    failure_rate: float | None = None
    open_seconds: int | None = None
    window_seconds: int | None = None
    min_calls: int | None = None
    half_open_calls: int | None = None


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    endpoints: tuple[str, ...]
    kind: str = "agent"
    protocol: str = "wapipe"
    path: str = "/agent"
    health_path: str = "/healthz"
    timeout_seconds: float | None = None
    fallback: str = "retry"
    fallback_text: str = (
        "Thanks for your message! We can't answer right now; we'll get back to you shortly."
    )
    api_key_env: str = ""
    model: str = ""
    system_prompt: str = ""
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    # longest a message waits for this service while it is unavailable before it
    # goes to the dead letters; None: the retry.max_wait_seconds setting (3600 s)
    max_wait_seconds: int | None = None
    # A burst answered once (README, "A burst answered once"): texts of one user queued
    # behind the text being answered, each sent at most this long after the one before,
    # join its agent turn (one call, one reply). 0 (the default): every message is its
    # own turn, as an agent written for one message per request expects; 10 suits
    # people typing a thought in several messages.
    coalesce_seconds: float = 0.0
    # > 0: before calling the agent, wait until the user has been quiet this long so
    # texts still being typed join the turn too, but never longer than
    # debounce_max_seconds after the claim. Off by default: it delays every reply.
    debounce_seconds: float = 0.0
    debounce_max_seconds: float = 10.0
    # mark the user's message read and show "typing…" while this service works on it
    typing: bool = True
    # `openai` protocol: images go to the model as image_url parts, wav/mp3 audio as input_audio
    multimodal: bool = False

    @property
    def in_process(self) -> bool:
        """A `python` service: called in the worker process, no HTTP, no health checks."""
        return self.protocol == "python"

    @property
    def call_timeout_seconds(self) -> float:
        return self.timeout_seconds or KIND_TIMEOUT_SECONDS[self.kind]


@dataclass(frozen=True)
class TypingConfig:
    """The read receipt + typing indicator ([typing] in WAPIPE_CONFIG; per service: typing)."""

    # Meta drops the indicator after 25 s: shown again this often while the agent works
    refresh_seconds: float = 20.0
    # one call's own budget: a slow Graph API never holds the message up
    timeout_seconds: float = 5.0
    # turns shown at once by one worker; past it a new turn gets no indicator
    # ("busy"): in a burst the calls would only queue for their connections and
    # arrive after the reply anyway
    max_pending: int = 64


@dataclass(frozen=True)
class MediaConfig:
    """Media the agent can see ([media] in WAPIPE_CONFIG)."""

    enabled: bool = True
    # larger files are described to the agent, not downloaded
    max_bytes: int = 16 * 1024 * 1024
    # the ingress as agents reach it: signed URLs are {public_url}/media/{id}?exp=&sig=
    public_url: str = "http://127.0.0.1:8080"
    url_ttl_seconds: int = 3600
    timeout_seconds: float = KIND_TIMEOUT_SECONDS["media"]
    breaker_name: str = "whatsapp-media"


@dataclass(frozen=True)
class HandoffConfig:
    """Handing a conversation to a human by keyword ([handoff] in WAPIPE_CONFIG; issue 17)."""

    # whole words (as routing rules match them) that hand the conversation to staff
    keywords: tuple[str, ...] = ()
    minutes: int = 60
    # sent once when a keyword hands the conversation off ("" sends nothing)
    notice: str = "Thanks, a person from our team will answer you here shortly."


@dataclass(frozen=True)
class RoutingRule:
    keywords: tuple[str, ...]
    agent: str


@dataclass(frozen=True)
class WorkerConfig:
    services: tuple[ServiceConfig, ...]
    default_agent: str
    rules: tuple[RoutingRule, ...] = ()
    concurrency: int = 8
    batch: int = 10
    lock_seconds: int = 30
    poll_interval_seconds: float = 1.0
    grace_seconds: float = 20.0
    heartbeat_interval_seconds: float = 5.0
    health_interval_seconds: float = 30.0
    rate_limit_max: int = 30
    rate_limit_per: str = "1 minute"
    rate_limit_notice: str = (
        "You're sending messages faster than we can answer. Please slow down a little."
    )
    typing: TypingConfig = field(default_factory=TypingConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    handoff: HandoffConfig = field(default_factory=HandoffConfig)

    def service(self, name: str) -> ServiceConfig:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


def default_config(demo_agent_url: str | None = None) -> WorkerConfig:
    """The demo agent alone (Settings.worker.demo_agent_url; default: the environment's)."""
    url = demo_agent_url or WorkerSettings.from_env().demo_agent_url
    return WorkerConfig(
        services=(ServiceConfig(name="waiter", endpoints=(url,)),),
        default_agent="waiter",
    )


def load_config(path: str | None = None, *, demo_agent_url: str | None = None) -> WorkerConfig:
    """`path` (default: WAPIPE_CONFIG) parsed and checked; the built-in default without one."""
    path = path if path is not None else worker_config_path()
    if not path:
        return default_config(demo_agent_url)
    try:
        raw = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise WapipeError(f"cannot read WAPIPE_CONFIG {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise WapipeError(f"WAPIPE_CONFIG {path} is not valid TOML: {exc}") from exc
    return parse_config(raw, source=path, demo_agent_url=demo_agent_url)


def parse_config(
    raw: dict[str, Any], source: str = "config", demo_agent_url: str | None = None
) -> WorkerConfig:
    base = default_config(demo_agent_url)
    services_raw = raw.get("services")
    services = tuple(_service(s, source) for s in services_raw) if services_raw else base.services
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise WapipeError(f"{source}: service names must be unique, got {names}")
    routing = raw.get("routing", {})
    default_agent = str(routing.get("default_agent", services[0].name))
    rules = tuple(
        RoutingRule(
            keywords=tuple(str(k).lower() for k in r.get("keywords", ())),
            agent=str(r["agent"]),
        )
        for r in routing.get("rules", ())
    )
    for agent in [default_agent, *(r.agent for r in rules)]:
        if agent not in names:
            raise WapipeError(f"{source}: routing names agent {agent!r}, not among {names}")
    w = raw.get("worker", {})
    rl = raw.get("rate_limit", {})
    return WorkerConfig(
        services=services,
        default_agent=default_agent,
        rules=rules,
        concurrency=int(w.get("concurrency", base.concurrency)),
        batch=int(w.get("batch", base.batch)),
        lock_seconds=int(w.get("lock_seconds", base.lock_seconds)),
        poll_interval_seconds=float(w.get("poll_interval_seconds", base.poll_interval_seconds)),
        grace_seconds=float(w.get("grace_seconds", base.grace_seconds)),
        heartbeat_interval_seconds=float(
            w.get("heartbeat_interval_seconds", base.heartbeat_interval_seconds)
        ),
        health_interval_seconds=float(
            w.get("health_interval_seconds", base.health_interval_seconds)
        ),
        rate_limit_max=int(rl.get("max_per_window", base.rate_limit_max)),
        rate_limit_per=str(rl.get("per", base.rate_limit_per)),
        rate_limit_notice=str(rl.get("notice", base.rate_limit_notice)),
        typing=_typing(raw.get("typing", {}), source),
        media=_media(raw.get("media", {}), source),
        handoff=_handoff(raw.get("handoff", {}), source),
    )


def _handoff(raw: dict[str, Any], source: str) -> HandoffConfig:
    base = HandoffConfig()
    cfg = HandoffConfig(
        keywords=tuple(str(k).lower() for k in raw.get("keywords", base.keywords)),
        minutes=int(raw.get("minutes", base.minutes)),
        notice=str(raw.get("notice", base.notice)),
    )
    if cfg.minutes < 1:
        raise WapipeError(f"{source}: [handoff] minutes must be at least 1")
    return cfg


def _typing(raw: dict[str, Any], source: str) -> TypingConfig:
    base = TypingConfig()
    cfg = TypingConfig(
        refresh_seconds=float(raw.get("refresh_seconds", base.refresh_seconds)),
        timeout_seconds=float(raw.get("timeout_seconds", base.timeout_seconds)),
        max_pending=int(raw.get("max_pending", base.max_pending)),
    )
    if cfg.refresh_seconds <= 0 or cfg.timeout_seconds <= 0:
        raise WapipeError(f"{source}: [typing] refresh_seconds and timeout_seconds must be > 0")
    if cfg.max_pending < 0:
        raise WapipeError(f"{source}: [typing] max_pending must be >= 0")
    return cfg


def _media(raw: dict[str, Any], source: str) -> MediaConfig:
    base = MediaConfig()
    cfg = MediaConfig(
        enabled=bool(raw.get("enabled", base.enabled)),
        max_bytes=int(raw.get("max_bytes", base.max_bytes)),
        public_url=str(raw.get("public_url", base.public_url)).rstrip("/"),
        url_ttl_seconds=int(raw.get("url_ttl_seconds", base.url_ttl_seconds)),
        timeout_seconds=float(raw.get("timeout_seconds", base.timeout_seconds)),
    )
    if cfg.max_bytes < 1 or cfg.url_ttl_seconds < 1 or cfg.timeout_seconds <= 0:
        raise WapipeError(
            f"{source}: [media] max_bytes, url_ttl_seconds and timeout_seconds must be positive"
        )
    return cfg


def _service(raw: dict[str, Any], source: str) -> ServiceConfig:
    name = str(raw.get("name", ""))
    if not name:
        raise WapipeError(f"{source}: every [[services]] needs a name")
    protocol = str(raw.get("protocol", "wapipe"))
    if protocol not in PROTOCOLS:
        raise WapipeError(f"{source}: service {name!r} protocol must be one of {PROTOCOLS}")
    if protocol == "python":
        target = str(raw.get("callable", ""))
        module, _, attr = target.partition(":")
        if not module or not attr:
            raise WapipeError(
                f'{source}: service {name!r} (protocol "python") needs '
                f'callable = "package.module:function", got {target!r}'
            )
        endpoints = [PYTHON_ENDPOINT_PREFIX + target]
    else:
        endpoints = raw.get("endpoints") or ([raw["url"]] if "url" in raw else [])
    if not endpoints:
        raise WapipeError(f'{source}: service {name!r} needs endpoints = ["http://..."]')
    kind = str(raw.get("kind", "agent"))
    if kind not in KIND_TIMEOUT_SECONDS:
        raise WapipeError(
            f"{source}: service {name!r} kind must be one of {list(KIND_TIMEOUT_SECONDS)}"
        )
    fallback = str(raw.get("fallback", "retry"))
    if fallback not in FALLBACKS:
        raise WapipeError(f"{source}: service {name!r} fallback must be one of {FALLBACKS}")
    b = raw.get("breaker", {})
    max_wait = int(raw["max_wait_seconds"]) if "max_wait_seconds" in raw else None
    if max_wait is not None and max_wait <= 0:
        raise WapipeError(f"{source}: service {name!r} max_wait_seconds must be positive")
    burst = ServiceConfig(name=name, endpoints=())
    coalesce = float(raw.get("coalesce_seconds", burst.coalesce_seconds))
    debounce = float(raw.get("debounce_seconds", burst.debounce_seconds))
    debounce_max = float(raw.get("debounce_max_seconds", burst.debounce_max_seconds))
    if coalesce < 0 or debounce < 0 or debounce_max < 0:
        raise WapipeError(
            f"{source}: service {name!r} coalesce_seconds, debounce_seconds and "
            "debounce_max_seconds must be >= 0"
        )
    if debounce > 0 and coalesce <= 0:
        raise WapipeError(f"{source}: service {name!r} debounce_seconds needs coalesce_seconds > 0")
    defaults = ServiceConfig(name=name, endpoints=())
    return ServiceConfig(
        name=name,
        endpoints=tuple(str(e).rstrip("/") for e in endpoints),
        kind=kind,
        protocol=protocol,
        path=str(raw.get("path", "/v1/chat/completions" if protocol == "openai" else "/agent")),
        health_path=str(raw.get("health_path", defaults.health_path)),
        timeout_seconds=float(raw["timeout_seconds"]) if "timeout_seconds" in raw else None,
        fallback=fallback,
        fallback_text=str(raw.get("fallback_text", defaults.fallback_text)),
        api_key_env=str(raw.get("api_key_env", "")),
        model=str(raw.get("model", "")),
        system_prompt=str(raw.get("system_prompt", "")),
        breaker=BreakerPolicy(
            failure_rate=float(b["failure_rate"]) if "failure_rate" in b else None,
            open_seconds=int(b["open_seconds"]) if "open_seconds" in b else None,
            window_seconds=int(b["window_seconds"]) if "window_seconds" in b else None,
            min_calls=int(b["min_calls"]) if "min_calls" in b else None,
            half_open_calls=int(b["half_open_calls"]) if "half_open_calls" in b else None,
        ),
        max_wait_seconds=max_wait,
        coalesce_seconds=coalesce,
        debounce_seconds=debounce,
        debounce_max_seconds=debounce_max,
        typing=bool(raw.get("typing", defaults.typing)),
        multimodal=bool(raw.get("multimodal", defaults.multimodal)),
    )

"""Settings read from the environment: the one module that reads it.

Every other module gets its settings passed down (a `Settings`, or one of its
groups) from an entry point (the CLI, `python -m worker.sender`, the ingress's
lifespan). Each variable is listed in README.md, Configuration; tests/unit's
layering test holds both rules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from wapipe.errors import WapipeError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DB_DIR = PROJECT_ROOT / "db"
DEFAULT_DB_PORT = 54329
DEFAULT_DB_NAME = "wapipe"
DB_SUPERUSER = "postgres"
DEFAULT_DEMO_AGENT_PORT = 8090
DEFAULT_METRICS_PORT = 9464
DEFAULT_PLAYGROUND_PORT = 8070
# prometheus_client's own variable: where each process of a multi-process ingress
# writes its metrics (read by prometheus_client itself as well).
PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
HEALTH_THRESHOLDS = "WAPIPE_HEALTH_THRESHOLDS"

Environ = Mapping[str, str]


def environ() -> dict[str, str]:
    """A copy of this process's environment (for a child process's `env=`)."""
    return dict(os.environ)


def export(name: str, value: str) -> None:
    """Set a variable in this process's environment, for the child processes it starts."""
    os.environ[name] = value


def mask_url(url: str) -> str:
    """The URL with its password replaced by *** (safe to print)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _env(env: Environ | None) -> Environ:
    return os.environ if env is None else env


def _int(env: Environ, name: str, default: int) -> int:
    raw = env.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise WapipeError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Environ, name: str, default: float) -> float:
    raw = env.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        raise WapipeError(f"{name} must be a number, got {raw!r}") from None


# -- the local cluster -----------------------------------------------------------


def pg_bindir(pg_major: str, env: Environ | None = None) -> Path:
    """WAPIPE_PG_BINDIR, else Debian's folder of that major version's server programs."""
    return Path(_env(env).get("WAPIPE_PG_BINDIR", f"/usr/lib/postgresql/{pg_major}/bin"))


@dataclass(frozen=True)
class ClusterSettings:
    """Where the project's own PostgreSQL cluster lives and listens."""

    home: Path
    port: int
    database: str
    pg_major: str = "15"
    pgdata: Path | None = None  # WAPIPE_PGDATA; None: home/pgdata

    @property
    def data_dir(self) -> Path:
        return self.pgdata or self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{DB_SUPERUSER}@127.0.0.1:{self.port}/{self.database}"


def cluster_settings(env: Environ | None = None) -> ClusterSettings:
    env = _env(env)
    pgdata = env.get("WAPIPE_PGDATA", "")
    return ClusterSettings(
        home=Path(env.get("WAPIPE_HOME", str(PROJECT_ROOT / ".wapipe"))),
        port=_int(env, "WAPIPE_DB_PORT", DEFAULT_DB_PORT),
        database=env.get("WAPIPE_DB_NAME", DEFAULT_DB_NAME),
        pg_major=env.get("WAPIPE_PG_MAJOR", "15"),
        pgdata=Path(pgdata) if pgdata else None,
    )


def database_url(env: Environ | None = None) -> str:
    """DATABASE_URL when set, else the local cluster's URL."""
    return _env(env).get("DATABASE_URL") or cluster_settings(env).url


def uses_local_cluster(env: Environ | None = None) -> bool:
    """No DATABASE_URL: wapipe runs its own cluster (`wapipe db up`)."""
    return not _env(env).get("DATABASE_URL")


# -- groups ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogSettings:
    """WAPIPE_LOG_FORMAT (json or console) and WAPIPE_LOG_LEVEL."""

    console: bool = False
    level: str = "INFO"

    @classmethod
    def from_env(cls, env: Environ | None = None) -> LogSettings:
        env = _env(env)
        return cls(
            console=env.get("WAPIPE_LOG_FORMAT", "json").lower() == "console",
            level=env.get("WAPIPE_LOG_LEVEL", "INFO").upper(),
        )


@dataclass(frozen=True)
class SenderSettings:
    """The outbox sender's tunables (WAPIPE_SEND_*)."""

    batch: int = 20
    lock_seconds: int = 30
    rate_per_second: int = 80  # per business number (Meta's default throughput)
    http_timeout_seconds: float = 10.0
    idle_poll_seconds: float = 0.5  # nothing to send: look again after this
    breaker_wait_seconds: float = 1.0  # breaker open: look again after this
    error_pause_seconds: float = 2.0  # database unreachable: retry after this
    breaker_name: str = "whatsapp-graph"

    @classmethod
    def from_env(cls, env: Environ | None = None) -> SenderSettings:
        env = _env(env)
        return cls(
            batch=_int(env, "WAPIPE_SEND_BATCH", 20),
            lock_seconds=_int(env, "WAPIPE_SEND_LOCK_SECONDS", 30),
            rate_per_second=_int(env, "WAPIPE_SEND_RATE_PER_SECOND", 80),
            http_timeout_seconds=_float(env, "WAPIPE_SEND_HTTP_TIMEOUT_SECONDS", 10.0),
            idle_poll_seconds=_float(env, "WAPIPE_SEND_POLL_SECONDS", 0.5),
        )

    @property
    def send_budget_seconds(self) -> float:
        """How long after a claim a batch may still start a send (the lease must outlive it)."""
        return max(self.lock_seconds - self.http_timeout_seconds - 2.0, 0.5)


@dataclass(frozen=True)
class WorkerSettings:
    """The worker's metrics endpoint and the demo agent it talks to without a config."""

    metrics_host: str = "127.0.0.1"
    metrics_port: int = DEFAULT_METRICS_PORT  # 0: no endpoint
    metrics_refresh_seconds: float = 15.0
    demo_agent_port: int = DEFAULT_DEMO_AGENT_PORT
    demo_agent_url: str = f"http://127.0.0.1:{DEFAULT_DEMO_AGENT_PORT}"

    @classmethod
    def from_env(cls, env: Environ | None = None) -> WorkerSettings:
        env = _env(env)
        demo_port = _int(env, "WAPIPE_DEMO_AGENT_PORT", DEFAULT_DEMO_AGENT_PORT)
        return cls(
            metrics_host=env.get("WAPIPE_WORKER_METRICS_HOST", "127.0.0.1"),
            metrics_port=_int(env, "WAPIPE_WORKER_METRICS_PORT", DEFAULT_METRICS_PORT),
            metrics_refresh_seconds=_float(env, "WAPIPE_WORKER_METRICS_REFRESH_SECONDS", 15.0),
            demo_agent_port=demo_port,
            demo_agent_url=env.get("WAPIPE_DEMO_AGENT_URL", f"http://127.0.0.1:{demo_port}"),
        )


@dataclass(frozen=True)
class PlaygroundSettings:
    """The local WhatsApp: its port (None: not chosen, 8070 or any free one) and token."""

    port: int | None = None
    token: str = ""

    @classmethod
    def from_env(cls, env: Environ | None = None) -> PlaygroundSettings:
        env = _env(env)
        explicit = env.get("WAPIPE_PLAYGROUND_PORT", "").strip()
        return cls(
            port=_int(env, "WAPIPE_PLAYGROUND_PORT", DEFAULT_PLAYGROUND_PORT) if explicit else None,
            token=env.get("WAPIPE_PLAYGROUND_TOKEN", "").strip(),
        )

    @property
    def port_or_default(self) -> int:
        return DEFAULT_PLAYGROUND_PORT if self.port is None else self.port


def _status_token(env: Environ | None = None) -> str:
    return _env(env).get("WAPIPE_STATUS_TOKEN", "").strip()


def media_signing_key(env: Environ | None = None) -> str:
    return _env(env).get("WAPIPE_MEDIA_SIGNING_KEY", "").strip()


def worker_config_path(env: Environ | None = None) -> str:
    """WAPIPE_CONFIG: the worker's TOML file; empty: the built-in default."""
    return _env(env).get("WAPIPE_CONFIG", "")


def health_thresholds(env: Environ | None = None) -> str | None:
    """WAPIPE_HEALTH_THRESHOLDS (JSON object), None when unset."""
    return _env(env).get(HEALTH_THRESHOLDS)


def no_color(env: Environ | None = None) -> bool:
    """NO_COLOR is set (no-color.org): never colour the output."""
    return "NO_COLOR" in _env(env)


def prometheus_multiproc_dir(env: Environ | None = None) -> str:
    return _env(env).get(PROMETHEUS_MULTIPROC_DIR, "")


def env_secret(name: str, env: Environ | None = None) -> str:
    """The variable a config file names for a secret (a service's `api_key_env`)."""
    return _env(env).get(name, "") if name else ""


# -- the whole tree --------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Process settings shared by ingress and worker.

    Fields left out take the environment's value (tests build a Settings with only
    what they care about)."""

    database_url: str = field(default_factory=database_url)
    app_secrets: tuple[str, ...] = ()
    verify_token: str = ""
    access_token: str = ""
    api_url: str = "https://graph.facebook.com/v21.0"
    config_path: str = ""
    # Ingress (WAPIPE_INGRESS_*).
    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8080
    ingress_workers: int = 1
    # Lets the ingress start without WHATSAPP_APP_SECRET (signatures unchecked):
    # local development only, announced by a warning on every start.
    allow_unsigned: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    pool_min_size: int = 2
    pool_max_size: int = 10
    # Whole budget of one database call (connection + ingest); past it: 503.
    db_timeout_seconds: float = 5.0
    readiness_cache_seconds: float = 2.0
    # While the database is unreachable the ingress answers 503 at once and tries
    # a new connection this often (WAPIPE_DB_PROBE_SECONDS).
    db_probe_seconds: float = 0.2
    # Group commit of the ingress: POSTs that arrive while ingest calls run share
    # the next call (at most this many POSTs per call, this many calls at once).
    ingest_batch_max: int = 16
    ingest_calls_max: int = 1
    # GET /status needs this token (WAPIPE_STATUS_TOKEN); empty: the page is off.
    status_token: str = field(default_factory=_status_token)
    # WAPIPE_MEDIA_SIGNING_KEY; empty: derived from the first app secret.
    media_signing_key: str = field(default_factory=media_signing_key)
    log: LogSettings = field(default_factory=LogSettings.from_env)
    sender: SenderSettings = field(default_factory=SenderSettings.from_env)
    worker: WorkerSettings = field(default_factory=WorkerSettings.from_env)
    playground: PlaygroundSettings = field(default_factory=PlaygroundSettings.from_env)


def load_settings(env: Environ | None = None) -> Settings:
    """Every setting from `env` (default: this process's environment)."""
    env = _env(env)
    secrets = tuple(s.strip() for s in env.get("WHATSAPP_APP_SECRET", "").split(",") if s.strip())
    return Settings(
        database_url=database_url(env),
        app_secrets=secrets,
        verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
        access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
        api_url=env.get("WHATSAPP_API_URL", "https://graph.facebook.com/v21.0"),
        config_path=worker_config_path(env),
        ingress_host=env.get("WAPIPE_INGRESS_HOST", "127.0.0.1"),
        ingress_port=_int(env, "WAPIPE_INGRESS_PORT", 8080),
        ingress_workers=_int(env, "WAPIPE_INGRESS_WORKERS", 1),
        allow_unsigned=env.get("WAPIPE_ALLOW_UNSIGNED", "").lower() in {"1", "true", "yes"},
        pool_min_size=_int(env, "WAPIPE_DB_POOL_MIN", 2),
        pool_max_size=_int(env, "WAPIPE_DB_POOL_MAX", 10),
        db_timeout_seconds=_float(env, "WAPIPE_DB_TIMEOUT_SECONDS", 5.0),
        db_probe_seconds=max(0.01, _float(env, "WAPIPE_DB_PROBE_SECONDS", 0.2)),
        ingest_batch_max=max(1, _int(env, "WAPIPE_INGEST_BATCH_MAX", 16)),
        ingest_calls_max=max(1, _int(env, "WAPIPE_INGEST_CALLS_MAX", 1)),
        status_token=_status_token(env),
        media_signing_key=media_signing_key(env),
        log=LogSettings.from_env(env),
        sender=SenderSettings.from_env(env),
        worker=WorkerSettings.from_env(env),
        playground=PlaygroundSettings.from_env(env),
    )

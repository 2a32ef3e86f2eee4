"""Settings read from the environment (see ARCHITECTURE.md, Configuration)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from wapipe.errors import WapipeError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DB_DIR = PROJECT_ROOT / "db"
DEFAULT_DB_PORT = 54329
DEFAULT_DB_NAME = "wapipe"
DB_SUPERUSER = "postgres"


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


@dataclass(frozen=True)
class ClusterSettings:
    """Where the project's own PostgreSQL cluster lives and listens."""

    home: Path
    port: int
    database: str
    pg_major: str = "15"

    @property
    def data_dir(self) -> Path:
        return Path(os.environ.get("WAPIPE_PGDATA", str(self.home / "pgdata")))

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{DB_SUPERUSER}@127.0.0.1:{self.port}/{self.database}"


def cluster_settings() -> ClusterSettings:
    return ClusterSettings(
        home=Path(os.environ.get("WAPIPE_HOME", str(PROJECT_ROOT / ".wapipe"))),
        port=int(os.environ.get("WAPIPE_DB_PORT", str(DEFAULT_DB_PORT))),
        database=os.environ.get("WAPIPE_DB_NAME", DEFAULT_DB_NAME),
        pg_major=os.environ.get("WAPIPE_PG_MAJOR", "15"),
    )


def database_url() -> str:
    """DATABASE_URL when set, else the local cluster's URL."""
    return os.environ.get("DATABASE_URL") or cluster_settings().url


@dataclass(frozen=True)
class Settings:
    """Process settings shared by ingress and worker."""

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


def load_settings() -> Settings:
    secrets = tuple(
        s.strip() for s in os.environ.get("WHATSAPP_APP_SECRET", "").split(",") if s.strip()
    )
    return Settings(
        database_url=database_url(),
        app_secrets=secrets,
        verify_token=os.environ.get("WHATSAPP_VERIFY_TOKEN", ""),
        access_token=os.environ.get("WHATSAPP_ACCESS_TOKEN", ""),
        api_url=os.environ.get("WHATSAPP_API_URL", "https://graph.facebook.com/v21.0"),
        config_path=os.environ.get("WAPIPE_CONFIG", ""),
        ingress_host=os.environ.get("WAPIPE_INGRESS_HOST", "127.0.0.1"),
        ingress_port=_int_env("WAPIPE_INGRESS_PORT", 8080),
        ingress_workers=_int_env("WAPIPE_INGRESS_WORKERS", 1),
        allow_unsigned=os.environ.get("WAPIPE_ALLOW_UNSIGNED", "").lower() in {"1", "true", "yes"},
        pool_min_size=_int_env("WAPIPE_DB_POOL_MIN", 2),
        pool_max_size=_int_env("WAPIPE_DB_POOL_MAX", 10),
        db_timeout_seconds=float(os.environ.get("WAPIPE_DB_TIMEOUT_SECONDS", "5")),
        db_probe_seconds=max(0.01, float(os.environ.get("WAPIPE_DB_PROBE_SECONDS", "0.2"))),
        ingest_batch_max=max(1, _int_env("WAPIPE_INGEST_BATCH_MAX", 16)),
        ingest_calls_max=max(1, _int_env("WAPIPE_INGEST_CALLS_MAX", 1)),
    )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise WapipeError(f"{name} must be an integer, got {raw!r}") from None

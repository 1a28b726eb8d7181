"""One frozen Settings object, built once from the environment (COUP.md §14) and the CLI flags.

Every value is parsed and checked here, at start-up, so a bad value stops the server with a
message that names the variable instead of failing later in the middle of a request.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# bcrypt's cost in production; tests may lower it only when COUP_TESTING is set (COUP.md §5.4).
PRODUCTION_BCRYPT_ROUNDS = 12


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class RateLimit:
    """A count allowed per window, e.g. 5 messages per 10 seconds."""

    count: int
    window_seconds: float


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///coup.db"
    redis_url: str | None = None
    redis_prefix: str = "coup:"
    host: str = "127.0.0.1"
    port: int = 8000
    node_id: str = ""
    app_url: str = "http://localhost:8000"
    public_api_url: str = "http://localhost:8000"
    allowed_origins: tuple[str, ...] = ()
    cookie_secret: str = ""
    secure_cookies: bool = False
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    upload_dir: Path = Path("uploads")
    study_quota_bytes: int = 1024**3
    timezone: str = "Asia/Seoul"
    language: str = "ko"
    google_client_id: str | None = None
    google_client_secret: str | None = None
    github_client_id: str | None = None
    github_client_secret: str | None = None
    oauth_app_redirects: tuple[str, ...] = ()
    chat_rate: RateLimit = RateLimit(5, 10.0)
    # COUP.md §1 item 14; per IP unless said otherwise.
    signup_rate: RateLimit = RateLimit(10, 3600.0)
    login_ip_rate: RateLimit = RateLimit(50, 900.0)
    invite_lookup_rate: RateLimit = RateLimit(20, 600.0)
    upload_rate: RateLimit = RateLimit(30, 600.0)  # per user
    report_rate: RateLimit = RateLimit(10, 86400.0)  # per user
    event_retention_days: int = 30
    video_max_participants: int = 6
    stun_urls: tuple[str, ...] = ("stun:stun.l.google.com:19302",)
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
    )
    metrics_token: str | None = None
    # Worker threads that run database calls; SQLite always uses one (a single writer).
    db_pool_size: int = 8
    bcrypt_rounds: int = PRODUCTION_BCRYPT_ROUNDS
    testing: bool = False
    # PROTOCOL §9 limits.
    ws_max_frame_bytes: int = 64 * 1024
    ws_max_rooms_per_session: int = 128
    ws_max_sessions_per_user: int = 20
    ws_heartbeat_ms: int = 25_000
    ws_auth_timeout_seconds: float = 10.0
    ws_outbound_max_bytes: int = 1024 * 1024
    ws_outbound_max_frames: int = 1000
    # After SIGTERM, /ready answers 503 for this long before sockets are closed, so the load
    # balancer stops sending new connections first.
    drain_delay_seconds: float = 2.0
    # The background jobs of COUP.md §12 run inside `coup serve` unless switched off (tests).
    run_jobs: bool = True
    # Extra keyword settings that have no variable of their own (tests, benchmarks).
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def with_overrides(self, **changes: Any) -> Settings:
        # Tests' settings overrides: replace() refuses a name that is not a field; the values
        # are the fields' own mixed types, which only a 47-key TypedDict could spell out.
        return replace(self, **changes)


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Build Settings from environment variables; flags (host, port) win over the environment."""
    env = _Env(os.environ if environ is None else environ)
    testing = env.boolean("COUP_TESTING", False)
    database_url = env.text("COUP_DATABASE_URL", "sqlite:///coup.db")
    if not re.match(r"^(sqlite:///|postgres(ql)?://)", database_url):
        raise ConfigError(
            "COUP_DATABASE_URL must start with sqlite:/// or postgresql:// "
            f"(got {database_url!r})"
        )
    redis_url = env.optional("COUP_REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("COUP_REDIS_URL must be a redis:// or rediss:// URL")
    bind_host = host or env.text("COUP_HOST", "127.0.0.1")
    bind_port = port if port is not None else env.integer("COUP_PORT", 8000, 0, 65535)
    app_url = env.url("COUP_APP_URL", "http://localhost:8000")
    public_api_url = env.url("COUP_PUBLIC_API_URL", "http://localhost:8000")
    origins = env.csv("COUP_ALLOWED_ORIGINS") or (app_url,)
    rounds = env.integer("COUP_BCRYPT_ROUNDS", PRODUCTION_BCRYPT_ROUNDS, 4, 16)
    if rounds < PRODUCTION_BCRYPT_ROUNDS and not testing:
        raise ConfigError("COUP_BCRYPT_ROUNDS below 12 is allowed only with COUP_TESTING=1")
    cookie_secret = env.optional("COUP_COOKIE_SECRET")
    if cookie_secret is None and redis_url:
        raise ConfigError(
            "COUP_COOKIE_SECRET is required when COUP_REDIS_URL is set "
            "(every node must share it)"
        )
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=env.text("COUP_REDIS_PREFIX", "coup:"),
        host=bind_host,
        port=bind_port,
        node_id=env.text("COUP_NODE_ID", f"{socket.gethostname()}:{bind_port}"),
        app_url=app_url,
        public_api_url=public_api_url,
        allowed_origins=tuple(o.rstrip("/") for o in origins),
        cookie_secret=cookie_secret or "",
        secure_cookies=env.boolean("COUP_SECURE_COOKIES", _secure_by_default(public_api_url)),
        trusted_proxies=env.networks("COUP_TRUSTED_PROXIES", ()),
        upload_dir=Path(env.text("COUP_UPLOAD_DIR", "uploads")),
        study_quota_bytes=env.integer("COUP_STUDY_QUOTA_BYTES", 1024**3, 1, 1 << 50),
        timezone=env.time_zone("COUP_TIMEZONE", "Asia/Seoul"),
        language=env.choice("COUP_LANGUAGE", "ko", ("ko", "en")),
        google_client_id=env.optional("COUP_GOOGLE_CLIENT_ID"),
        google_client_secret=env.optional("COUP_GOOGLE_CLIENT_SECRET"),
        github_client_id=env.optional("COUP_GITHUB_CLIENT_ID"),
        github_client_secret=env.optional("COUP_GITHUB_CLIENT_SECRET"),
        oauth_app_redirects=env.csv("COUP_OAUTH_APP_REDIRECTS"),
        chat_rate=env.rate("COUP_CHAT_RATE", RateLimit(5, 10.0)),
        signup_rate=env.rate("COUP_SIGNUP_RATE", RateLimit(10, 3600.0)),
        login_ip_rate=env.rate("COUP_LOGIN_IP_RATE", RateLimit(50, 900.0)),
        invite_lookup_rate=env.rate("COUP_INVITE_LOOKUP_RATE", RateLimit(20, 600.0)),
        upload_rate=env.rate("COUP_UPLOAD_RATE", RateLimit(30, 600.0)),
        report_rate=env.rate("COUP_REPORT_RATE", RateLimit(10, 86400.0)),
        event_retention_days=env.integer("COUP_EVENT_RETENTION_DAYS", 30, 1, 3650),
        video_max_participants=env.integer("COUP_VIDEO_MAX_PARTICIPANTS", 6, 2, 50),
        stun_urls=env.csv("COUP_STUN_URLS") or ("stun:stun.l.google.com:19302",),
        turn_urls=env.csv("COUP_TURN_URLS"),
        turn_secret=env.optional("COUP_TURN_SECRET"),
        metrics_allow=env.networks("COUP_METRICS_ALLOW", ("127.0.0.1/32",)),
        metrics_token=env.optional("COUP_METRICS_TOKEN"),
        db_pool_size=env.integer("COUP_DB_POOL_SIZE", 8, 1, 64),
        bcrypt_rounds=rounds,
        testing=testing,
        ws_max_frame_bytes=env.integer("COUP_WS_MAX_FRAME_BYTES", 64 * 1024, 1024, 16 << 20),
        ws_max_rooms_per_session=env.integer("COUP_WS_MAX_ROOMS", 128, 1, 10_000),
        ws_max_sessions_per_user=env.integer("COUP_WS_MAX_SESSIONS_PER_USER", 20, 1, 1000),
        ws_heartbeat_ms=env.integer("COUP_WS_HEARTBEAT_MS", 25_000, 100, 600_000),
        ws_outbound_max_bytes=env.integer("COUP_WS_OUTBOUND_MAX_BYTES", 1 << 20, 4096, 1 << 28),
        ws_outbound_max_frames=env.integer("COUP_WS_OUTBOUND_MAX_FRAMES", 1000, 10, 1_000_000),
        drain_delay_seconds=float(env.integer("COUP_DRAIN_DELAY_MS", 2000, 0, 30_000)) / 1000,
        run_jobs=env.boolean("COUP_JOBS", True),
    )
    return settings


def resolve_cookie_secret(settings: Settings) -> Settings:
    """Fill in the cookie secret: configured, or generated once and kept beside the database.

    A single node must keep its secret across restarts, or every browser's XSRF token would
    stop matching after a restart; so it is stored in a file next to the SQLite database (or in
    the working directory for PostgreSQL).
    """
    if settings.cookie_secret:
        return settings
    secret_file = _secret_path(settings)
    if secret_file.exists():
        secret = secret_file.read_text().strip()
    else:
        secret = secrets.token_urlsafe(48)
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
    return replace(settings, cookie_secret=secret)


def _secret_path(settings: Settings) -> Path:
    if settings.is_sqlite:
        db_path = Path(settings.database_url.removeprefix("sqlite:///"))
        return db_path.parent / ".coup-secret"
    return Path(".coup-secret")


def _secure_by_default(public_api_url: str) -> bool:
    parts = urlsplit(public_api_url)
    return not (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1"))


class _Env:
    """Typed readers over the environment; each error names the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number (got {raw!r})") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {value})")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None or raw.lower() == "auto":
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false (got {raw!r})")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        return value

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name) or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} must be an http(s) URL (got {value!r})")
        return value

    def networks(
        self, name: str, default: tuple[str, ...]
    ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        raw = self.csv(name) or default
        try:
            return tuple(ipaddress.ip_network(part, strict=False) for part in raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a comma list of CIDRs ({exc})") from None

    def time_zone(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{name} is not a known time zone (got {value!r})") from None
        return value

    def rate(self, name: str, default: RateLimit) -> RateLimit:
        raw = self.optional(name)
        if raw is None:
            return default
        match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s", raw)
        if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise ConfigError(f"{name} must look like 5/10s (got {raw!r})")
        return RateLimit(int(match.group(1)), float(match.group(2)))

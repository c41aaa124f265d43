"""Settings, read once from the environment (and an optional .env file)."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.timefmt import BUSINESS_TZ  # noqa: F401  (re-exported: its home is app.timefmt)

# (requests per second, burst) per client. A tablet rates at human speed and sends its offline
# backlog in batches; a portal or the 12345 hotline forwards many people's ratings.
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "device": (10, 50),
    "portal": (200, 1000),
    "hotline": (50, 200),
    "department": (20, 100),
    "reader": (20, 100),
    "admin": (50, 500),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HAOCHAPING_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "HAOCHAPING_DATABASE_URL")
    )
    data_dir: Path = Path("./.haochaping")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    # Access lines are written in chunks, at the latest this long after each (nginx's
    # access_log flush=); 0 writes every line at once.
    access_log_flush_seconds: float = Field(default=1.0, ge=0)
    # Events older than this are refused unless an admin imports them as historical.
    max_event_age_days: int = Field(default=30, ge=1)
    # Clocks on tablets drift: accept this much into the future.
    future_tolerance_seconds: int = Field(default=300, ge=0)
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    # The single-event POST's own path and pool (app/ratings/fastpath.py); off, every request
    # takes the generic route (the same answers, at about a quarter of the throughput).
    fast_ingest: bool = True
    fast_ingest_pool_size: int = Field(default=10, ge=1)
    # FastAPI's OpenTelemetry bridge (traces, metrics and logs to a configured OpenTelemetry
    # SDK). Off by default: the service has its own /metrics and JSON logs.
    otel: bool = False
    # How long a request waits for the database before answering 503.
    db_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # The request line and headers together, and the number of header fields: beyond either,
    # 431 before any application code runs (app/transport.py, app/limits.py).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    max_header_count: int = Field(default=100, ge=10, le=10_000)
    # A declared body must have arrived this long after the request's start, else 408.
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Work orders: stages and working days ("3、5、15"); e.g. '{"contact": 1, "rectify": 5,
    # "complex": 15}' (Shanghai) or '{"rectify": 15}' (Sichuan). New orders use the current one.
    deadline_policy: dict[str, int] = Field(
        default_factory=lambda: {"contact": 3, "rectify": 5, "complex": 15}
    )
    # The sweeper and the webhook dispatcher run inside the server unless turned off (tests).
    background_jobs: bool = True
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    outbox_interval_seconds: float = Field(default=2.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # After this many failed attempts a delivery is marked failed (an admin may retry it).
    webhook_max_attempts: int = Field(default=25, ge=1)
    # Signed requests: how far a timestamp may be from the server's clock, either way.
    signature_tolerance_seconds: int = Field(default=300, ge=30, le=3600)
    # Requests per second and burst per client, by role, as token buckets in each server
    # process. JSON merged over the defaults, e.g. '{"portal": [500, 1000], "admin": null}'
    # (null: no limit for that role); HAOCHAPING_RATE_LIMITS_ENABLED=false turns them all off.
    rate_limits: dict[str, tuple[float, int] | None] = Field(default_factory=dict)
    rate_limits_enabled: bool = True

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("log level must be one of critical, error, warning, info, debug")
        return value

    @field_validator("deadline_policy")
    @classmethod
    def _valid_policy(cls, value: dict[str, int]) -> dict[str, int]:
        from app.workorders.deadlines import DeadlinePolicy

        return DeadlinePolicy.parse(value).as_dict()

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(
        cls, value: dict[str, tuple[float, int] | None]
    ) -> dict[str, tuple[float, int] | None]:
        from app.auth.models import ROLES

        merged = {**DEFAULT_RATE_LIMITS, **value}
        for role, limit in merged.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
            if limit is not None and (limit[0] <= 0 or limit[1] < 1):
                raise ValueError(f"{role}: the rate must be > 0 and the burst >= 1")
        return merged

    @property
    def role_rate_limits(self) -> dict[str, tuple[float, int]]:
        """The limits in force: (requests per second, burst) by role; a role absent is free."""
        if not self.rate_limits_enabled:
            return {}
        return {role: limit for role, limit in self.rate_limits.items() if limit is not None}

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if not value:
            return None
        return to_asyncpg_url(value)

    @property
    def max_event_age(self) -> timedelta:
        return timedelta(days=self.max_event_age_days)

    @property
    def future_tolerance(self) -> timedelta:
        return timedelta(seconds=self.future_tolerance_seconds)


def to_asyncpg_url(url: str) -> str:
    """Accept the usual postgres:// spellings and point them at the asyncpg driver."""
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def _app_settings(request: Request) -> Settings:
    return request.app.state.settings


# The running app's settings (tests give the app their own).
AppSettings = Annotated[Settings, Depends(_app_settings)]

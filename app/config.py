"""Settings: one tree (root values and sections), read once from the environment and .env."""

from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.timefmt import BUSINESS_TZ  # noqa: F401  (re-exported: its home is app.timefmt)

# Who a client is (auth's `client.role`); the rate limits and the role checks name these.
ROLES = ("admin", "device", "portal", "hotline", "department", "reader")
# Work-order stages in order (contact: reach the rater; rectify: rectify and give feedback;
# complex: the extended deadline): the keys of HAOCHAPING_DEADLINE_POLICY.
STAGES = ("contact", "rectify", "complex")
DEFAULT_DATA_DIR = Path("./.haochaping")
_SOURCES = {"env_file": ".env", "env_file_encoding": "utf-8", "extra": "ignore"}

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


class StatsSettings(BaseSettings):
    """The statistics roll-up (HAOCHAPING_STATS_*)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_STATS_", **_SOURCES)

    # The background roll-up; off, the figures stay exact but read a longer raw tail.
    rollup_enabled: bool = True
    rollup_interval_seconds: float = Field(default=2.0, gt=0)


class AlertSettings(BaseSettings):
    """Early warning (预警): the evaluation job and the working hours (HAOCHAPING_ALERTS_*)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_ALERTS_", **_SOURCES)

    enabled: bool = True
    interval_seconds: float = Field(default=60.0, gt=0)
    # Tablets are expected to be heard from on working days between these hours (Beijing).
    working_hours_start: time = time(9, 0)
    working_hours_end: time = time(17, 0)

    @model_validator(mode="after")
    def _hours_in_order(self) -> "AlertSettings":
        if self.working_hours_end <= self.working_hours_start:
            raise ValueError("working_hours_end must be later than working_hours_start")
        return self


class PrivacySettings(BaseSettings):
    """Personal data: the data keys and the retention period (HAOCHAPING_DATA_KEYS, ...)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_", **_SOURCES)

    # "k2:<base64 of 32 bytes>,k1:<base64>": the first encrypts; all decrypt.
    data_keys: str | None = Field(default=None, repr=False)
    data_key_file: Path | None = None
    # Where a development key is generated; the app passes its own data_dir instead.
    data_dir: Path | None = None
    # 个人信息 of raters and 12345 callers is erased this long after the rating (3 years).
    personal_data_retention_days: int = Field(default=3 * 365 + 1, ge=1)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)


class IntegritySettings(BaseSettings):
    """The integrity flags' thresholds (HAOCHAPING_FLAG_*; the rules: app/ratings/flags.py)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_FLAG_", **_SOURCES)

    device_seconds: int = Field(default=10, ge=0)
    phone_daily_limit: int = Field(default=3, ge=2)
    burst_count: int = Field(default=3, ge=2)
    burst_seconds: int = Field(default=120, ge=1)
    bare_burst_count: int = Field(default=20, ge=2)
    bare_burst_seconds: int = Field(default=1, ge=1)
    share_sample: int = Field(default=30, ge=2)
    share_percent: int = Field(default=90, ge=1, le=100)
    share_seconds: int = Field(default=3600, ge=1)

    @property
    def share_needed(self) -> int:
        """How many of the sample must be the client's: share_percent of it, rounded up."""
        return -(-self.share_sample * self.share_percent // 100)


class KioskSettings(BaseSettings):
    """The tablet page, enrolment and the QR-code rating page (HAOCHAPING_KIOSK_*)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_KIOSK_", **_SOURCES)

    # The service's address as tablets and phones reach it (in enrolment links and QR codes);
    # unset, the address of the request that asked for them.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    enrolment_minutes: int = Field(default=15, ge=1, le=24 * 60)
    case_link_days: int = Field(default=30, ge=1, le=366)
    # Against stuffing of the QR page: ratings per client address per hour (in bursts of
    # qr_ip_burst; generous, as a hall's Wi-Fi puts many phones behind one address) and per
    # phone number per day.
    qr_ip_per_hour: int = Field(default=300, ge=1)
    qr_ip_burst: int = Field(default=60, ge=1)
    qr_phone_per_day: int = Field(default=5, ge=1)


# 考核得分 inputs (app/reports/score.py): good rate, 按期整改率, 实名差评回访率, complaints per
# 1,000 ratings, 主动评价率. Local policy: the weights are relative (they need not sum to 100).
DEFAULT_SCORE_WEIGHTS: dict[str, float] = {
    "good_rate": 40,
    "on_time_rate": 20,
    "callback_rate": 15,
    "complaints": 10,
    "active_rate": 15,
}


class ReportSettings(BaseSettings):
    """The bulletin and the composite score (HAOCHAPING_REPORTS_*)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_REPORTS_", **_SOURCES)

    score_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SCORE_WEIGHTS))
    # Named in every score response: change it whenever the weights or the rule change.
    formula_version: str = Field(default="2026.1", min_length=1, max_length=40)
    # Complaints per 1,000 counted ratings at which the complaints input scores 0.
    complaints_zero_at: float = Field(default=5.0, gt=0)
    # 标兵: the top N scores among the units with at least commend_min_counted counted ratings,
    # and (when set) only those at or above the threshold.
    commend_top: int = Field(default=3, ge=0)
    commend_min_score: float | None = Field(default=None, ge=0, le=100)
    commend_min_counted: int = Field(default=30, ge=0)
    # The bottom of the table: the last N scored units.
    bottom: int = Field(default=3, ge=0)

    @field_validator("score_weights")
    @classmethod
    def _known_inputs(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(DEFAULT_SCORE_WEIGHTS)
        if unknown:
            known = ", ".join(DEFAULT_SCORE_WEIGHTS)
            raise ValueError(f"unknown score inputs {sorted(unknown)}; known: {known}")
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("weights must be >= 0, at least one of them > 0")
        return {name: float(value.get(name, 0)) for name in DEFAULT_SCORE_WEIGHTS}


class ConsoleSettings(BaseSettings):
    """The console's sign-in sessions (HAOCHAPING_CONSOLE_*)."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_CONSOLE_", **_SOURCES)

    # Signed out after this long without a request, and after this long in any case.
    idle_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_lifetime_hours: int = Field(default=12, ge=1, le=7 * 24)
    # The cookie's Secure flag: on when the console is served over HTTPS (behind a proxy too).
    secure_cookie: bool = False


class ProvincialSettings(BaseSettings):
    """Provincial docking (HAOCHAPING_PROVINCIAL_*): profiles and the push to provincial targets."""

    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_PROVINCIAL_", **_SOURCES)

    # A directory of a centre's own profile files (*.json), besides the shipped ones.
    profile_dir: Path | None = None
    push_enabled: bool = True
    push_interval_seconds: float = Field(default=5.0, gt=0)
    # Ratings are queued for a push once this old: a rating's id is drawn before its commit,
    # so a lower id can commit after a higher one; the lag lets such stragglers land first.
    push_lag_seconds: float = Field(default=30.0, ge=0)
    push_timeout_seconds: float = Field(default=10.0, gt=0)
    push_max_attempts: int = Field(default=25, ge=1)
    # A target with this many items waiting gets no more until it takes some (a platform that
    # is down costs no writes; its cursor keeps the place).
    push_max_pending: int = Field(default=1000, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAOCHAPING_", **_SOURCES)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "HAOCHAPING_DATABASE_URL")
    )
    data_dir: Path = DEFAULT_DATA_DIR
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
    # POST /v1/cases/import takes up to 10,000 cases (about 300 bytes each): its own limit.
    cases_import_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
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
    # The centre's name: the bulletin's title and signature, the title row of every XLSX export.
    centre_name: str = Field(default="政务服务中心", min_length=1, max_length=100)
    # The sections, each read from its own variables when the tree is built.
    stats: StatsSettings = Field(default_factory=StatsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    integrity: IntegritySettings = Field(default_factory=IntegritySettings)
    kiosk: KioskSettings = Field(default_factory=KioskSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    provincial: ProvincialSettings = Field(default_factory=ProvincialSettings)

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
        return dict(parse_deadline_policy(value))

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(
        cls, value: dict[str, tuple[float, int] | None]
    ) -> dict[str, tuple[float, int] | None]:
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

    # Read for every event of every batch: the timedelta is made once per value.
    @property
    def max_event_age(self) -> timedelta:
        return _days(self.max_event_age_days)

    @property
    def future_tolerance(self) -> timedelta:
        return _seconds(self.future_tolerance_seconds)


@lru_cache(maxsize=16)
def _days(days: int) -> timedelta:
    return timedelta(days=days)


@lru_cache(maxsize=16)
def _seconds(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def parse_deadline_policy(raw: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """Validate a policy written as {stage: working days}; its stages in order."""
    unknown = set(raw) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
    if "rectify" not in raw:
        raise ValueError("a policy needs a rectify stage")
    stages = []
    for name in STAGES:
        if name not in raw:
            continue
        days = raw[name]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise ValueError(f"stage {name}: working days must be an integer from 1 to 365")
        stages.append((name, days))
    days = dict(stages)
    if "complex" in days and days["complex"] <= days["rectify"]:
        raise ValueError("the complex-case deadline must be longer than the rectify one")
    if "contact" in days and days["contact"] > days["rectify"]:
        raise ValueError("the contact deadline cannot be later than the rectify one")
    return tuple(stages)


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
    """The process's settings, read once (the CLI and the server's factory; the app is given
    them and passes them on: app.state.settings)."""
    return Settings()


async def _app_settings(request: Request) -> Settings:
    return request.app.state.settings


# The running app's settings (tests give the app their own).
AppSettings = Annotated[Settings, Depends(_app_settings)]

"""One settings tree: every environment variable the README documents still sets its value."""

import re
from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.fixtures.paths import ROOT

README = ROOT / "README.md"

# variable -> (value written, where it lands in the tree, what it reads as)
VARIABLES = {
    "DATABASE_URL": (
        "postgresql://u:p@db:5432/x",
        "database_url",
        "postgresql+asyncpg://u:p@db:5432/x",
    ),
    "HAOCHAPING_DATABASE_URL": ("postgres://u@db/y", "database_url", "postgresql+asyncpg://u@db/y"),
    "HAOCHAPING_DATA_DIR": ("/var/lib/hcp", "data_dir", Path("/var/lib/hcp")),
    "HAOCHAPING_HOST": ("0.0.0.0", "host", "0.0.0.0"),
    "HAOCHAPING_PORT": ("9000", "port", 9000),
    "HAOCHAPING_LOG_LEVEL": ("WARNING", "log_level", "warning"),
    "HAOCHAPING_MAX_EVENT_AGE_DAYS": ("7", "max_event_age_days", 7),
    "HAOCHAPING_FUTURE_TOLERANCE_SECONDS": ("60", "future_tolerance_seconds", 60),
    "HAOCHAPING_DB_POOL_SIZE": ("5", "db_pool_size", 5),
    "HAOCHAPING_DB_MAX_OVERFLOW": ("2", "db_max_overflow", 2),
    "HAOCHAPING_DB_CONNECT_TIMEOUT_SECONDS": ("2.5", "db_connect_timeout_seconds", 2.5),
    "HAOCHAPING_FAST_INGEST": ("false", "fast_ingest", False),
    "HAOCHAPING_FAST_INGEST_POOL_SIZE": ("3", "fast_ingest_pool_size", 3),
    "HAOCHAPING_ACCESS_LOG_FLUSH_SECONDS": ("0", "access_log_flush_seconds", 0.0),
    "HAOCHAPING_OTEL": ("true", "otel", True),
    "HAOCHAPING_MAX_BODY_BYTES": ("4096", "max_body_bytes", 4096),
    "HAOCHAPING_CASES_IMPORT_MAX_BODY_BYTES": ("4096", "cases_import_max_body_bytes", 4096),
    "HAOCHAPING_MAX_HEADER_BYTES": ("8192", "max_header_bytes", 8192),
    "HAOCHAPING_MAX_HEADER_COUNT": ("50", "max_header_count", 50),
    "HAOCHAPING_BODY_TIMEOUT_SECONDS": ("5", "body_timeout_seconds", 5.0),
    "HAOCHAPING_DEADLINE_POLICY": ('{"rectify": 15}', "deadline_policy", {"rectify": 15}),
    "HAOCHAPING_BACKGROUND_JOBS": ("false", "background_jobs", False),
    "HAOCHAPING_SWEEP_INTERVAL_SECONDS": ("30", "sweep_interval_seconds", 30.0),
    "HAOCHAPING_OUTBOX_INTERVAL_SECONDS": ("1", "outbox_interval_seconds", 1.0),
    "HAOCHAPING_WEBHOOK_TIMEOUT_SECONDS": ("3", "webhook_timeout_seconds", 3.0),
    "HAOCHAPING_WEBHOOK_MAX_ATTEMPTS": ("4", "webhook_max_attempts", 4),
    "HAOCHAPING_SIGNATURE_TOLERANCE_SECONDS": ("60", "signature_tolerance_seconds", 60),
    "HAOCHAPING_RATE_LIMITS": ('{"admin": null}', "rate_limits.admin", None),
    "HAOCHAPING_RATE_LIMITS_ENABLED": ("false", "rate_limits_enabled", False),
    "HAOCHAPING_STATS_ROLLUP_ENABLED": ("false", "stats.rollup_enabled", False),
    "HAOCHAPING_STATS_ROLLUP_INTERVAL_SECONDS": ("7", "stats.rollup_interval_seconds", 7.0),
    "HAOCHAPING_ALERTS_ENABLED": ("false", "alerts.enabled", False),
    "HAOCHAPING_ALERTS_INTERVAL_SECONDS": ("15", "alerts.interval_seconds", 15.0),
    "HAOCHAPING_ALERTS_WORKING_HOURS_START": ("08:30", "alerts.working_hours_start", time(8, 30)),
    "HAOCHAPING_ALERTS_WORKING_HOURS_END": ("17:30", "alerts.working_hours_end", time(17, 30)),
    "HAOCHAPING_CENTRE_NAME": ("浉河区中心", "centre_name", "浉河区中心"),
    "HAOCHAPING_CONSOLE_IDLE_TIMEOUT_MINUTES": ("15", "console.idle_timeout_minutes", 15),
    "HAOCHAPING_CONSOLE_SESSION_LIFETIME_HOURS": ("8", "console.session_lifetime_hours", 8),
    "HAOCHAPING_CONSOLE_SECURE_COOKIE": ("true", "console.secure_cookie", True),
    "HAOCHAPING_DATA_KEYS": ("k1:abc", "privacy.data_keys", "k1:abc"),
    "HAOCHAPING_DATA_KEY_FILE": ("/etc/hcp/keys", "privacy.data_key_file", Path("/etc/hcp/keys")),
    "HAOCHAPING_PERSONAL_DATA_RETENTION_DAYS": ("30", "privacy.personal_data_retention_days", 30),
    "HAOCHAPING_RETENTION_INTERVAL_SECONDS": ("60", "privacy.retention_interval_seconds", 60.0),
    "HAOCHAPING_REPORTS_SCORE_WEIGHTS": (
        '{"good_rate": 1}',
        "reports.score_weights.on_time_rate",
        0.0,
    ),
    "HAOCHAPING_REPORTS_FORMULA_VERSION": ("x2", "reports.formula_version", "x2"),
    "HAOCHAPING_REPORTS_COMPLAINTS_ZERO_AT": ("2.5", "reports.complaints_zero_at", 2.5),
    "HAOCHAPING_REPORTS_COMMEND_TOP": ("5", "reports.commend_top", 5),
    "HAOCHAPING_REPORTS_COMMEND_MIN_SCORE": ("90", "reports.commend_min_score", 90.0),
    "HAOCHAPING_REPORTS_COMMEND_MIN_COUNTED": ("50", "reports.commend_min_counted", 50),
    "HAOCHAPING_REPORTS_BOTTOM": ("2", "reports.bottom", 2),
    "HAOCHAPING_FLAG_DEVICE_SECONDS": ("5", "integrity.device_seconds", 5),
    "HAOCHAPING_FLAG_PHONE_DAILY_LIMIT": ("4", "integrity.phone_daily_limit", 4),
    "HAOCHAPING_FLAG_BURST_COUNT": ("5", "integrity.burst_count", 5),
    "HAOCHAPING_FLAG_BURST_SECONDS": ("60", "integrity.burst_seconds", 60),
    "HAOCHAPING_FLAG_BARE_BURST_COUNT": ("9", "integrity.bare_burst_count", 9),
    "HAOCHAPING_FLAG_BARE_BURST_SECONDS": ("2", "integrity.bare_burst_seconds", 2),
    "HAOCHAPING_FLAG_SHARE_SAMPLE": ("10", "integrity.share_sample", 10),
    "HAOCHAPING_FLAG_SHARE_PERCENT": ("50", "integrity.share_percent", 50),
    "HAOCHAPING_FLAG_SHARE_SECONDS": ("600", "integrity.share_seconds", 600),
    "HAOCHAPING_KIOSK_PUBLIC_URL": (
        "https://hcp.example.cn",
        "kiosk.public_url",
        "https://hcp.example.cn",
    ),
    "HAOCHAPING_KIOSK_ENROLMENT_MINUTES": ("5", "kiosk.enrolment_minutes", 5),
    "HAOCHAPING_KIOSK_CASE_LINK_DAYS": ("7", "kiosk.case_link_days", 7),
    "HAOCHAPING_KIOSK_QR_IP_PER_HOUR": ("10", "kiosk.qr_ip_per_hour", 10),
    "HAOCHAPING_KIOSK_QR_IP_BURST": ("3", "kiosk.qr_ip_burst", 3),
    "HAOCHAPING_KIOSK_QR_PHONE_PER_DAY": ("2", "kiosk.qr_phone_per_day", 2),
    "HAOCHAPING_PROVINCIAL_PROFILE_DIR": ("/tmp", "provincial.profile_dir", Path("/tmp")),
    "HAOCHAPING_PROVINCIAL_PUSH_ENABLED": ("false", "provincial.push_enabled", False),
    "HAOCHAPING_PROVINCIAL_PUSH_INTERVAL_SECONDS": ("9", "provincial.push_interval_seconds", 9),
    "HAOCHAPING_PROVINCIAL_PUSH_LAG_SECONDS": ("60", "provincial.push_lag_seconds", 60),
    "HAOCHAPING_PROVINCIAL_PUSH_TIMEOUT_SECONDS": ("3", "provincial.push_timeout_seconds", 3),
    "HAOCHAPING_PROVINCIAL_PUSH_MAX_ATTEMPTS": ("7", "provincial.push_max_attempts", 7),
    "HAOCHAPING_PROVINCIAL_PUSH_MAX_PENDING": ("50", "provincial.push_max_pending", 50),
}


def _read(settings: object, path: str) -> object:
    for part in path.split("."):
        settings = settings[part] if isinstance(settings, dict) else getattr(settings, part)
    return settings


def _documented() -> set[str]:
    """The variables of the README's Configuration table (`_PHONE_DAILY_LIMIT` continues the
    row's first name's prefix, HAOCHAPING_FLAG_)."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    names = set()
    for row in section.split("\n## ", 1)[0].splitlines():
        if not row.startswith("| `"):
            continue
        found = re.findall(r"`((?:HAOCHAPING)?_[A-Z_]+|DATABASE_URL)`", row)
        for name in found:
            names.add("HAOCHAPING_FLAG" + name if name.startswith("_") else name)
    return names


def test_every_documented_variable_is_checked_here():
    documented = _documented()
    assert len(documented) > 30
    assert documented <= set(VARIABLES), documented - set(VARIABLES)


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_each_variable_still_sets_its_value(variable, monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    value, path, expected = VARIABLES[variable]
    monkeypatch.setenv(variable, value)
    assert _read(Settings(), path) == expected


def test_sections_come_with_the_tree_and_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("HAOCHAPING_FLAG_SHARE_PERCENT", "101")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("HAOCHAPING_FLAG_SHARE_PERCENT")
    monkeypatch.setenv("HAOCHAPING_DEADLINE_POLICY", '{"contact": 9, "rectify": 5}')
    with pytest.raises(ValidationError, match="contact deadline"):
        Settings()

"""Settings of the statistics roll-up (environment variables HAOCHAPING_STATS_*)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StatsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HAOCHAPING_STATS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # The background roll-up; off, the figures stay exact but read a longer raw tail.
    rollup_enabled: bool = True
    rollup_interval_seconds: float = Field(default=2.0, gt=0)

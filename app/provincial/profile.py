"""Provincial profiles: how one province's rating interface names and numbers things (pure).

A profile is a JSON file: channel codes (`pf`), the reason-code table (`evalDetail`) to our tags,
rater types (`userProp`), the time format, and what a push looks like and how the platform says
it took it. Shipped ones live in app/provincial/profiles/; a centre adds its own in
HAOCHAPING_PROVINCIAL_PROFILE_DIR (a file there replaces a shipped one of the same name). Every
profile is validated when the app starts: a bad one stops the start, never a request.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.ratings.models import CHANNELS
from app.ratings.schemas import BAD_TAGS, PRAISE_TAGS

SHIPPED = Path(__file__).parent / "profiles"
DEFAULT = "default"  # the channel entry of a default rating (系统默认评价)
_TAGS = frozenset(BAD_TAGS + PRAISE_TAGS)


class ProfileError(ValueError):
    """A profile file that cannot be used (the app does not start)."""


class PushFormat(BaseModel):
    """What a pushed document carries and how the target acknowledges it."""

    model_config = ConfigDict(extra="forbid")

    # Our channels as the platform numbers them (every channel must have one).
    channels: dict[str, int]
    # The answer's fields that must hold these values, e.g. {"status.code": 200, "custom.code": 1}
    # (Epoint); empty: any HTTP 2xx is a success.
    success: dict[str, int | str] = Field(default_factory=dict)
    # Fields every pushed rating document carries (a test's mock platform checks them).
    rating_fields: list[str]
    rectification_fields: list[str]

    @field_validator("channels")
    @classmethod
    def _every_channel(cls, value: dict[str, int]) -> dict[str, int]:
        missing = sorted(set(CHANNELS) - set(value))
        unknown = sorted(set(value) - set(CHANNELS))
        if missing or unknown:
            raise ValueError(f"channels: missing {missing}, unknown {unknown}")
        return value


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    title: str
    # pf code -> our channel, or "default" for the 系统默认评价 code.
    channels: dict[int, str]
    # The channel a default rating is stored under (it has none of its own).
    default_channel: Literal[*CHANNELS] = "pc"
    # evalDetail code -> our tag.
    reasons: dict[str, str]
    # userProp code -> individual or enterprise.
    rater_types: dict[int, Literal["individual", "enterprise"]]
    # strftime/strptime format of assessTime, read and written in Beijing time.
    time_format: str = "%Y-%m-%d %H:%M:%S"
    push: PushFormat

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: dict[int, str]) -> dict[int, str]:
        for code, channel in value.items():
            if channel != DEFAULT and channel not in CHANNELS:
                raise ValueError(f"pf {code}: unknown channel {channel!r}")
        if list(value.values()).count(DEFAULT) > 1:
            raise ValueError("at most one pf code is the default rating")
        return value

    @field_validator("reasons")
    @classmethod
    def _reasons(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(tag for tag in value.values() if tag not in _TAGS)
        if unknown:
            raise ValueError(f"reasons: unknown tags {unknown}")
        return value

    @model_validator(mode="after")
    def _time_format(self) -> Profile:
        sample = datetime(2026, 10, 9, 9, 30, 5)
        try:
            if datetime.strptime(sample.strftime(self.time_format), self.time_format) != sample:
                raise ValueError
        except ValueError:
            raise ValueError(f"time_format {self.time_format!r} does not keep the second") from None
        return self

    def tag_codes(self) -> dict[str, str]:
        """Our tag -> the platform's code (the first code listed for it)."""
        out: dict[str, str] = {}
        for code, tag in self.reasons.items():
            out.setdefault(tag, code)
        return out

    def rater_code(self, rater_type: str) -> int | None:
        """Our rater type -> the platform's userProp (the first code listed for it)."""
        for code, kind in self.rater_types.items():
            if kind == rater_type:
                return code
        return None


def load(directory: Path | None = None) -> dict[str, Profile]:
    """The shipped profiles, then a centre's own (same name: the centre's wins), validated."""
    profiles: dict[str, Profile] = {}
    for folder in (SHIPPED, directory):
        if folder is None:
            continue
        if not folder.is_dir():
            raise ProfileError(f"provincial profile directory {folder} does not exist")
        for path in sorted(folder.glob("*.json")):
            profile = parse(path)
            profiles[profile.name] = profile
    return profiles


def parse(path: Path) -> Profile:
    """One profile file; its name must be its file's stem."""
    try:
        profile = Profile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise ProfileError(f"provincial profile {path}: {exc}") from None
    if profile.name != path.stem:
        raise ProfileError(f"provincial profile {path}: name {profile.name!r} is not the file's")
    return profile

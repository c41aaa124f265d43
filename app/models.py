"""Every table, imported in one place for Alembic's metadata."""

from app.auth.models import ApiKey, Client
from app.db import Base
from app.ratings.models import Rating
from app.registry.models import Department, Device, ServiceWindow
from app.stats.models import (
    RatingRollup,
    RatingRollupWatermark,
    RatingStaffRollup,
    RatingTagRollup,
)

__all__ = [
    "ApiKey",
    "Base",
    "Client",
    "Department",
    "Device",
    "Rating",
    "RatingRollup",
    "RatingRollupWatermark",
    "RatingStaffRollup",
    "RatingTagRollup",
    "ServiceWindow",
]

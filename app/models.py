"""Every table, imported in one place for Alembic's metadata."""

from app.auth.models import ApiKey, Client
from app.db import Base
from app.notify.models import Outbox, WebhookSubscription
from app.provincial.models import PushItem, PushTarget
from app.ratings.models import Rating
from app.registry.models import Department, Device, ServiceWindow
from app.stats.models import (
    RatingDepartmentRollup,
    RatingRollup,
    RatingRollupWatermark,
    RatingSplitRollup,
    RatingStaffRollup,
    RatingTagRollup,
)
from app.workorders.models import CalendarYear, Complaint, WorkOrder, WorkOrderEvent

__all__ = [
    "ApiKey",
    "Base",
    "CalendarYear",
    "Client",
    "Complaint",
    "Department",
    "Device",
    "Outbox",
    "PushItem",
    "PushTarget",
    "Rating",
    "RatingDepartmentRollup",
    "RatingRollup",
    "RatingRollupWatermark",
    "RatingSplitRollup",
    "RatingStaffRollup",
    "RatingTagRollup",
    "ServiceWindow",
    "WebhookSubscription",
    "WorkOrder",
    "WorkOrderEvent",
]

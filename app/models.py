"""Every table, imported in one place for Alembic's metadata."""

from app.auth.models import ApiKey, Client
from app.cases.models import CaseDay, ServiceCase
from app.db import Base
from app.notify.models import Outbox, WebhookSubscription
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
from app.surveys.models import Survey, SurveyItem
from app.workorders.models import CalendarYear, Complaint, WorkOrder, WorkOrderEvent

__all__ = [
    "ApiKey",
    "Base",
    "CaseDay",
    "CalendarYear",
    "Client",
    "Complaint",
    "Department",
    "Device",
    "Outbox",
    "Rating",
    "RatingDepartmentRollup",
    "RatingRollup",
    "RatingRollupWatermark",
    "RatingSplitRollup",
    "RatingStaffRollup",
    "RatingTagRollup",
    "ServiceCase",
    "ServiceWindow",
    "Survey",
    "SurveyItem",
    "WebhookSubscription",
    "WorkOrder",
    "WorkOrderEvent",
]

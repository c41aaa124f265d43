"""Every table, imported in one place for Alembic's metadata."""

from app.alerts.models import Alert, AlertRule
from app.auth.models import ApiKey, Client
from app.cases.models import CaseDay, ServiceCase
from app.console.models import ConsoleSession
from app.db import Base
from app.kiosk.models import DeviceEnrolment, DeviceSession, RatingLink
from app.notify.models import Outbox, WebhookSubscription
from app.provincial.models import PushItem, PushTarget
from app.ratings.models import Rating
from app.registry.models import Department, Device, ServiceWindow, Staff, StaffPhoto
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
    "Alert",
    "AlertRule",
    "ApiKey",
    "Base",
    "CaseDay",
    "CalendarYear",
    "Client",
    "Complaint",
    "ConsoleSession",
    "Department",
    "Device",
    "DeviceEnrolment",
    "DeviceSession",
    "Outbox",
    "PushItem",
    "PushTarget",
    "Rating",
    "RatingDepartmentRollup",
    "RatingLink",
    "RatingRollup",
    "RatingRollupWatermark",
    "RatingSplitRollup",
    "RatingStaffRollup",
    "RatingTagRollup",
    "ServiceCase",
    "ServiceWindow",
    "Staff",
    "StaffPhoto",
    "Survey",
    "SurveyItem",
    "WebhookSubscription",
    "WorkOrder",
    "WorkOrderEvent",
]

"""Every table, imported in one place for Alembic's metadata."""

from app.auth.models import ApiKey, Client
from app.db import Base
from app.ratings.models import Rating
from app.registry.models import Department, Device, ServiceWindow

__all__ = ["ApiKey", "Base", "Client", "Department", "Device", "Rating", "ServiceWindow"]

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.limits import InputModel

Role = Literal["admin", "device", "portal", "hotline", "department", "reader"]


class KeyCreate(InputModel):
    """Either a new client (role + client_name) or a rotation: a new key for client_id."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = Field(default=None, description="Role of a new client")
    client_name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Name of a new client"
    )
    client_id: uuid.UUID | None = Field(
        default=None, description="Rotate: issue another key for this existing client"
    )
    department_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="Required for role department"
    )


class KeyOut(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    role: Role
    department_code: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The API key. Shown only in this response; store it now.")

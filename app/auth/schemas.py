import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.limits import InputModel
from app.timefmt import LocalDateTime

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
    require_signature: bool | None = Field(
        default=None,
        description="A new client must sign its requests (default: off; devices, registered "
        "through POST /v1/devices, start with it on)",
    )


class KeyOut(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    role: Role
    department_code: str | None
    require_signature: bool = Field(description="The client must sign its requests")
    prefix: str
    created_at: LocalDateTime
    revoked_at: LocalDateTime | None
    last_used_at: LocalDateTime | None


class KeyCreated(KeyOut):
    key: str = Field(
        description="The API key. Shown only in this response; store it now. A signing client "
        "signs with it and sends `id` as X-HCP-Key-Id."
    )


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: Role
    department_code: str | None
    require_signature: bool
    created_at: LocalDateTime


class ClientUpdate(InputModel):
    model_config = ConfigDict(extra="forbid")

    require_signature: bool | None = Field(
        default=None, description="Refuse this client's unsigned requests (401)"
    )

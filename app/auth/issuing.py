"""Issuing a key: for a new client, or another key for an existing one (a rotation), with the
checks of what each role needs (POST /v1/keys and the console's key page)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service
from app.auth.models import ApiKey, Client
from app.auth.schemas import KeyCreate
from app.errors import ValidationProblem, field_error
from app.registry import service as registry


async def issue(session: AsyncSession, body: KeyCreate) -> tuple[ApiKey, Client, str]:
    """(the key's row, its client, the key itself: shown once)."""
    if body.client_id is not None:
        client = await service.get_client(session, body.client_id)
        errors = []
        if body.role is not None and body.role != client.role:
            errors.append(field_error("role", f"client {client.id} has role {client.role}"))
        if body.require_signature is not None:
            errors.append(
                field_error("require_signature", "a client setting: PATCH /v1/clients/{id}")
            )
        if errors:
            raise ValidationProblem("A rotated key keeps its client's settings", errors=errors)
    else:
        errors = []
        if body.role is None:
            errors.append(field_error("role", "required for a new client", "missing"))
        if body.client_name is None:
            errors.append(field_error("client_name", "required for a new client", "missing"))
        if body.role == "device":
            errors.append(field_error("role", "device keys come with the device: POST /v1/devices"))
        if body.role == "department" and body.department_code is None:
            errors.append(field_error("department_code", "required for role department", "missing"))
        if body.role != "department" and body.department_code is not None:
            errors.append(field_error("department_code", "only for role department"))
        if errors:
            raise ValidationProblem("; ".join(e["message"] for e in errors), errors=errors)
        if body.department_code is not None:
            await registry.get_department(session, body.department_code, field="department_code")
        client = await service.create_client(
            session,
            name=body.client_name,
            role=body.role,
            department_code=body.department_code,
            require_signature=bool(body.require_signature),
        )
    api_key, key = await service.issue_key(session, client.id)
    return api_key, client, key

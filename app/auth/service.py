"""API keys: issue, look up, revoke. Keys are 256-bit random; the database holds only their hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey, Client
from app.errors import NotFound, ValidationProblem, field_error

KEY_PREFIX = "hcp_"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: the client behind the key, and for devices their placement."""

    key_id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    role: str
    department_code: str | None = None
    device_id: uuid.UUID | None = None
    device_active: bool | None = None
    window_no: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


_PRINCIPAL_SQL = text(
    """
    SELECT k.id AS key_id, c.id AS client_id, c.name, c.role,
           coalesce(c.department_code, d.department_code) AS department_code,
           d.id AS device_id, d.active AS device_active, d.window_no
      FROM api_key k
      JOIN client c ON c.id = k.client_id
      LEFT JOIN device d ON d.client_id = c.id
     WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL
    """
)


async def authenticate(session: AsyncSession, key: str) -> Principal | None:
    """The principal for a presented key, or None when it is unknown or revoked."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    row = (await session.execute(_PRINCIPAL_SQL, {"key_hash": hash_key(key)})).one_or_none()
    if row is None:
        return None
    return Principal(
        key_id=row.key_id,
        client_id=row.client_id,
        client_name=row.name,
        role=row.role,
        department_code=row.department_code,
        device_id=row.device_id,
        device_active=row.device_active,
        window_no=row.window_no,
    )


async def create_client(
    session: AsyncSession, *, name: str, role: str, department_code: str | None = None
) -> Client:
    client = Client(name=name, role=role, department_code=department_code)
    session.add(client)
    await session.flush()
    return client


async def issue_key(session: AsyncSession, client_id: uuid.UUID) -> tuple[ApiKey, str]:
    """A new key for an existing client; the plaintext is returned once and never stored."""
    key = new_key()
    api_key = ApiKey(client_id=client_id, key_hash=hash_key(key), prefix=key[:10])
    session.add(api_key)
    await session.flush()
    await session.refresh(api_key)
    return api_key, key


async def get_client(session: AsyncSession, client_id: uuid.UUID) -> Client:
    client = await session.get(Client, client_id)
    if client is None:
        raise ValidationProblem(
            "No such client", errors=[field_error("client_id", "no client with this id")]
        )
    return client


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        raise NotFound(f"No API key {key_id}")
    if api_key.revoked_at is None:
        api_key.revoked_at = datetime.now(UTC)
        await session.flush()
    return api_key


async def list_keys(session: AsyncSession) -> list[tuple[ApiKey, Client]]:
    rows = await session.execute(
        select(ApiKey, Client)
        .join(Client, Client.id == ApiKey.client_id)
        .order_by(ApiKey.created_at)
    )
    return [(k, c) for k, c in rows.all()]


async def count_active_keys(session: AsyncSession) -> int:
    return (
        await session.execute(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
    ).scalar_one()


async def touch_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Record use, at most once a minute per key so that hot keys do not contend on one row."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where(
            (ApiKey.last_used_at.is_(None))
            | (ApiKey.last_used_at < func.now() - text("interval '1 minute'"))
        )
        .values(last_used_at=func.now())
    )

"""API keys: issue, look up, revoke. Keys are 256-bit random; the database holds only their hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import signing
from app.auth.models import ApiKey, Client
from app.db import positional
from app.errors import Conflict, NotFound, ValidationProblem, field_error

KEY_PREFIX = "hcp_"
# Old and new during a rotation.
MAX_ACTIVE_KEYS = 2


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
    require_signature: bool = False
    # This request was signed (app/auth/signing.py), not sent with the bare key.
    signed: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


_PRINCIPAL_COLUMNS = """
    SELECT k.id AS key_id, k.key_hash, c.id AS client_id, c.name, c.role, c.require_signature,
           coalesce(c.department_code, d.department_code) AS department_code,
           d.id AS device_id, d.active AS device_active, d.window_no
      FROM api_key k
      JOIN client c ON c.id = k.client_id
      LEFT JOIN device d ON d.client_id = c.id
"""
# No cache in front of these: a revoked key is refused on the very next request.
_PRINCIPAL_RAW, _ = positional(
    _PRINCIPAL_COLUMNS + " WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL"
)


class _Row:
    """Attribute access to an asyncpg record, as SQLAlchemy rows give."""

    __slots__ = ("_record",)

    def __init__(self, record) -> None:
        self._record = record

    def __getattr__(self, name: str):
        return self._record[name]


_PRINCIPAL_BY_ID_SQL = text(_PRINCIPAL_COLUMNS + " WHERE k.id = :key_id AND k.revoked_at IS NULL")


def _principal(row, *, signed: bool = False) -> Principal:
    return Principal(
        key_id=row.key_id,
        client_id=row.client_id,
        client_name=row.name,
        role=row.role,
        department_code=row.department_code,
        device_id=row.device_id,
        device_active=row.device_active,
        window_no=row.window_no,
        require_signature=row.require_signature,
        signed=signed,
    )


async def authenticate(session: AsyncSession, key: str) -> Principal | None:
    """The principal for a presented key, or None when it is unknown or revoked."""
    if not key_shaped(key):
        return None
    # Every request runs this first: on SQLAlchemy's connection but not compiled, so that it
    # begins the request's transaction (which statements sent straight on the driver join).
    connection = await session.connection()
    row = (await connection.exec_driver_sql(_PRINCIPAL_RAW, (hash_key(key),))).first()
    return None if row is None else _principal(row)


async def principal_for_key_id(session: AsyncSession, key_id: uuid.UUID) -> Principal | None:
    """The principal of a key by its id while it is not revoked (a console session's key)."""
    row = (await session.execute(_PRINCIPAL_BY_ID_SQL, {"key_id": key_id})).one_or_none()
    return None if row is None else _principal(row)


def key_shaped(key: str) -> bool:
    """Whether a presented key could be one of ours (else it is not looked up)."""
    return key.startswith(KEY_PREFIX) and len(key) <= 100


async def principal_for_hash(driver, key_hash: bytes) -> Principal | None:
    row = await driver.fetchrow(_PRINCIPAL_RAW, key_hash)
    return None if row is None else _principal(_Row(row))


async def authenticate_signed(
    session: AsyncSession,
    signed: signing.SignedHeaders,
    *,
    method: str,
    target: str,
    body: bytes,
    now: float,
    tolerance: int,
) -> Principal:
    """The principal for a signed request whose signature and timestamp hold.

    Raises SignatureError; the nonce is spent separately (spend_nonce), after the rate limit."""
    row = (await session.execute(_PRINCIPAL_BY_ID_SQL, {"key_id": signed.key_id})).one_or_none()
    if row is None:
        raise signing.SignatureError("unknown-key", "Unknown or revoked key id")
    # The stored SHA-256 of the key is the signing key (see app/auth/signing.py).
    signing.verify(row.key_hash, signed, method, target, body, now=now, tolerance=tolerance)
    return _principal(row, signed=True)


_SPEND_NONCE_SQL = text(
    """
    INSERT INTO request_nonce (key_id, nonce, expires_at) VALUES (:key_id, :nonce, :expires_at)
    ON CONFLICT DO NOTHING RETURNING 1
    """
)


async def spend_nonce(
    session: AsyncSession, signed: signing.SignedHeaders, *, tolerance: int
) -> bool:
    """Record the nonce; False when this key already used it (a replay).

    In the request's transaction: a request that fails changed nothing and spends nothing, and
    of two racing copies the second waits for the first to commit, then finds it spent."""
    # Kept while its timestamp is acceptable, plus a minute for clocks between us and the database.
    expires_at = datetime.fromtimestamp(signed.timestamp + tolerance + 60, UTC)
    inserted = await session.execute(
        _SPEND_NONCE_SQL,
        {"key_id": signed.key_id, "nonce": signed.nonce, "expires_at": expires_at},
    )
    return inserted.first() is not None


async def purge_nonces(session: AsyncSession, *, now: datetime) -> int:
    """Forget nonces whose timestamps can no longer be accepted at `now` (the app's clock, which
    judges the signatures' window)."""
    result = await session.execute(
        text("DELETE FROM request_nonce WHERE expires_at < :now"), {"now": now}
    )
    return result.rowcount


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    department_code: str | None = None,
    require_signature: bool | None = None,
) -> Client:
    """A new client; devices must sign their requests unless told otherwise."""
    if require_signature is None:
        require_signature = role == "device"
    client = Client(
        name=name, role=role, department_code=department_code, require_signature=require_signature
    )
    session.add(client)
    await session.flush()
    return client


async def ensure_system_client(
    session: AsyncSession, client_id: uuid.UUID, *, name: str, role: str
) -> None:
    """A client with a fixed id that the service itself posts as (e.g. the QR-code page's
    ratings: event ids and follow-up ratings are per client); created on first use."""
    await session.execute(
        pg_insert(Client)
        .values(id=client_id, name=name, role=role, require_signature=False)
        .on_conflict_do_nothing(index_elements=[Client.id])
    )


async def update_client(
    session: AsyncSession, client_id: uuid.UUID, *, require_signature: bool | None = None
) -> Client:
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(f"No client {client_id}")
    if require_signature is not None:
        client.require_signature = require_signature
        await session.flush()
    return client


async def issue_key(session: AsyncSession, client_id: uuid.UUID) -> tuple[ApiKey, str]:
    """A new key for an existing client; the plaintext is returned once and never stored.

    At most MAX_ACTIVE_KEYS per client (old and new during a rotation): another is a 409."""
    # The client's row lock orders concurrent issues, so two cannot both see one active key.
    await session.execute(select(Client.id).where(Client.id == client_id).with_for_update())
    active = (
        await session.execute(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.client_id == client_id, ApiKey.revoked_at.is_(None))
        )
    ).scalar_one()
    if active >= MAX_ACTIVE_KEYS:
        raise Conflict(
            f"Client {client_id} already has {active} active keys; revoke one "
            "(DELETE /v1/keys/{id}) before issuing another",
            active_keys=active,
        )
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


class LastAdminKey(Conflict):
    type, title = "last-admin-key", "The last active admin key cannot be revoked"


# Revocations of admin keys take this transaction lock in turn: two admins revoking each
# other's key at once would otherwise each see the other's key still active.
_ADMIN_KEYS_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('haochaping.admin_keys'))")
_OTHER_ACTIVE_ADMIN_KEYS = text(
    """
    SELECT count(*) FROM api_key k JOIN client c ON c.id = k.client_id
     WHERE c.role = 'admin' AND k.revoked_at IS NULL AND k.id <> :key_id
    """
)


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key; 409 for the last active admin key (no one could manage keys after it)."""
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        raise NotFound(f"No API key {key_id}")
    if api_key.revoked_at is None:
        client = await session.get(Client, api_key.client_id)
        if client is not None and client.role == "admin":
            await session.execute(_ADMIN_KEYS_LOCK)
            others = await session.execute(_OTHER_ACTIVE_ADMIN_KEYS, {"key_id": key_id})
            if others.scalar_one() == 0:
                raise LastAdminKey(
                    f"Key {key_id} is the last active admin key: revoked, no one could manage "
                    "keys any more. Issue another admin key first (POST /v1/keys with role "
                    "admin, or on the server `haochaping keys create --role admin`), then "
                    "revoke this one",
                    key_id=str(key_id),
                )
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


_TOUCH_SQL = text(
    """
    UPDATE api_key k SET last_used_at = u.used_at
      FROM unnest(CAST(:ids AS uuid[]), CAST(:used_at AS timestamptz[])) AS u(id, used_at)
     WHERE k.id = u.id
       AND (k.last_used_at IS NULL OR k.last_used_at < u.used_at - interval '1 minute')
    """
)


async def touch_keys(session: AsyncSession, used: dict[uuid.UUID, datetime]) -> None:
    """Record when keys were last used; a key written less than a minute ago is left alone."""
    if used:
        await session.execute(_TOUCH_SQL, {"ids": list(used), "used_at": list(used.values())})

import uuid

from fastapi import APIRouter, status

from app.auth import issuing, service
from app.auth.dependencies import AdminPrincipal
from app.auth.models import ApiKey, Client
from app.auth.schemas import ClientOut, ClientUpdate, KeyCreate, KeyCreated, KeyOut
from app.db import Session
from app.errors import NotFound

router = APIRouter(prefix="/v1/keys", tags=["keys"])
clients_router = APIRouter(prefix="/v1/clients", tags=["keys"])

_PROBLEM = {"content": {"application/problem+json": {}}}


def _out(api_key: ApiKey, client: Client) -> dict:
    return {
        "id": api_key.id,
        "client_id": client.id,
        "client_name": client.name,
        "role": client.role,
        "department_code": client.department_code,
        "require_signature": client.require_signature,
        "prefix": api_key.prefix,
        "created_at": api_key.created_at,
        "revoked_at": api_key.revoked_at,
        "last_used_at": api_key.last_used_at,
    }


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses={409: {"description": "The client already has two active keys", **_PROBLEM}},
)
async def create_key(body: KeyCreate, session: Session, _: AdminPrincipal) -> dict:
    """Issue a key: for a new client, or another key for an existing client (rotation).

    A client holds at most two active keys (the old and the new during a rotation)."""
    api_key, client, key = await issuing.issue(session, body)
    return {**_out(api_key, client), "key": key}


@router.get("", response_model=list[KeyOut])
async def list_keys(session: Session, _: AdminPrincipal) -> list[dict]:
    """Every key, active and revoked, without the secrets."""
    return [_out(k, c) for k, c in await service.list_keys(session)]


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    responses={
        404: _PROBLEM,
        409: {"description": "The last active admin key (issue another one first)", **_PROBLEM},
    },
)
async def revoke_key(key_id: uuid.UUID, session: Session, _: AdminPrincipal) -> dict:
    """Revoke a key; it is refused from the next request on. The last active admin key
    cannot be revoked (409): issue another admin key first."""
    api_key = await service.revoke_key(session, key_id)
    client = await session.get(Client, api_key.client_id)
    return _out(api_key, client)


@clients_router.get("/{client_id}", response_model=ClientOut)
async def get_client(client_id: uuid.UUID, session: Session, _: AdminPrincipal) -> Client:
    """A client (a device or a named system) and its settings."""
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(f"No client {client_id}")
    return client


@clients_router.patch("/{client_id}", response_model=ClientOut)
async def update_client(
    client_id: uuid.UUID, body: ClientUpdate, session: Session, _: AdminPrincipal
) -> Client:
    """Change a client's settings: `require_signature` applies from the next request."""
    return await service.update_client(session, client_id, require_signature=body.require_signature)

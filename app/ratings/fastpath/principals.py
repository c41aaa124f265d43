"""Principals remembered by key hash, and the check that a write on their behalf re-makes."""

from __future__ import annotations

from typing import Any

from app.auth.service import Principal

# A statement that writes on a remembered principal's behalf includes this check: the key is
# still active and nothing of the principal has changed (a device moved or deactivated, a
# signature now required), as of the writing statement's own snapshot.
STILL_VALID = """
    SELECT 1 FROM api_key k
      JOIN client c ON c.id = k.client_id
      LEFT JOIN device d ON d.client_id = c.id
     WHERE k.id = :principal_key_id AND k.revoked_at IS NULL
       AND (c.id, c.name, c.role, c.require_signature,
            coalesce(c.department_code, d.department_code), d.id, d.active, d.window_no)
           IS NOT DISTINCT FROM
           (CAST(:client_id AS uuid), CAST(:principal_client_name AS text),
            CAST(:principal_role AS text), CAST(:principal_require_signature AS boolean),
            CAST(:principal_department_code AS text), CAST(:principal_device_id AS uuid),
            CAST(:principal_device_active AS boolean), CAST(:principal_window_no AS text))
"""


def still_valid_params(principal: Principal) -> dict[str, Any]:
    """STILL_VALID's parameters (with `client_id`, which the writing statement shares)."""
    return {
        "principal_key_id": principal.key_id,
        "client_id": principal.client_id,
        "principal_client_name": principal.client_name,
        "principal_role": principal.role,
        "principal_require_signature": principal.require_signature,
        "principal_department_code": principal.department_code,
        "principal_device_id": principal.device_id,
        "principal_device_active": principal.device_active,
        "principal_window_no": principal.window_no,
    }


class PrincipalCache:
    """Principals by key hash, remembered for a short while by the single-event ingest path.

    Never trusted for a write on its own: that path's statement re-checks the key (STILL_VALID)
    and writes nothing when it fails, so a revoked key is refused on its very next request as
    before; then the entry is dropped and the request re-authenticated from scratch."""

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def get(self, key_hash: bytes, now: float) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or now - entry[1] > self.ttl:
            return None
        return entry[0]

    def put(self, key_hash: bytes, principal: Principal, now: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (principal, now)

    def drop(self, key_hash: bytes) -> None:
        self._entries.pop(key_hash, None)

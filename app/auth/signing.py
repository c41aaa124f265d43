"""Signed requests (pure, no I/O): HMAC-SHA256 over the method, the request target, a timestamp,
a nonce and the body's SHA-256.

A client sends four headers instead of its API key:

    X-HCP-Key-Id:     the key's id (a UUID, returned as `id` / `key_id` when the key is issued)
    X-HCP-Timestamp:  Unix time in whole seconds
    X-HCP-Nonce:      16 to 64 characters of [A-Za-z0-9_-], new for every request
    X-HCP-Signature:  lowercase hex HMAC-SHA256(signing_key, string_to_sign)

signing_key = SHA-256(API key as UTF-8), the 32 raw bytes: the digest the service already keeps
for every key, so any key can sign and the device holds one secret only. string_to_sign is six
lines joined by "\\n" (no trailing newline):

    HCP1-HMAC-SHA256
    <METHOD in upper case>
    <path and query exactly as sent, e.g. /v1/ratings/batch or /v1/ratings?limit=10>
    <timestamp, as in the header>
    <nonce, as in the header>
    <lowercase hex SHA-256 of the body bytes (of b"" when there is none)>

The service accepts a timestamp within a tolerance of its clock, either way (300 seconds unless
HAOCHAPING_SIGNATURE_TOLERANCE_SECONDS says otherwise), and each nonce once per key. A refusal
is a 401 whose `reason` says why: malformed, unknown-key, stale (with `server_time`), mismatch,
replay; or signature-required for a client that sent its bare key.
(This module checks the signature; app/auth/dependencies.py spends the nonce.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

SCHEME = "HCP1-HMAC-SHA256"
KEY_ID_HEADER = "X-HCP-Key-Id"
TIMESTAMP_HEADER = "X-HCP-Timestamp"
NONCE_HEADER = "X-HCP-Nonce"
SIGNATURE_HEADER = "X-HCP-Signature"
HEADERS = (KEY_ID_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)

DEFAULT_TOLERANCE = 300

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_METHOD = re.compile(r"[A-Z]{1,16}")


class SignatureError(Exception):
    """Why a signed request is refused; `reason` is one of malformed, stale, mismatch."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    key_id: uuid.UUID
    timestamp: int
    nonce: str
    signature: str


def signing_key(api_key: str) -> bytes:
    """The HMAC key for an API key: its SHA-256 digest."""
    return hashlib.sha256(api_key.encode()).digest()


def string_to_sign(method: str, target: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    return "\n".join(
        (SCHEME, method.upper(), target, str(timestamp), nonce, hashlib.sha256(body).hexdigest())
    ).encode()


def signature(key: bytes, method: str, target: str, timestamp: int, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the string to sign."""
    message = string_to_sign(method, target, timestamp, nonce, body)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(
    api_key: str,
    key_id: uuid.UUID | str,
    method: str,
    target: str,
    body: bytes,
    *,
    timestamp: int,
    nonce: str,
) -> dict[str, str]:
    """The four headers of a signed request (what a client does)."""
    return {
        KEY_ID_HEADER: str(key_id),
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(signing_key(api_key), method, target, timestamp, nonce, body),
    }


def is_signed(headers: Mapping[str, str]) -> bool:
    """True when the request carries any of the signing headers (then it must carry all)."""
    return any(name in headers for name in HEADERS)


def parse(headers: Mapping[str, str]) -> SignedHeaders:
    """Read the four headers (a case-insensitive mapping such as Starlette's); SignatureError
    with reason malformed when one is missing or ill-formed."""
    missing = [name for name in HEADERS if name not in headers]
    if missing:
        raise SignatureError(
            "malformed", f"A signed request needs the header(s) {', '.join(missing)}"
        )
    raw_key_id = headers[KEY_ID_HEADER].strip()
    try:
        if len(raw_key_id) > 36:
            raise ValueError
        key_id = uuid.UUID(raw_key_id)
    except ValueError:
        raise SignatureError("malformed", f"{KEY_ID_HEADER} must be a key id (a UUID)") from None
    raw_timestamp = headers[TIMESTAMP_HEADER].strip()
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise SignatureError("malformed", f"{TIMESTAMP_HEADER} must be Unix time in seconds")
    nonce = headers[NONCE_HEADER].strip()
    if not _NONCE.fullmatch(nonce):
        raise SignatureError("malformed", f"{NONCE_HEADER} must be 16-64 characters [A-Za-z0-9_-]")
    given = headers[SIGNATURE_HEADER].strip()
    if not _SIGNATURE.fullmatch(given):
        raise SignatureError("malformed", f"{SIGNATURE_HEADER} must be 64 lowercase hex digits")
    return SignedHeaders(key_id, int(raw_timestamp), nonce, given)


def verify(
    key: bytes,
    signed: SignedHeaders,
    method: str,
    target: str,
    body: bytes,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Check freshness and the HMAC; SignatureError (stale or mismatch) when either fails."""
    if not _METHOD.fullmatch(method):
        raise SignatureError("malformed", "Unknown method")
    if abs(now - signed.timestamp) > tolerance:
        raise SignatureError(
            "stale",
            f"{TIMESTAMP_HEADER} is more than {tolerance} s from the server's clock "
            f"({int(now)}); sign each attempt anew with the current time",
        )
    expected = signature(key, method, target, signed.timestamp, signed.nonce, body)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError("mismatch", "The signature does not match the request")

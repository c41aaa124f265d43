"""Webhook signatures (pure): HMAC-SHA256 over "<timestamp>.<body>".

Headers: `X-Haochaping-Timestamp` (Unix seconds) and `X-Haochaping-Signature` (`v1=<hex>`).
A receiver recomputes the HMAC with the shared secret, compares in constant time, and refuses
timestamps too far from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Haochaping-Timestamp"
SIGNATURE_HEADER = "X-Haochaping-Signature"
EVENT_HEADER = "X-Haochaping-Event"
DELIVERY_HEADER = "X-Haochaping-Delivery"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str, headers: dict[str, str], body: bytes, *, now: int, tolerance: int = 300
) -> bool:
    """What a receiver does: a valid signature on a fresh timestamp."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
        given = lowered[SIGNATURE_HEADER.lower()]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))

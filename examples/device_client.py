"""Reference client for a tablet evaluator (评价器): signed requests and an offline backlog.

Copy this file; it needs the Python standard library (3.11+) and httpx only. httpx is already
in the service's virtualenv (`.venv/bin/python examples/device_client.py ...`); elsewhere
`pip install httpx` (on an intranet without internet: `pip download httpx` on a connected machine,
carry the wheels over, `pip install --no-index --find-links ./wheels httpx`).

    python examples/device_client.py --url https://hcp.example.gov.cn \\
        --key-id 0b6f...  --key hcp_...  --level 5

From a shell, `haochaping device post /v1/ratings '{...}'` sends one request signed the same way.

The device keeps two values from its registration (POST /v1/devices): `key_id` and `key`.
Every request is signed anew (new timestamp, new nonce), including every retry; the event_ids
stay the same, so a retried upload is stored once. The scheme (see README, "Signed requests"):

    signing_key    = SHA-256(key)                       # 32 raw bytes
    string_to_sign = "HCP1-HMAC-SHA256\\n" + METHOD + "\\n" + path_and_query + "\\n"
                     + timestamp + "\\n" + nonce + "\\n" + hex(SHA-256(body))
    X-HCP-Signature = hex(HMAC-SHA256(signing_key, string_to_sign))
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx

SCHEME = "HCP1-HMAC-SHA256"


def sign_headers(
    key_id: str, key: str, method: str, target: str, body: bytes, timestamp: int, nonce: str
) -> dict[str, str]:
    """The four X-HCP-* headers for one request."""
    string_to_sign = "\n".join(
        [SCHEME, method.upper(), target, str(timestamp), nonce, hashlib.sha256(body).hexdigest()]
    ).encode()
    signing_key = hashlib.sha256(key.encode()).digest()
    return {
        "X-HCP-Key-Id": key_id,
        "X-HCP-Timestamp": str(timestamp),
        "X-HCP-Nonce": nonce,
        "X-HCP-Signature": hmac.new(signing_key, string_to_sign, hashlib.sha256).hexdigest(),
    }


class HcpAuth(httpx.Auth):
    """httpx authentication that signs every request as it is sent.

    A tablet's clock drifts: when the service answers 401 because the timestamp is too far from
    its clock, the service's time (in the problem body) is remembered as an offset and the
    request is signed and sent once more."""

    requires_request_body = True
    requires_response_body = True

    def __init__(self, key_id: str, key: str, clock: Callable[[], float] = time.time) -> None:
        self.key_id = str(key_id)
        self.key = key
        self.clock = clock
        self.offset = 0

    def _sign(self, request: httpx.Request) -> None:
        headers = sign_headers(
            self.key_id,
            self.key,
            request.method,
            request.url.raw_path.decode("ascii"),  # path and query, as sent
            request.content,
            int(self.clock()) + self.offset,
            secrets.token_urlsafe(18),  # 24 characters, new for each attempt
        )
        request.headers.update(headers)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        self._sign(request)
        response = yield request
        if response.status_code == 401:
            try:
                problem = response.json()
            except ValueError:
                return
            if problem.get("reason") == "stale" and "server_time" in problem:
                self.offset = int(problem["server_time"]) - int(self.clock())
                self._sign(request)
                yield request


def upload_backlog(
    http: httpx.Client,
    events: list[dict],
    *,
    batch_size: int = 500,
    attempts: int = 8,
    sleep: Callable[[float], None] = time.sleep,
    on_rejected: Callable[[dict], None] | None = None,
) -> dict[str, int]:
    """Send buffered events in batches; retry on network errors, 429 and 5xx.

    Returns the counts of created, duplicate (sent before) and rejected events. Rejected events
    are invalid and will stay so: drop them from the buffer, but say which and why. Each is
    passed to `on_rejected` as {"index": its position in `events`, "event_id", "errors": the
    service's [{"field", "message", "code"}]}; by default it is logged as a warning."""
    report = on_rejected or _log_rejected
    totals = {"created": 0, "duplicate": 0, "rejected": 0}
    for start in range(0, len(events), batch_size):
        chunk = events[start : start + batch_size]
        for attempt in range(attempts):
            try:
                response = http.post("/v1/ratings/batch", json={"events": chunk})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                result = response.json()
                for name in totals:
                    totals[name] += result[name]
                for item in result.get("results", []):
                    if item.get("status") == "rejected":
                        sent = chunk[item["index"]]
                        report(
                            {
                                "index": start + item["index"],
                                "event_id": item.get("event_id") or sent.get("event_id"),
                                "errors": item.get("errors", []),
                            }
                        )
                break
            if response is not None and response.status_code not in (429, 500, 502, 503, 504):
                response.raise_for_status()  # 401/403/422: retrying will not help
            wait = min(60.0, 2.0**attempt)
            if response is not None and "Retry-After" in response.headers:
                wait = max(wait, float(response.headers["Retry-After"]))
            sleep(wait)
        else:
            raise RuntimeError(f"gave up on events {start}..{start + len(chunk) - 1}; keep them")
    return totals


def _log_rejected(rejection: dict) -> None:
    reasons = "; ".join(
        f"{error.get('field')}: {error.get('message')}" for error in rejection["errors"]
    )
    logging.getLogger("hcp.device").warning(
        "event %s (#%d) rejected: %s", rejection["event_id"], rejection["index"], reasons
    )


def new_event(level: int, tags: list[str] | None = None) -> dict:
    """A rating as the tablet records it: the event_id is made once, when the person rates."""
    return {
        "event_id": str(uuid.uuid4()),
        "level": level,
        "tags": tags or [],
        "rated_at": datetime.now(UTC).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--level", type=int, default=5)
    args = parser.parse_args(argv)
    rejected: list[dict] = []
    with httpx.Client(base_url=args.url, auth=HcpAuth(args.key_id, args.key), timeout=10.0) as http:
        totals = upload_backlog(http, [new_event(args.level)], on_rejected=rejected.append)
    print(json.dumps({**totals, "rejected_events": rejected}, ensure_ascii=False))
    return 1 if rejected else 0


if __name__ == "__main__":
    sys.exit(main())

"""`haochaping device`: one signed request, sent as a device (tablet) would."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.config import Settings

DEVICE_KEY_ENV = "HAOCHAPING_DEVICE_KEY"
DEVICE_KEY_ID_ENV = "HAOCHAPING_DEVICE_KEY_ID"


def cmd_device(args: argparse.Namespace, settings: Settings) -> int:
    """Send one signed request as a device would, print the status and the answer."""
    import httpx

    key = args.key or os.environ.get(DEVICE_KEY_ENV)
    key_id = args.key_id or os.environ.get(DEVICE_KEY_ID_ENV)
    if not key or not key_id:
        print(
            f"haochaping device: give the key and its id (--key or {DEVICE_KEY_ENV}, "
            f"--key-id or {DEVICE_KEY_ID_ENV}; both come from POST /v1/devices)",
            file=sys.stderr,
        )
        return 2
    try:
        body = _device_body(args.body, args.data)
    except ValueError as exc:
        print(f"haochaping device: {exc}", file=sys.stderr)
        return 2
    try:
        with httpx.Client(base_url=args.url, timeout=args.timeout) as http:
            response = send_signed(http, args.method.upper(), args.path, body, key_id, key)
    except httpx.HTTPError as exc:
        print(f"haochaping device: {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.reason_phrase}", file=sys.stderr)
    try:
        answer = json.dumps(response.json(), ensure_ascii=False, indent=2)
    except ValueError:
        answer = response.text
    if answer:
        print(answer)
    if response.status_code >= 500:
        return 5
    return 4 if response.status_code >= 400 else 0


def _device_body(body: str | None, data: str | None) -> bytes:
    """The request body: the BODY argument or --data (`@file`, `-` for stdin, or the JSON
    itself); checked to be JSON, sent byte for byte as given."""
    if body is not None and data is not None:
        raise ValueError("give the body once: as an argument or with --data")
    text = data if data is not None else body
    if text is None:
        return b""
    if text == "-":
        raw = sys.stdin.buffer.read()
    elif text.startswith("@"):
        try:
            raw = Path(text[1:]).read_bytes()
        except OSError as exc:
            raise ValueError(f"--data {text}: {exc.strerror}") from exc
    else:
        raw = text.encode()
    try:
        json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    return raw


def send_signed(
    http,
    method: str,
    path: str,
    body: bytes,
    key_id: str,
    key: str,
    *,
    clock=None,
):
    """Sign (app.auth.signing, the service's own code) and send one request; a 401 `stale`
    (this machine's clock is off) is signed again once with the service's time."""
    import secrets
    import time

    from app.auth import signing

    clock = clock or time.time
    offset = 0
    for _ in range(2):
        headers = {"Content-Type": "application/json"} if body else {}
        request = http.build_request(method, path, content=body, headers=headers)
        request.headers.update(
            signing.sign(
                key,
                key_id,
                method,
                request.url.raw_path.decode("ascii"),  # the path and query exactly as sent
                body,
                timestamp=int(clock()) + offset,
                nonce=secrets.token_urlsafe(18),
            )
        )
        response = http.send(request)
        if response.status_code != 401 or offset:
            return response
        try:
            problem = response.json()
        except ValueError:
            return response
        if problem.get("reason") != "stale" or "server_time" not in problem:
            return response
        offset = int(problem["server_time"]) - int(clock())
        drift = f"{abs(offset)} s {'behind' if offset > 0 else 'ahead of'} the service's"
        print(f"this machine's clock is {drift}: signed again", file=sys.stderr)
    return response

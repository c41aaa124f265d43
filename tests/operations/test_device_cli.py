"""`haochaping device`: requests signed from a shell, sent to the service over HTTP (the session's
app served by uvicorn), as a tablet's would be."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

from examples.device_client import HcpAuth, upload_backlog
from tests.fixtures.factories import count_ratings, make_device
from tests.fixtures.signing import rating


async def device_cli(*args: str, key: str | None, key_id: str | None, stdin: bytes = b""):
    """Run `haochaping device ARGS` with the key in the environment; (exit code, out, err)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAOCHAPING_")}
    if key is not None:
        env["HAOCHAPING_DEVICE_KEY"] = key
    if key_id is not None:
        env["HAOCHAPING_DEVICE_KEY_ID"] = key_id
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "device", *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=60,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.fixture
async def tablet(client, admin):
    """A registered tablet that must sign; its registration (key_id, key, client_id, ...)."""
    created, _ = await make_device(client, admin, signed=True)
    return created


async def test_a_signed_post_is_stored(app, client, admin, clock, live_server, tablet):
    body = json.dumps(rating(level=2) | {"tags": ["waiting"]}, ensure_ascii=False)
    code, out, err = await device_cli(
        "post",
        "/v1/ratings",
        body,
        "--url",
        live_server,
        key=tablet["key"],
        key_id=tablet["key_id"],
    )
    assert code == 0, err
    assert err.splitlines()[0] == "201 Created"
    stored = json.loads(out)
    r = await client.get(f"/v1/ratings/{stored['id']}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["level"] == 2 and r.json()["channel"] == "window_device"
    assert await count_ratings(app) == 1


async def test_a_bad_signature_is_refused_and_stores_nothing(app, clock, live_server, tablet):
    code, out, err = await device_cli(
        "post",
        "/v1/ratings",
        json.dumps(rating()),
        "--url",
        live_server,
        key=tablet["key"] + "x",  # not the device's key: the signature cannot match
        key_id=tablet["key_id"],
    )
    assert code == 4, (out, err)
    assert err.splitlines()[0] == "401 Unauthorized"
    problem = json.loads(out)
    assert problem["status"] == 401 and problem["reason"] == "mismatch"
    assert await count_ratings(app) == 0


async def test_a_batch_from_a_file_reports_each_rejected_event(
    app, clock, live_server, tablet, tmp_path
):
    events = [rating(event_id="ok-1"), rating(event_id="bad-1", level=9)]
    batch = tmp_path / "backlog.json"
    batch.write_text(json.dumps({"events": events}))
    code, out, err = await device_cli(
        "post",
        "/v1/ratings/batch",
        "--data",
        f"@{batch}",
        "--url",
        live_server,
        key=tablet["key"],
        key_id=tablet["key_id"],
    )
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["created"], answer["rejected"]) == (1, 1)
    rejected = [r for r in answer["results"] if r["status"] == "rejected"]
    assert rejected[0]["event_id"] == "bad-1" and rejected[0]["errors"][0]["field"] == "level"
    assert await count_ratings(app) == 1


async def test_a_drifting_clock_is_corrected_once(app, clock, live_server, tablet):
    """The service's clock an hour ahead: the first signature is stale, the second (signed
    with the service's time from the 401) is accepted."""
    clock.advance(timedelta(hours=1))
    code, out, err = await device_cli(
        "post",
        "/v1/ratings",
        "-",
        "--url",
        live_server,
        key=tablet["key"],
        key_id=tablet["key_id"],
        stdin=json.dumps(rating()).encode(),
    )
    assert code == 0, (out, err)
    assert "behind the service's" in err and "201 Created" in err
    assert await count_ratings(app) == 1


async def test_the_upload_reports_which_events_were_rejected_and_why(live_server, clock, tablet):
    """The reference client against the live service: the rejected event, its index and why."""
    events = [rating(event_id="b-0"), rating(event_id="b-1", level=0), rating(event_id="b-2")]
    rejected: list[dict] = []

    def upload() -> dict:
        auth = HcpAuth(tablet["key_id"], tablet["key"])
        with httpx.Client(base_url=live_server, auth=auth, timeout=10) as http:
            return upload_backlog(http, events, batch_size=2, on_rejected=rejected.append)

    totals = await asyncio.to_thread(upload)
    assert totals == {"created": 2, "duplicate": 0, "rejected": 1}
    assert [(r["index"], r["event_id"]) for r in rejected] == [(1, "b-1")]
    assert rejected[0]["errors"][0]["field"] == "level"


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (["post", "/v1/ratings", "{}"], None, "HAOCHAPING_DEVICE_KEY"),
        (["post", "/v1/ratings", "{not json"], "hcp_x", "not JSON"),
        (["post", "/v1/ratings", "--data", "@/nonexistent.json"], "hcp_x", "@/nonexistent"),
    ],
)
async def test_bad_usage_says_why_without_sending(args, key, message):
    code, out, err = await device_cli(
        *args, "--url", "http://127.0.0.1:9", key=key, key_id="6f1d0c2e-8f0a-4a57-9d6b-3c1f0a9e2b11"
    )
    assert code == 2 and message in err and out == ""

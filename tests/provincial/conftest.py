"""A mock provincial platform on 127.0.0.1 (a small ASGI app under uvicorn in a thread) that
checks every pushed document against its profile's field list, and helpers for the tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.fixtures.factories import auth, make_department, make_key

BEIJING = ZoneInfo("Asia/Shanghai")
# The app's clock in these tests: a fixed Beijing morning (never the day the suite runs).
T0 = datetime(2026, 10, 9, 10, 0, tzinfo=BEIJING)
OK = {"status": {"code": 200}, "custom": {"code": 1}}


class Platform:
    """Records each document; answers `answer`; notes any document missing a required field."""

    def __init__(self, required: list[str]) -> None:
        self.required = required
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.problems: list[str] = []
        self.answer: dict = OK

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        document = json.loads(body)
        missing = [f for f in self.required if f not in document]
        if missing:
            self.problems.append(f"{document.get('projectNo')}: missing {missing}")
        self.received.append(document)
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        payload = json.dumps(self.answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class PlatformServer:
    """The platform served on a fixed port, which can go down and come back."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/report"
        self.server = None
        self.thread = None

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.platform,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="platform")
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the mock platform did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = None


@pytest.fixture
def platform():
    """The mock platform, checking documents against the zhejiang profile's field list; not
    started (tests start it, stop it, start it again)."""
    from app.provincial.profile import load

    server = PlatformServer(Platform(load()["zhejiang"].push.rating_fields))
    yield server
    server.stop()


@pytest.fixture
async def province(app, client, admin, clock):
    """Departments SJ and GA, a portal key of the provincial platform; no background jobs; the
    clock at T0."""
    await app.state.jobs.stop()
    clock.set(T0)
    await make_department(client, admin, "SJ", "市场监督管理局")
    await make_department(client, admin, "GA", "公安局")
    return auth(await make_key(app, "portal", "浙江政务服务网"))


def doc(project_no: str, **fields) -> dict:
    """A provincial rating document (浙江 /report fields) with sensible values."""
    base = {
        "projectNo": project_no,
        "taskCode": "330100-SJ-001",
        "taskName": "个体工商户设立登记",
        "proDepart": "市场监督管理局",
        "proDepartCode": "SJ",
        "proStatus": 3,
        "areaCode": "330106",
        "pf": 1,
        "userName": "张三",
        "userProp": 1,
        "certKey": "330106199001011234",
        "satisfaction": 5,
        "assessTime": "2026-10-09 09:30:00",
        "assessNumber": 1,
    }
    return {**base, **fields}

"""Request ids, JSON logs without personal data, and Prometheus metrics."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re

from app.logs import JsonFormatter
from app.observability import RequestObservability
from tests.fixtures.factories import event, make_department, make_key


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 if absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        if sample.split("{", 1)[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


class Captured:
    """The JSON lines the app's loggers write while in use."""

    def __enter__(self) -> list[dict]:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.loggers = [logging.getLogger("haochaping.access"), logging.getLogger("app")]
        self.levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.addHandler(self.handler)
            logger.setLevel(logging.INFO)
        self.lines: list[dict] = []
        return self.lines

    def __exit__(self, *exc) -> None:
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.removeHandler(self.handler)
            logger.setLevel(level)
        self.raw = self.stream.getvalue()
        self.lines.extend(json.loads(line) for line in self.raw.splitlines())


async def test_a_request_id_is_generated_echoed_and_logged(client):
    capture = Captured()
    with capture as lines:
        r = await client.get("/healthz")
    request_id = r.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    (line,) = [entry for entry in lines if entry["logger"] == "haochaping.access"]
    assert line["request_id"] == request_id
    assert line["level"] == "info"
    assert line["method"] == "GET" and line["path"] == "/healthz" and line["status"] == 200
    assert line["route"] == "/healthz"
    assert isinstance(line["duration_ms"], float)
    assert "message" in line and "time" in line


async def test_a_sane_request_id_is_kept_and_a_strange_one_replaced(client):
    kept = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:1"})
    assert kept.headers["X-Request-ID"] == "lb-7f3a.42:1"
    for strange in ("x" * 129, "a b", "<script>", "13812345678\u00e9".encode()):
        r = await client.get("/healthz", headers={"X-Request-ID": strange})
        assert r.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"]), strange


async def test_request_id_reaches_request_state_and_error_responses(app, client):
    seen = {}

    @app.get("/_probe_request_id", include_in_schema=False)
    async def probe(request: __import__("fastapi").Request):
        seen["id"] = request.state.request_id
        return {}

    try:
        app.middleware_stack = None  # rebuilt with the new route
        r = await client.get("/_probe_request_id", headers={"X-Request-ID": "abc-1"})
        assert seen["id"] == "abc-1" and r.headers["X-Request-ID"] == "abc-1"
        missing = await client.get("/v1/ratings", headers={"X-Request-ID": "abc-2"})
        assert missing.status_code == 401
        assert missing.headers["X-Request-ID"] == "abc-2"
    finally:
        app.router.routes[:] = [
            r for r in app.router.routes if getattr(r, "path", "") != "/_probe_request_id"
        ]
        app.middleware_stack = None


async def test_personal_data_never_reaches_the_logs(app, client, admin):
    await make_department(client, admin, "SJ")
    key = await make_key(app, "portal")
    phone, name = "13812345678", "张三丰"
    capture = Captured()
    with capture:
        body = event(rater={"type": "individual", "name": name, "phone": phone})
        r = await client.post("/v1/ratings", json=body, headers={"X-API-Key": key})
        assert r.status_code == 201, r.text
        # A query string can carry personal data: it is never logged.
        await client.get(f"/v1/ratings?phone={phone}&name={name}", headers={"X-API-Key": key})
        logging.getLogger("app.test").warning("caller %s wrote in", phone)
    assert phone not in capture.raw and name not in capture.raw
    assert "138****5678" in capture.raw  # the safety net masked the stray warning


def test_the_formatter_masks_phone_and_identity_numbers_in_messages_and_tracebacks():
    formatter = JsonFormatter()
    try:
        raise ValueError("phone 13912345678, id 11010519491231002X")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, "", 0, "%s", ("13912345678",), None)
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "13912345678" not in line and "11010519491231002X" not in line
    entry = json.loads(line)
    assert entry["message"] == "139****5678" and entry["level"] == "error"


async def test_metrics_count_requests_by_route_template_and_ratings_by_channel_and_level(
    app, client, admin
):
    await make_department(client, admin, "SJ")
    key = await make_key(app, "portal")
    before = (await client.get("/metrics", headers=admin)).text
    for level in (5, 1):
        r = await client.post("/v1/ratings", json=event(level=level), headers={"X-API-Key": key})
        assert r.status_code == 201, r.text
    again = event(level=5)
    assert (await client.post("/v1/ratings", json=again, headers={"X-API-Key": key})).is_success
    assert (await client.post("/v1/ratings", json=again, headers={"X-API-Key": key})).is_success
    rating_id = r.json()["id"]
    assert (await client.get(f"/v1/ratings/{rating_id}", headers=admin)).status_code == 200
    await client.get("/no/such/path")
    r = await client.get("/metrics", headers=admin)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    after = r.text

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    total = "haochaping_http_requests_total"
    assert delta(total, method="POST", route="/v1/ratings", status="201") == 3
    assert delta(total, method="POST", route="/v1/ratings", status="200") == 1
    # Route templates, not paths: ids do not multiply the series.
    assert delta(total, method="GET", route="/v1/ratings/{rating_id}", status="200") == 1
    assert f'route="/v1/ratings/{rating_id}"' not in after
    assert delta(total, method="GET", route="(unmatched)", status="404") == 1
    assert (
        delta("haochaping_http_request_duration_seconds_count", method="POST", route="/v1/ratings")
        == 4
    )
    created = "haochaping_ratings_created_total"
    channel = event()["channel"]
    assert delta(created, channel=channel, level="5") == 2  # the retry is not counted
    assert delta(created, channel=channel, level="1") == 1
    assert metric(after, "haochaping_db_pool_connections", state="size") >= 1
    assert "haochaping_db_pool_connections" in after and 'state="checked_out"' in after


async def test_metrics_report_open_and_overdue_work_orders_and_the_outbox(app, client, admin):
    from sqlalchemy import text

    await make_department(client, admin, "SJ")
    key = await make_key(app, "portal")
    for _ in range(2):
        r = await client.post("/v1/ratings", json=event(level=1), headers={"X-API-Key": key})
        assert r.status_code == 201, r.text
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE work_order SET next_due_at = now() - interval '1 day' "
                "WHERE id = (SELECT min(id) FROM work_order)"
            )
        )
    app.state.metrics_refreshed_at = None
    body = (await client.get("/metrics", headers=admin)).text
    assert metric(body, "haochaping_work_orders_open") == 2
    assert metric(body, "haochaping_work_orders_overdue") == 1
    assert metric(body, "haochaping_outbox_backlog") == 0
    assert metric(body, "haochaping_db_up") == 1


async def test_metrics_need_an_admin_or_reader_key(app, client, admin):
    r = await client.get("/metrics")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem")
    assert "haochaping_work_orders_open" not in r.text
    portal = await make_key(app, "portal")
    r = await client.get("/metrics", headers={"X-API-Key": portal})
    assert r.status_code == 403 and "haochaping_work_orders" not in r.text
    reader = await make_key(app, "reader")
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 200 and "haochaping_work_orders_open" in r.text
    assert (await client.get("/metrics", headers=admin)).status_code == 200


def test_the_middleware_costs_microseconds():
    """The wrapper around a trivial ASGI app, in-process: well under 50 µs a request."""
    import asyncio
    import time

    async def trivial(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def noop_send(message):
        pass

    async def receive():
        return {"type": "http.request", "body": b""}

    async def run(app, n):
        scope = {"type": "http", "method": "POST", "path": "/v1/ratings", "headers": []}
        started = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), receive, noop_send)
        return (time.perf_counter() - started) / n

    access = logging.getLogger("haochaping.access")
    level = access.level
    access.setLevel(logging.WARNING)
    try:
        wrapped = RequestObservability(trivial)
        asyncio.run(run(wrapped, 1000))
        bare = min(asyncio.run(run(trivial, 5000)) for _ in range(3))
        with_ = min(asyncio.run(run(wrapped, 5000)) for _ in range(3))
    finally:
        access.setLevel(level)
    assert with_ - bare < 50e-6, (bare, with_)


def test_access_lines_are_written_in_chunks_and_flushed_in_time():
    import time

    from app.logs import BufferedLineHandler

    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=0.2, max_bytes=400)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.buffered")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("first")
        assert stream.getvalue() == ""  # held back
        deadline = time.monotonic() + 2
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [json.loads(x)["message"] for x in stream.getvalue().splitlines()] == ["first"]
        for n in range(10):  # over max_bytes: written without waiting for the timer
            logger.info("line %d", n)
        assert len(stream.getvalue().splitlines()) >= 4
        handler.close()  # a stop writes what is left
        messages = [json.loads(x)["message"] for x in stream.getvalue().splitlines()]
        assert messages == ["first", *(f"line {n}" for n in range(10))]
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def buffered_access_log():
    """The access log as `serve` sets it up, into a string: (stream, handler). Only a stop (or
    a flush) writes the lines."""
    from app.logs import BufferedLineHandler

    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=3600)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("haochaping.access")
    level, propagate = access.level, access.propagate
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    try:
        yield stream, handler
    finally:
        access.removeHandler(handler)
        access.filters.clear()
        handler.close()
        access.setLevel(level)
        access.propagate = propagate


async def test_stopping_the_app_writes_the_buffered_access_lines(settings, pg_url):
    from tests.fixtures.db import running_app

    with buffered_access_log() as (stream, _):
        quiet = settings.model_copy(update={"background_jobs": False})
        async with running_app(quiet, pg_url) as (_, http):
            assert (await http.get("/healthz")).status_code == 200
            assert stream.getvalue() == ""
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["path"] == "/healthz" and line["status"] == 200


async def test_the_buffered_access_line_is_the_line_logging_would_write():
    """As `serve` configures the access log (one buffered JSON handler), the middleware writes
    the line itself; a filter on the logger sends it through logging: the same line."""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    seen: list[logging.LogRecord] = []
    with buffered_access_log() as (stream, handler):
        for through_logging in (False, True):
            if through_logging:
                access = logging.getLogger("haochaping.access")
                access.addFilter(lambda record: seen.append(record) or True)
            path = "/v1/cases/13812345678/ratings"  # a number in the path: masked in both
            scope = {
                "type": "http",
                "method": "GET",
                "path": path,
                "headers": [(b"x-request-id", b"req-1")],
                "route": type("R", (), {"path_format": "/v1/cases/{case_no}/ratings"})(),
            }
            await RequestObservability(app)(scope, receive, send)
        handler.flush()
    direct, logged = (json.loads(line) for line in stream.getvalue().splitlines())
    assert len(seen) == 1  # only the second went through logging
    for line in (direct, logged):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line.pop("time"))
        assert isinstance(line.pop("duration_ms"), float)
    assert (
        direct
        == logged
        == {
            "level": "info",
            "logger": "haochaping.access",
            "message": "GET /v1/cases/138****5678/ratings 201",
            "request_id": "req-1",
            "method": "GET",
            "path": "/v1/cases/13812345678/ratings",
            "route": "/v1/cases/{case_no}/ratings",
            "status": 201,
        }
    )

"""Every input is bounded, and each bound answers a clear 4xx problem+json."""

from __future__ import annotations

import json

from app.main import openapi_json
from tests.fixtures.factories import assert_problem, event, make_department, make_key


async def portal(app, client, admin) -> dict[str, str]:
    await make_department(client, admin, "SJ")
    return {"X-API-Key": await make_key(app, "portal")}


async def test_a_body_over_the_size_limit_is_413(app, client, admin, settings):
    headers = await portal(app, client, admin)
    big = {"events": [event(comment="好" * 160) for _ in range(settings.max_body_bytes // 400)]}
    r = await client.post("/v1/ratings/batch", json=big, headers=headers)
    body = assert_problem(r, 413, type_suffix="payload-too-large")
    assert str(settings.max_body_bytes) in body["detail"]


async def test_a_batch_over_1000_events_is_422(app, client, admin):
    headers = await portal(app, client, admin)
    small = {"event_id": "e", "level": 5}
    r = await client.post("/v1/ratings/batch", json={"events": [small] * 1001}, headers=headers)
    assert_problem(r, 422, field="events")


async def test_a_page_over_500_items_is_422(app, client, admin):
    headers = await portal(app, client, admin)
    for path in ("/v1/ratings", "/v1/tickets"):
        r = await client.get(path, params={"limit": 501}, headers=admin)
        assert_problem(r, 422, field="query.limit")
    r = await client.get("/v1/ratings", params={"limit": 0}, headers=headers)
    assert_problem(r, 422, field="query.limit")


async def test_strings_over_their_length_are_422(app, client, admin):
    headers = await portal(app, client, admin)
    cases = [
        ("comment", event(comment="x" * 501)),
        ("event_id", event(event_id="e" * 129)),
        ("staff_id", event(staff_id="7" * 65)),
        ("service_item_name", event(service_item_name="事" * 201)),
    ]
    for field, body in cases:
        r = await client.post("/v1/ratings", json=body, headers=headers)
        assert_problem(r, 422, field=field)
    r = await client.get("/v1/ratings", params={"department_code": "D" * 65}, headers=admin)
    assert_problem(r, 422, field="query.department_code")
    r = await client.get("/v1/departments/" + "D" * 65, headers=admin)
    assert_problem(r, 422, field="path.code")
    r = await client.post(
        "/v1/webhooks",
        json={
            "name": "n",
            "url": "https://example.org/" + "a" * 2100,
            "event_types": ["ticket.opened"],
        },
        headers=admin,
    )
    assert_problem(r, 422, field="url")


async def test_json_nested_too_deeply_is_400_and_nesting_where_a_value_belongs_is_422(
    app, client, admin
):
    headers = await portal(app, client, admin)
    for depth in (5_000, 100_000):
        deep = b'{"events":' + b"[" * depth + b"]" * depth + b"}"
        r = await client.post(
            "/v1/ratings/batch",
            content=deep,
            headers={**headers, "Content-Type": "application/json"},
        )
        body = assert_problem(r, 400, type_suffix="malformed-body")
        assert body["detail"] == "JSON nested too deeply"
    nested: object = 1
    for _ in range(200):
        nested = {"a": nested}
    r = await client.post("/v1/ratings", json=event(comment=nested), headers=headers)
    assert_problem(r, 422, field="comment")
    r = await client.post("/v1/ratings", json=event(rater=nested), headers=headers)
    assert r.status_code == 422, r.text
    r = await client.post("/v1/ratings/batch", json={"events": [nested]}, headers=headers)
    assert r.status_code == 200 and r.json()["rejected"] == 1, r.text


async def test_a_query_string_or_path_too_long_is_414(app, client, admin):
    r = await client.get("/v1/ratings?cursor=" + "a" * 5000, headers=admin)
    body = assert_problem(r, 414, type_suffix="uri-too-long")
    assert "4096" in body["detail"]
    r = await client.get("/v1/departments/" + "D" * 2000, headers=admin)
    assert_problem(r, 414)
    # Within the length, a repeated parameter is still bounded by its list's maxItems.
    r = await client.get("/v1/tickets?" + "&".join(["state=open"] * 300), headers=admin)
    assert_problem(r, 422, field="query.state")


def test_every_string_and_list_in_the_contract_is_bounded():
    """Request bodies and parameters: a maxLength, an enum or an anchored pattern on every
    string; a maxItems on every list."""
    spec = json.loads(openapi_json())
    components = spec["components"]["schemas"]
    unbounded: list[str] = []

    def walk(schema: dict, where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                walk(components[name], f"{where}->{name}", seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)
        kind = schema.get("type")
        if kind == "string":
            bounded = (
                "maxLength" in schema
                or "enum" in schema
                or "const" in schema
                or schema.get("format") in ("date-time", "date", "uuid")
                or (schema.get("pattern", "").startswith("^") and schema["pattern"].endswith("$"))
            )
            if not bounded:
                unbounded.append(where)
        if kind == "array":
            if "maxItems" not in schema:
                unbounded.append(where)
            walk(schema.get("items", {}), where + "[]", seen)
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            unbounded.append(where + "{}")

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(
                    parameter.get("schema", {}),
                    f"{method.upper()} {path} {parameter['in']}:{parameter['name']}",
                    frozenset(),
                )
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{method.upper()} {path} body", frozenset())
    assert unbounded == []

"""Rating hooks: each app reacts to its ratings with its own subscribers and its own settings."""

from __future__ import annotations

import ast
from datetime import UTC, datetime

from app.main import create_app
from tests.fixtures.db import running_app
from tests.fixtures.factories import auth, make_department, make_key
from tests.fixtures.paths import ROOT

RATINGS = ROOT / "app" / "ratings"


def bad_rating(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "channel": "pc",
        "department_code": "SJ",
        "level": 1,
        "tags": ["attitude"],
        "rated_at": datetime.now(UTC).isoformat(),
    }


async def ticket_for_rating(http, admin, rating_id: int) -> dict:
    items = (await http.get("/v1/tickets", headers=admin, params={"limit": 500})).json()["items"]
    (match,) = [t for t in items if t["rating_id"] == rating_id]
    return match


async def test_a_bad_rating_opens_its_order_with_the_apps_own_deadline_policy(
    app, client, admin, settings, pg_url
):
    await make_department(client, admin, "SJ")
    portal = auth(await make_key(app, "portal"))
    other = settings.model_copy(
        update={"deadline_policy": {"rectify": 7}, "background_jobs": False}
    )
    async with running_app(other, pg_url) as (_, http):
        r = await http.post("/v1/ratings", json=bad_rating("other-policy"), headers=portal)
        assert r.status_code == 201, r.text
        ticket = await ticket_for_rating(http, admin, r.json()["id"])
    assert ticket["policy"] == {"rectify": 7}
    assert list(ticket["deadlines"]) == ["rectify"] and ticket["current_stage"] == "rectify"

    # The session's app, in the same process, keeps the default policy.
    r = await client.post("/v1/ratings", json=bad_rating("default-policy"), headers=portal)
    assert r.status_code == 201, r.text
    ticket = await ticket_for_rating(client, admin, r.json()["id"])
    assert ticket["policy"] == {"contact": 3, "rectify": 5, "complex": 15}


def test_each_app_subscribes_once_to_its_own_hooks(settings):
    first, second = create_app(settings), create_app(settings)
    assert first.state.rating_hooks is not second.state.rating_hooks
    for application in (first, second):
        assert len(application.state.rating_hooks.on_created) == 1
        assert len(application.state.rating_hooks.on_status_changed) == 1


def test_the_rating_domain_imports_neither_work_orders_nor_statistics():
    """They react through the hooks. (The router's withdrawal route is a work-order action
    served under /v1/ratings: it goes with the work orders' routers.)"""
    found = []
    for path in sorted(RATINGS.rglob("*.py")):
        if path.name == "router.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                (path.name, name)
                for name in names
                if name.startswith(("app.workorders", "app.stats"))
            ]
    assert found == []

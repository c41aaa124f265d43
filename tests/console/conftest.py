"""The console's fixtures: a centre with two departments, a key per role, one real-name 差评
(its work order open), and clients signed in through the sign-in form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from tests.fixtures.factories import auth, event, make_department, make_key, make_window

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Centre:
    keys: dict[str, str]
    order_id: int
    rating_id: int
    extra: dict = field(default_factory=dict)


async def build_centre(app, http: httpx.AsyncClient) -> Centre:
    """Departments SJ (window A01) and GA; keys admin, reader, department SJ and GA, portal;
    one real-name 差评 of SJ, whose work order is open."""
    admin = await make_key(app, "admin", "督查室")
    await make_department(http, auth(admin), "SJ", "市场监督管理局")
    await make_department(http, auth(admin), "GA", "公安局")
    await make_window(http, auth(admin), "SJ", "A01")
    keys = {
        "admin": admin,
        "reader": await make_key(app, "reader", "督查（只读）"),
        "department": await make_key(app, "department", "市场局办事员", "SJ"),
        "other_department": await make_key(app, "department", "公安局办事员", "GA"),
        "portal": await make_key(app, "portal", "政务服务网"),
    }
    response = await http.post(
        "/v1/ratings",
        json=event(
            level=1,
            window_no="A01",
            tags=["attitude"],
            comment="窗口人员态度差，电话13812345678",
            rater={"type": "individual", "name": "张三丰", "phone": "13812345678"},
        ),
        headers=auth(keys["portal"]),
    )
    assert response.status_code == 201, response.text
    rating_id = response.json()["id"]
    tickets = await http.get("/v1/tickets", headers=auth(admin))
    (order,) = tickets.json()["items"]
    return Centre(keys, order["id"], rating_id)


@pytest.fixture
async def centre(app, client) -> Centre:
    return await build_centre(app, client)


@pytest.fixture
async def browser_client(app):
    """A factory of cookie-keeping clients on the app (one per person)."""
    opened: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, key: str, *, next_: str = "") -> httpx.Response:
    """Sign in through the form, as a browser does; the answer to the POST."""
    page = await http.get("/console/login" + (f"?next={next_}" if next_ else ""))
    assert page.status_code == 200
    return await http.post(
        "/console/login",
        data={"csrf_token": csrf_of(page.text), "key": key, "next": next_},
    )


def unique() -> str:
    return uuid.uuid4().hex[:8]

"""Sign-in, the session and its cookie, CSRF, timeouts and sign-out (over ASGI, on the real
database); what each role may open."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.config import ConsoleSettings
from tests.console.conftest import csrf_of, sign_in
from tests.fixtures.db import running_app


async def test_a_key_is_exchanged_for_an_httponly_strict_session_and_never_stored(
    app, centre, browser_client
):
    http = browser_client()
    response = await sign_in(http, centre.keys["department"])
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "hcp_console=" in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    assert centre.keys["department"] not in cookie
    home = await http.get("/console")
    assert home.status_code == 303 and home.headers["location"] == "/console/desk"
    desk = await http.get("/console/desk")
    assert desk.status_code == 200
    assert "市场局办事员" in desk.text
    assert centre.keys["department"] not in desk.text
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM console_session"))).mappings().all()
        assert len(rows) == 1 and rows[0]["role"] == "department"
        assert rows[0]["department_code"] == "SJ"
        dumped = repr(dict(rows[0]))
        assert centre.keys["department"][4:20] not in dumped
        audit = (
            await conn.execute(
                text("SELECT action, actor, result FROM audit_log WHERE action LIKE 'console.%'")
            )
        ).all()
    assert [tuple(a) for a in audit] == [("console.sign_in", "department:市场局办事员", "ok")]


async def test_wrong_system_and_revoked_keys_are_refused_in_chinese_and_audited(
    app, centre, browser_client, client
):
    http = browser_client()
    for key in ("hcp_not-a-key", centre.keys["portal"]):
        response = await sign_in(http, key)
        assert response.status_code == 401
        assert "密钥无效" in response.text
        assert "hcp_console=" not in response.headers.get("set-cookie", "").replace(
            "hcp_console_login", ""
        )
    assert (await http.get("/console/desk")).status_code == 303
    async with app.state.engine.connect() as conn:
        refused = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM audit_log WHERE action = 'console.sign_in' "
                    "AND result = 'refused'"
                )
            )
        ).scalar_one()
    assert refused == 2


async def test_the_sign_in_form_needs_its_csrf_token(centre, browser_client):
    http = browser_client()
    await http.get("/console/login")
    response = await http.post(
        "/console/login", data={"csrf_token": "x", "key": centre.keys["admin"]}
    )
    assert response.status_code == 403
    assert (await http.get("/console/desk")).status_code == 303


async def test_an_idle_or_too_old_session_is_refused_and_a_revoked_key_ends_it(
    app, centre, browser_client, clock, client
):
    clock.set(clock())
    http = browser_client()
    assert (await sign_in(http, centre.keys["department"])).status_code == 303
    clock.advance(timedelta(minutes=29))
    assert (await http.get("/console/desk")).status_code == 200
    clock.advance(timedelta(minutes=29))  # 29 min since the last request: still alive
    assert (await http.get("/console/desk")).status_code == 200
    clock.advance(timedelta(minutes=30))
    expired = await http.get("/console/desk?state=open")
    assert expired.status_code == 303
    assert expired.headers["location"] == "/console/login?next=/console/desk%3Fstate%3Dopen"
    # The absolute lifetime (12 h) holds however busy the session.
    other = browser_client()
    assert (await sign_in(other, centre.keys["admin"])).status_code == 303
    for _ in range(26):
        clock.advance(timedelta(minutes=28))
        if (await other.get("/console/desk")).status_code != 200:
            break
    assert (await other.get("/console/desk")).status_code == 303
    # Revoking the key ends its sessions at the next request.
    third = browser_client()
    assert (await sign_in(third, centre.keys["reader"])).status_code == 303
    assert (await third.get("/console")).headers["location"] == "/console/dashboard"
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE api_key SET revoked_at = now() WHERE client_id IN "
                "(SELECT id FROM client WHERE role = 'reader')"
            )
        )
    assert (await third.get("/console")).headers["location"].startswith("/console/login")


async def test_sign_out_needs_the_csrf_token_ends_the_session_and_is_audited(
    app, centre, browser_client
):
    http = browser_client()
    await sign_in(http, centre.keys["department"])
    desk = await http.get("/console/desk")
    refused = await http.post("/console/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert "表单已失效" in refused.text
    assert (await http.get("/console/desk")).status_code == 200
    out = await http.post("/console/logout", data={"csrf_token": csrf_of(desk.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert (await http.get("/console/desk")).status_code == 303
    async with app.state.engine.connect() as conn:
        ended = (await conn.execute(text("SELECT end_reason FROM console_session"))).scalar_one()
        actions = (
            (
                await conn.execute(
                    text("SELECT action FROM audit_log WHERE action LIKE 'console.%' ORDER BY id")
                )
            )
            .scalars()
            .all()
        )
    assert ended == "signed_out"
    assert actions == ["console.sign_in", "console.sign_out"]


async def test_next_only_leads_to_a_console_page(centre, browser_client):
    http = browser_client()
    response = await sign_in(http, centre.keys["admin"], next_="//evil.example/x")
    assert response.headers["location"] == "/console"


async def test_a_new_sign_in_clears_the_keys_finished_sessions(app, centre, browser_client):
    first = browser_client()
    await sign_in(first, centre.keys["admin"])
    desk = await first.get("/console/desk")
    await first.post("/console/logout", data={"csrf_token": csrf_of(desk.text)})
    second = browser_client()
    await sign_in(second, centre.keys["admin"])
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT ended_at FROM console_session"))).all()
    assert [r.ended_at for r in rows] == [None]


async def test_the_cookie_is_secure_when_the_setting_says_so(centre, settings, pg_url):
    secure = settings.model_copy(
        update={"console": ConsoleSettings(secure_cookie=True), "background_jobs": False}
    )
    async with running_app(secure, pg_url) as (_, http):
        login = await http.get("/console/login")
        login_cookie = login.headers["set-cookie"]
        assert "Secure" in login_cookie
        # The client keeps Secure cookies for HTTPS: send the form's cookie by hand.
        token = login_cookie.split(";", 1)[0]
        response = await http.post(
            "/console/login",
            data={"csrf_token": csrf_of(login.text), "key": centre.keys["reader"]},
            headers={"Cookie": token},
        )
        assert response.status_code == 303
        cookie = next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and v.startswith("hcp_console=")
        )
        assert "Secure" in cookie and "HttpOnly" in cookie

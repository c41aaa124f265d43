"""The registry pages (admin): keys issued once and revoked, the department import's preview
with per-row errors, the calendar, the audit search; others refused (over ASGI)."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import csrf_of, sign_in
from tests.fixtures.factories import auth


@pytest.fixture
async def admin_page(centre, browser_client):
    http = browser_client()
    assert (await sign_in(http, centre.keys["admin"])).status_code == 303
    page = await http.get("/console/registry/keys")
    return http, csrf_of(page.text)


async def test_a_key_is_shown_once_works_and_can_be_revoked(admin_page, client, centre):
    http, csrf = admin_page
    issued = await http.post(
        "/console/registry/keys",
        data={
            "csrf_token": csrf,
            "op": "issue",
            "client_name": "王科员",
            "role": "department",
            "department_code": "GA",
        },
    )
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    key = re.search(r'data-testid="issued-key">(hcp_[^<]+)<', issued.text).group(1)
    assert (await client.get("/v1/tickets", headers=auth(key))).status_code == 200
    again = await http.get("/console/registry/keys")
    assert key not in again.text and "王科员" in again.text
    key_id = re.search(r'<tr data-key="([^"]+)">\s*<td>王科员', again.text).group(1)
    revoked = await http.post(
        "/console/registry/keys", data={"csrf_token": csrf, "op": "revoke", "key_id": key_id}
    )
    assert "已吊销密钥" in revoked.text
    assert (await client.get("/v1/tickets", headers=auth(key))).status_code == 401
    missing = await http.post(
        "/console/registry/keys",
        data={"csrf_token": csrf, "op": "issue", "client_name": "李四", "role": "department"},
    )
    assert missing.status_code == 422 and "必填" in missing.text
    forged = await http.post(
        "/console/registry/keys", data={"op": "issue", "client_name": "伪造", "role": "reader"}
    )
    assert forged.status_code == 403 and "表单已失效" in forged.text
    assert "伪造" not in (await http.get("/console/registry/keys")).text


async def test_the_department_import_previews_row_errors_then_imports(admin_page, client, centre):
    http, csrf = admin_page
    text = (
        "code,name,parent_code\nZW,政务服务中心,\nZW-1,综合窗口科,ZW\n,没有代码,\nXX,坏上级,NOPE\n"
    )
    preview = await http.post(
        "/console/registry/departments/import",
        data={"csrf_token": csrf, "op": "preview", "csv": text},
    )
    assert preview.status_code == 200
    assert "code：至少 1 个字符" in preview.text
    assert "确认导入" not in preview.text
    refused = await http.post(
        "/console/registry/departments/import",
        data={"csrf_token": csrf, "op": "import", "csv": text},
    )
    assert refused.status_code == 422
    good = "ZW,政务服务中心,\nZW-1,综合窗口科,ZW\nXX,坏上级,NOPE\n"
    unknown = await http.post(
        "/console/registry/departments/import",
        data={"csrf_token": csrf, "op": "import", "csv": good},
    )
    assert unknown.status_code == 422 and "上级部门不存在" in unknown.text
    ok = "ZW,政务服务中心,\nZW-1,综合窗口科,ZW\n"
    done = await http.post(
        "/console/registry/departments/import",
        data={"csrf_token": csrf, "op": "import", "csv": ok},
    )
    assert done.status_code == 303
    tree = await http.get(done.headers["location"])
    assert "已导入 2 个部门（新增 2 个）" in tree.text
    departments = (await client.get("/v1/departments", headers=auth(centre.keys["admin"]))).json()
    assert {d["code"]: d["parent_code"] for d in departments}["ZW-1"] == "ZW"


async def test_a_newly_published_year_is_entered(admin_page, client, centre):
    http, csrf = admin_page
    bad = await http.post(
        "/console/registry/calendar",
        data={"csrf_token": csrf, "year": "2099", "holidays": "2099-13-01"},
    )
    assert bad.status_code == 422 and "日期格式" in bad.text
    saved = await http.post(
        "/console/registry/calendar",
        data={
            "csrf_token": csrf,
            "year": "2099",
            "holidays": "2099-01-01\n2099-01-02",
            "workdays": "",
            "note": "国办发明电",
        },
    )
    assert saved.status_code == 303
    page = await http.get(saved.headers["location"])
    assert "已录入" in page.text and "2099-01-02" in page.text
    api = await client.get("/v1/calendar/2099", headers=auth(centre.keys["admin"]))
    assert api.json()["source"] == "entered"


async def test_the_audit_log_is_searchable_and_registry_is_admin_only(
    admin_page, centre, browser_client
):
    http, _ = admin_page
    page = await http.get("/console/registry/audit?action=console.*")
    assert "console.sign_in" in page.text and "admin:督查室" in page.text
    reader = browser_client()
    await sign_in(reader, centre.keys["reader"])
    for path in ("keys", "departments", "calendar", "audit"):
        assert (await reader.get(f"/console/registry/{path}")).status_code == 403


async def test_windows_devices_and_webhooks(admin_page, client, centre):
    http, csrf = admin_page
    page = await http.get("/console/registry/departments/SJ/windows")
    assert page.status_code == 200 and "A01" in page.text
    missing = await http.post(
        "/console/registry/departments/SJ/windows",
        data={"csrf_token": csrf, "window_no": "B02", "name": ""},
    )
    assert missing.status_code == 422 and "至少 1 个字符" in missing.text
    saved = await http.post(
        "/console/registry/departments/SJ/windows",
        data={"csrf_token": csrf, "window_no": "B02", "name": "不动产窗口"},
    )
    assert saved.status_code == 303
    windows = await client.get("/v1/departments/SJ/windows", headers=auth(centre.keys["admin"]))
    assert {w["window_no"]: w["name"] for w in windows.json()}["B02"] == "不动产窗口"
    assert (await http.get("/console/registry/departments/NOPE/windows")).status_code == 404
    created = await client.post(
        "/v1/webhooks",
        json={
            "name": "督办系统",
            "url": "https://hook.example/x",
            "event_types": ["ticket.closed"],
        },
        headers=auth(centre.keys["admin"]),
    )
    assert created.status_code == 201, created.text
    listing = await http.get("/console/registry/webhooks")
    assert "督办系统" in listing.text and "https://hook.example/x" in listing.text
    deliveries = await http.get(f"/console/registry/webhooks/{created.json()['id']}")
    assert deliveries.status_code == 200 and "重试失败的推送" in deliveries.text

"""The early-warning rules page: admins add a rule of each kind, switch it off and on and delete
it, the same rules as /v1/alert-rules; a bad value is refused beside its field, in Chinese, and
nothing is stored; readers see the list only; department keys and forged forms are refused."""

from __future__ import annotations

import re

import pytest

from tests.console.browsing import assert_stayed_home, sign_in_page
from tests.console.conftest import csrf_of, sign_in
from tests.fixtures.browser import recorded_page
from tests.fixtures.factories import auth

PAGE = "/console/registry/alert-rules"


@pytest.fixture
async def admin_page(centre, browser_client):
    http = browser_client()
    assert (await sign_in(http, centre.keys["admin"])).status_code == 303
    page = await http.get(PAGE)
    assert page.status_code == 200 and "尚无预警规则" in page.text
    return http, csrf_of(page.text)


async def _rules(client, centre) -> list[dict]:
    response = await client.get("/v1/alert-rules", headers=auth(centre.keys["admin"]))
    assert response.status_code == 200
    return response.json()


def _row(html: str, rule_id: int) -> str:
    match = re.search(rf'<tr data-rule="{rule_id}">(.*?)</tr>', html, re.S)
    assert match, html[:2000]
    return re.sub(r"<[^>]+>", " ", match.group(1))


async def test_a_rule_added_here_is_the_apis_and_can_be_switched_off_and_deleted(
    admin_page, client, centre
):
    http, csrf = admin_page
    added = await http.post(
        PAGE,
        data={
            "csrf_token": csrf,
            "op": "create",
            "kind": "window_bad_burst",
            "name": "A01 差评集中",
            "department_code": "SJ",
            "window_no": "A01",
            "threshold": "3",
            "minutes": "30",
        },
    )
    assert added.status_code == 303, added.text
    (rule,) = await _rules(client, centre)
    assert rule["kind"] == "window_bad_burst" and rule["department_code"] == "SJ"
    assert rule["params"] == {"window_no": "A01", "threshold": 3, "minutes": 30}
    assert rule["active"] is True
    assert added.headers["location"] == f"{PAGE}?done=created&rule={rule['id']}"
    page = await http.get(added.headers["location"])
    assert f"已新增预警规则 #{rule['id']}" in page.text
    row = _row(page.text, rule["id"])
    for shown in (
        "A01 差评集中",
        "差评激增",
        "市场监督管理局（SJ）",
        "窗口 A01 30 分钟内差评达到 3 条",
        "启用",
    ):
        assert shown in row, (shown, row)

    off = await http.post(PAGE, data={"csrf_token": csrf, "op": "toggle", "rule_id": rule["id"]})
    assert off.status_code == 303
    assert (await _rules(client, centre))[0]["active"] is False
    assert "停用" in _row((await http.get(off.headers["location"])).text, rule["id"])
    on = await http.post(PAGE, data={"csrf_token": csrf, "op": "toggle", "rule_id": rule["id"]})
    assert on.status_code == 303 and (await _rules(client, centre))[0]["active"] is True

    gone = await http.post(PAGE, data={"csrf_token": csrf, "op": "delete", "rule_id": rule["id"]})
    assert gone.status_code == 303
    assert await _rules(client, centre) == []
    assert f"已删除预警规则 #{rule['id']}" in (await http.get(gone.headers["location"])).text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "window_bad_burst", "threshold": "0", "minutes": "30"}, "threshold", "1"),
        ({"kind": "window_bad_burst", "threshold": "三", "minutes": "30"}, "threshold", "整数"),
        ({"kind": "department_good_rate", "sample_size": "50", "min_rate_percent": "120"},
         "min_rate_percent", "100"),
        ({"kind": "device_silent", "working_days": "11"}, "working_days", "10"),
    ],
)  # fmt: skip
async def test_a_bad_value_is_refused_beside_its_field_and_nothing_is_stored(
    admin_page, client, centre, fields, field, message
):
    http, csrf = admin_page
    refused = await http.post(
        PAGE, data={"csrf_token": csrf, "op": "create", "name": "坏规则", **fields}
    )
    assert refused.status_code == 422
    assert "填写的内容有误" in refused.text
    form = re.search(rf'<form[^>]*data-kind="{fields["kind"]}".*?</form>', refused.text, re.S)
    assert form, refused.text[:2000]
    error = re.search(
        rf'name="{field}"[^>]*></label><span class="field-error" role="alert">([^<]+)</span>',
        form.group(0),
    )
    assert error and message in error.group(1), form.group(0)
    assert f'value="{fields[field]}"' in error.group(0)  # what was typed is kept to correct
    assert await _rules(client, centre) == []


async def test_a_window_unknown_in_the_department_is_refused_with_the_apis_reason(
    admin_page, client, centre
):
    http, csrf = admin_page
    refused = await http.post(
        PAGE,
        data={
            "csrf_token": csrf,
            "op": "create",
            "kind": "window_bad_burst",
            "name": "不存在的窗口",
            "department_code": "GA",
            "window_no": "A01",  # SJ's window, not GA's
            "threshold": "3",
            "minutes": "30",
        },
    )
    assert refused.status_code == 422
    assert 'data-testid="problem"' in refused.text
    assert await _rules(client, centre) == []


async def test_readers_see_the_rules_only_and_others_are_refused(
    admin_page, client, centre, browser_client
):
    http, csrf = admin_page
    await http.post(
        PAGE,
        data={"csrf_token": csrf, "op": "create", "kind": "order_due_soon", "name": "工单临期"},
    )
    (rule,) = await _rules(client, centre)
    reader = browser_client()
    assert (await sign_in(reader, centre.keys["reader"])).status_code == 303
    seen = await reader.get(PAGE)
    assert seen.status_code == 200
    assert "工单临期" in _row(seen.text, rule["id"]) and "新增规则" not in seen.text
    assert "<form" not in seen.text.split('data-testid="rules"', 1)[1]
    reader_csrf = csrf_of((await reader.get("/console/dashboard")).text)
    refused = await reader.post(
        PAGE, data={"csrf_token": reader_csrf, "op": "delete", "rule_id": rule["id"]}
    )
    assert refused.status_code == 403
    department = browser_client()
    assert (await sign_in(department, centre.keys["department"])).status_code == 303
    assert (await department.get(PAGE)).status_code == 403
    forged = await http.post(PAGE, data={"op": "delete", "rule_id": rule["id"]})
    assert forged.status_code == 403
    assert len(await _rules(client, centre)) == 1


async def test_an_admin_adds_a_rule_in_the_browser(browser, intranet_server, centre, client):
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 900})
        await sign_in_page(page, intranet_server, centre.keys["admin"])
        await page.get_by_role("link", name="登记管理").click()
        await page.get_by_role("link", name="预警规则").click()
        await page.wait_for_load_state()
        form = page.locator("form[data-kind='department_good_rate']")
        await form.get_by_label("名称").fill("市场局好评率")
        await form.get_by_label("部门").select_option("SJ")
        await form.get_by_label("最近评价条数").fill("40")
        await form.get_by_label("好评率低于（%）").fill("92.5")
        await form.get_by_role("button", name="新增规则").click()
        await page.wait_for_load_state()
        notice = await page.get_by_test_id("notice").inner_text()
        assert notice.startswith("已新增预警规则")
        table = await page.get_by_test_id("rules").inner_text()
        assert "市场局好评率" in table and "好评率偏低" in table
        assert "最近 40 条计入评价的好评率低于 92.5%" in table
        await page.get_by_role("button", name="停用 市场局好评率").click()
        await page.wait_for_load_state()
        assert "停用" in await page.locator("tr[data-rule]").first.inner_text()
        await assert_stayed_home(page, record, intranet_server)
    (rule,) = await _rules(client, centre)
    assert rule["params"] == {"sample_size": 40, "min_rate_percent": 92.5}
    assert rule["active"] is False

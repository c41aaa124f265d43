"""Problems in Chinese when the client prefers it (Accept-Language: zh-CN): titles, details and
field messages; `type`, `code` and field names unchanged; English otherwise."""

from __future__ import annotations

import pytest

from app.errors_zh import prefers_zh
from tests.fixtures.factories import auth

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN", True),
        ("zh", True),
        ("zh-Hans-CN;q=0.9, en;q=0.8", True),
        ("en-US,en;q=0.9,zh-CN;q=0.8", False),
        ("en", False),
        ("zh-CN;q=0", False),
        ("", False),
        (None, False),
        ("zh;q=abc, en;q=0.1", False),
    ],
)
def test_chinese_is_chosen_only_when_it_is_the_first_preference(header, expected):
    assert prefers_zh(header) is expected


async def test_a_refused_action_is_explained_in_chinese_with_what_may_be_done(client, centre):
    headers = {**auth(centre.keys["department"]), **ZH}
    response = await client.post(
        f"/v1/tickets/{centre.order_id}/actions",
        json={"action": "rectify", "note": "x"},
        headers=headers,
    )
    assert response.status_code == 409
    assert response.headers["content-language"] == "zh-CN"
    body = response.json()
    assert body["type"].endswith("/action-not-allowed")
    assert body["title"] == "工单当前状态下不允许此操作"
    assert (
        body["detail"]
        == "工单当前为“待联系”，不能“整改完成”；现在可以：联系评价人、申请延期、申诉、申请撤回"
    )
    assert body["detail_en"].startswith("rectify is not allowed in state open")
    assert body["allowed_actions"] == ["contact", "extend", "appeal", "request_withdrawal"]
    english = await client.post(
        f"/v1/tickets/{centre.order_id}/actions",
        json={"action": "rectify", "note": "x"},
        headers=auth(centre.keys["department"]),
    )
    assert english.json()["title"] == "This action is not allowed in the order's current state"
    assert "content-language" not in english.headers and "detail_en" not in english.json()


async def test_validation_messages_are_chinese_and_fields_stay_english(client, centre):
    headers = {**auth(centre.keys["department"]), **ZH}
    response = await client.post(
        f"/v1/tickets/{centre.order_id}/actions",
        json={"action": "fly", "note": "", "extra": 1},
        headers=headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "填写的内容有误"
    by_field = {e["field"]: e for e in body["errors"]}
    assert by_field["action"]["code"] == "literal_error"
    assert by_field["action"]["message"].startswith("不是允许的取值")
    assert by_field["note"]["message"] == "至少 1 个字符"
    assert by_field["extra"]["message"] == "不接受此字段"
    assert "note：至少 1 个字符" in body["detail"]
    missing = await client.post(
        f"/v1/tickets/{centre.order_id}/actions", json={"action": "extend"}, headers=headers
    )
    assert missing.status_code == 422
    assert missing.json()["detail"] == "“申请延期”需要填写：说明"
    assert missing.json()["errors"] == [{"field": "note", "message": "必填", "code": "missing"}]


async def test_authentication_and_not_found_in_chinese(client, centre):
    response = await client.get("/v1/tickets", headers={**ZH, "Authorization": "Bearer hcp_x"})
    assert response.status_code == 401
    assert response.json()["title"] == "缺少或无效的密钥"
    assert response.json()["detail_en"] == "Unknown or revoked API key"
    other = await client.get(
        f"/v1/tickets/{centre.order_id}", headers={**auth(centre.keys["other_department"]), **ZH}
    )
    assert other.status_code == 404
    assert other.json()["title"] == "未找到"
    assert (await client.get("/v1/nothing", headers=ZH)).json()["title"] == "未找到"

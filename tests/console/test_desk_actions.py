"""The order page's forms for withdrawal and transfer (over ASGI): exactly the actions the API
allows the key, the rater's confirmation as evidence, refusals in Chinese beside the form."""

from __future__ import annotations

import re
from datetime import timedelta

from app.config import BUSINESS_TZ
from tests.console.conftest import csrf_of, sign_in
from tests.fixtures.factories import auth

FORM = re.compile(r'data-action="([a-z_]+)"')


async def _act(http, order_id: int, **fields) -> object:
    page = await http.get(f"/console/orders/{order_id}")
    return await http.post(
        f"/console/orders/{order_id}/actions", data={"csrf_token": csrf_of(page.text), **fields}
    )


async def test_withdrawal_with_evidence_and_a_transfer_through_the_forms(
    app, centre, client, browser_client, clock
):
    clock.set(app.state.clock() + timedelta(minutes=2))
    clerk, supervisor = browser_client(), browser_client()
    await sign_in(clerk, centre.keys["department"])
    await sign_in(supervisor, centre.keys["admin"])
    order = centre.order_id
    mine = FORM.findall((await clerk.get(f"/console/orders/{order}")).text)
    assert "request_withdrawal" in mine and "transfer" not in mine and "withdraw" not in mine
    theirs = FORM.findall((await supervisor.get(f"/console/orders/{order}")).text)
    assert {"transfer", "withdraw", "request_withdrawal"} <= set(theirs)

    # No evidence: refused beside the form, nothing changed.
    refused = await _act(clerk, order, action="request_withdrawal", note="评价人同意撤回")
    assert refused.status_code == 422
    assert "评价人确认撤回的记录" in refused.text and "待联系" in refused.text
    # A call in the future: the field's message in Chinese.
    later = (app.state.clock() + timedelta(hours=2)).astimezone(BUSINESS_TZ)
    future = await _act(
        clerk,
        order,
        action="request_withdrawal",
        note="评价人同意撤回",
        evidence_kind="callback",
        evidence_at=later.strftime("%Y-%m-%dT%H:%M"),
        evidence_note="误操作，同意撤回",
    )
    assert future.status_code == 422 and "回访时间：不能晚于现在" in future.text
    called = (app.state.clock() - timedelta(minutes=1)).astimezone(BUSINESS_TZ)
    done = await _act(
        clerk,
        order,
        action="request_withdrawal",
        note="评价人同意撤回",
        evidence_kind="callback",
        evidence_at=called.strftime("%Y-%m-%dT%H:%M"),
        evidence_note="误操作，同意撤回",
        evidence_reference="LY-0001",
    )
    assert done.status_code == 303, done.text
    api = await client.get(f"/v1/tickets/{order}", headers=auth(centre.keys["admin"]))
    assert api.json()["state"] == "withdrawal_requested"
    step = api.json()["history"][-1]
    assert step["data"]["evidence"]["reference"] == "LY-0001"
    assert step["data"]["evidence"]["called_at"].startswith(called.strftime("%Y-%m-%dT%H:%M"))

    # The supervisor refuses the withdrawal, then transfers it: an unknown department refused
    # (beside the form), then to GA.
    refused = await _act(supervisor, order, action="refuse_withdrawal", note="录音不清，不予撤回")
    assert refused.status_code == 303, refused.text
    wrong = await _act(supervisor, order, action="transfer", department_code="NOPE", note="转办")
    assert wrong.status_code in (404, 422) and "工单 #" in wrong.text
    moved = await _act(supervisor, order, action="transfer", department_code="GA", note="属公安局")
    assert moved.status_code == 303, moved.text
    api = await client.get(f"/v1/tickets/{order}", headers=auth(centre.keys["admin"]))
    assert api.json()["department_code"] == "GA"

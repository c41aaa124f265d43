"""The department desk in headless Chromium on the live service: a clerk takes a 差评 order from
open to closed through the forms; a stale or incomplete form is refused in Chinese beside it."""

from __future__ import annotations

from tests.console.browsing import act, assert_stayed_home, screenshot, state_of
from tests.fixtures.browser import recorded_page


async def test_a_clerk_takes_a_bad_review_from_open_to_closed(browser, intranet_server, centre):
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 768})
        # By keyboard: the skip link first, the home link, then the key's field.
        await page.goto(f"{intranet_server}/console/login")
        focused = []
        for _ in range(3):
            await page.keyboard.press("Tab")
            focused.append(
                await page.evaluate(
                    "document.activeElement.id || document.activeElement.textContent"
                )
            )
        assert focused == ["跳到正文", "好差评 · 控制台", "key"]
        await page.keyboard.type(centre.keys["department"])
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{intranet_server}/console/desk")
        assert page.url == f"{intranet_server}/console/desk"
        row = page.locator(f"tr[data-order='{centre.order_id}']")
        assert "待联系" in await row.inner_text()
        assert await page.get_by_test_id("who").inner_text() == "市场局办事员（部门 · SJ）"
        await screenshot(page, "desk")
        await row.get_by_role("link").click()
        await page.wait_for_url(f"{intranet_server}/console/orders/{centre.order_id}")
        assert await state_of(page) == "待联系"
        # Personal data masked: the rater's name and phone never whole.
        body = await page.inner_text("main")
        assert "13812345678" not in body and "张三丰" not in body
        assert "138****5678" in body
        stale = await page.context.new_page()
        await stale.goto(page.url)

        await act(page, "contact", note="已电话联系评价人")
        assert await state_of(page) == "已联系"
        assert await page.get_by_test_id("done").inner_text() == "已完成：联系评价人"

        # The other tab still offers "contact": refused, in Chinese, nothing changed.
        await act(stale, "contact", note="再次联系")
        problem = await stale.get_by_test_id("problem").inner_text()
        assert "工单当前为“已联系”，不能“联系评价人”；现在可以：核实" in problem
        assert await state_of(stale) == "已联系"

        # Verify without saying whether it is real: the message beside the field.
        await act(page, "verify", note="经核查")
        assert "“核实”需要填写：是否属实" in await page.get_by_test_id("problem").inner_text()
        verify = page.locator("form[data-action='verify']")
        assert await verify.locator(".field-error").inner_text() == "必填"
        await act(page, "verify", note="经核查属实", choice="属实")
        assert await state_of(page) == "整改中"
        await act(page, "rectify", note="已批评教育窗口人员并整改")
        assert await state_of(page) == "已整改"
        await act(page, "callback", note="回访评价人", choice="满意")
        assert await state_of(page) == "已回访"
        await act(page, "close", note="办结")
        assert await state_of(page) == "已办结"
        assert await page.get_by_test_id("no-actions").is_visible()
        timeline = await page.get_by_test_id("timeline").inner_text()
        for step in ("联系评价人", "核实", "整改完成", "回访", "办结"):
            assert step in timeline
        await screenshot(page, "order")
        # The queue's filters swap the table in place (htmx, under the same CSP).
        await page.get_by_role("link", name="返回工作台").click()
        await page.wait_for_url(f"{intranet_server}/console/desk")
        assert await page.locator(f"tr[data-order='{centre.order_id}']").count() == 0
        await page.get_by_label("状态").select_option("closed")
        await page.locator(f"tr[data-order='{centre.order_id}']").wait_for()
        assert page.url == f"{intranet_server}/console/desk"  # no navigation: a partial swap
        await assert_stayed_home(page, record, intranet_server, refused={409, 422})

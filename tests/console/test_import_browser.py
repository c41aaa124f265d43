"""The department import from an Excel file, in headless Chromium: the workbook is read by the
service into the same preview as a CSV, each row's errors beside it; fixed, it imports."""

from __future__ import annotations

import io

from openpyxl import Workbook

from tests.console.browsing import assert_stayed_home, sign_in_page
from tests.console.conftest import csrf_of, sign_in
from tests.fixtures.browser import recorded_page, wait_until
from tests.fixtures.factories import auth

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _workbook(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_excel_file_is_previewed_with_row_errors_then_imported(
    browser, intranet_server, centre, client
):
    data = _workbook(
        [
            ("部门代码", "名称", "上级代码", "是否启用"),
            ("ZW", "政务服务中心", None, None),
            (421102, "黄州区分中心", "ZW", True),  # a code typed as a number
            ("BAD", None, "ZW", None),  # no name
            (None, None, None, None),
            ("ZW-2", "窗口科", "ZW", "否"),
        ]
    )
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 768})
        await sign_in_page(page, intranet_server, centre.keys["admin"])
        await page.goto(f"{intranet_server}/console/registry/departments")
        await page.get_by_label("选择 Excel 文件（.xlsx）").set_input_files(
            {"name": "departments.xlsx", "mimeType": XLSX, "buffer": data}
        )
        await wait_until(page, "document.getElementById('xlsx').value.length > 100")
        await page.get_by_role("button", name="预览").click()
        await page.wait_for_load_state()
        preview = page.get_by_test_id("preview")
        rows = await preview.locator("tbody tr").all_inner_texts()
        assert len(rows) == 4
        assert rows[1].split("\t")[:3] == ["3", "421102", "黄州区分中心"]
        assert rows[2].split("\t") == ["4", "BAD", "", "ZW", "name：至少 1 个字符"]
        assert await page.get_by_role("button", name="确认导入").count() == 0
        text = await page.get_by_label("CSV 内容").input_value()
        assert text.splitlines()[2] == "421102,黄州区分中心,ZW,true"
        # Fixed in the text area (the Excel file is not sent again), previewed, imported.
        await page.get_by_label("CSV 内容").fill(text.replace("BAD,,ZW", "BAD,不动产登记中心,ZW"))
        await page.get_by_role("button", name="预览").click()
        await page.wait_for_load_state()
        await page.get_by_role("button", name="确认导入").click()
        await page.wait_for_load_state()
        assert "已导入 4 个部门" in await page.get_by_test_id("imported").inner_text()
        await assert_stayed_home(page, record, intranet_server)
    listed = await client.get("/v1/departments/421102", headers=auth(centre.keys["admin"]))
    assert listed.json()["parent_code"] == "ZW"
    inactive = await client.get("/v1/departments/ZW-2", headers=auth(centre.keys["admin"]))
    assert inactive.json()["active"] is False


async def test_a_file_that_is_no_workbook_is_refused_in_chinese(centre, browser_client):
    http = browser_client()
    await sign_in(http, centre.keys["admin"])
    page = await http.get("/console/registry/departments")
    refused = await http.post(
        "/console/registry/departments/import",
        data={
            "csrf_token": csrf_of(page.text),
            "op": "import",
            "xlsx": "data:application/octet-stream;base64,bm90IGEgd29ya2Jvb2s=",
        },
    )
    assert refused.status_code == 422 and "请选择 Excel 工作簿（.xlsx）" in refused.text
    garbled = await http.post(
        "/console/registry/departments/import",
        data={"csrf_token": csrf_of(page.text), "xlsx": "data:;base64,@@@"},
    )
    assert garbled.status_code == 422 and "文件内容无法读取" in garbled.text

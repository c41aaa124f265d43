"""The renderers on a hand-made bulletin: text that looks like markup or a formula stays text."""

import io
from datetime import date

from docx import Document
from openpyxl import load_workbook

from app.reports.document import Bulletin, Chart, Section, Table
from app.reports.render_docx import to_docx
from app.reports.render_html import to_html
from app.reports.render_xlsx import to_xlsx
from app.stats.periods import parse_period_label

NASTY = '=HYPERLINK("x")<b>&\x07'


def _bulletin() -> Bulletin:
    period = parse_period_label("2023Q4")
    table = Table("部门/排名", ["部门", "好评率(%)", "空"], [[NASTY, 89.8, None], ["乙", 100.0, 3]])
    chart = Chart("bar", "好评率", table.name, 0, [1])
    section = Section("departments", "五、部门", [f"段落{NASTY}"], [table], [chart])
    previous = parse_period_label("2023Q3")
    return Bulletin(
        "标题", "某中心", period, "2023年第四季度", previous, "2023年第三季度",
        date(2024, 1, 15), [section], {},
    )  # fmt: skip


def test_docx_keeps_the_text_and_the_rates_with_two_decimals():
    document = Document(io.BytesIO(to_docx(_bulletin())))
    rows = [[c.text for c in row.cells] for row in document.tables[0].rows]
    assert rows == [
        ["部门", "好评率(%)", "空"],
        ['=HYPERLINK("x")<b>&', "89.80", "—"],
        ["乙", "100.00", "3"],
    ]
    assert any(p.text == '段落=HYPERLINK("x")<b>&' for p in document.paragraphs)
    assert document.paragraphs[-1].text.endswith("2024年1月15日")


def test_xlsx_writes_text_cells_never_formulas_and_a_native_chart():
    workbook = load_workbook(io.BytesIO(to_xlsx(_bulletin())))
    assert workbook.sheetnames == ["通报", "部门-排名"]
    sheet = workbook["部门-排名"]
    cell = sheet["A2"]
    assert cell.value == '=HYPERLINK("x")<b>&' and cell.data_type == "s"
    assert sheet["B2"].value == 89.8 and sheet["B2"].number_format == "0.00"
    assert sheet["C2"].value is None
    assert len(sheet._charts) == 1


def test_html_escapes_and_loads_nothing_from_outside():
    page = to_html(_bulletin()).decode()
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page
    assert "89.80" in page and "—" in page
    assert "src=" not in page and "href=" not in page and "@import" not in page

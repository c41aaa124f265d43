"""The bulletin as a Word document (python-docx), for clerks to edit before publishing."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from app.reports.cells import cell
from app.reports.document import Bulletin, Table
from app.stats.spreadsheet import cell_text

_FONT = "宋体"
_HEADING_FONT = "黑体"


def _east_asian(run, font: str) -> None:
    """Chinese text needs the East Asian font set apart from the Latin one."""
    from docx.oxml.ns import qn

    run.font.name = font
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), font)


def _text(value: str) -> str:
    return cell_text(value)[0]


def to_docx(bulletin: Bulletin) -> bytes:
    """Title, date line, then each section: heading, paragraphs, tables."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document = Document()
    document.core_properties.title = bulletin.title
    document.core_properties.author = bulletin.centre
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(_text(bulletin.title))
    run.bold = True
    run.font.size = Pt(18)
    _east_asian(run, _HEADING_FONT)
    for section in bulletin.sections:
        if section.heading:
            heading = document.add_paragraph()
            run = heading.add_run(section.heading)
            run.bold = True
            run.font.size = Pt(14)
            _east_asian(run, _HEADING_FONT)
        for text in section.paragraphs:
            paragraph = document.add_paragraph()
            paragraph.paragraph_format.first_line_indent = Pt(24)
            _east_asian(paragraph.add_run(_text(text)), _FONT)
        for table in section.tables:
            caption = document.add_paragraph()
            _east_asian(caption.add_run(f"表：{table.name}"), _FONT)
            _add_table(document, table)
    signature = document.add_paragraph()
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _east_asian(signature.add_run(f"{bulletin.centre}\n{_date(bulletin)}"), _FONT)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _add_table(document, table: Table) -> None:
    """The header through python-docx, the body rows as one XML fragment: cell by cell,
    python-docx took 0.7 s for a hundred departments' tables."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls
    from lxml import etree

    out = document.add_table(rows=1, cols=len(table.columns))
    out.style = "Table Grid"
    header = out.rows[0].cells
    for i, heading in enumerate(table.columns):
        header[i].text = heading
    properties = [etree.tostring(c._tc.tcPr, encoding="unicode") for c in header]
    rows = "".join(
        "<w:tr>"
        + "".join(
            f'<w:tc>{properties[i]}<w:p><w:r><w:t xml:space="preserve">'
            f"{escape(_text(cell(value)))}</w:t></w:r></w:p></w:tc>"
            for i, value in enumerate(row)
        )
        + "</w:tr>"
        for row in table.rows
    )
    if rows:
        fragment = parse_xml(f"<w:tbl {nsdecls('w')}>{rows}</w:tbl>")
        for row in list(fragment):
            out._tbl.append(row)


def _date(bulletin: Bulletin) -> str:
    day = bulletin.issued_on
    return f"{day.year}年{day.month}月{day.day}日"

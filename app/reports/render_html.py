"""The bulletin as one printable HTML page (Jinja2, autoescaped, no external resources)."""

from __future__ import annotations

from functools import lru_cache

from app.reports.cells import cell
from app.reports.document import Bulletin


@lru_cache
def _template():
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("app.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    environment.filters["cell"] = cell
    return environment.get_template("bulletin.html")


def to_html(bulletin: Bulletin) -> bytes:
    return _template().render(bulletin=bulletin).encode("utf-8")

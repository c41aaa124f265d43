"""Which departments a figure covers: one department, with its children, within a region.

Departments form a tree (`parent_code`) and carry an optional 行政区划代码 (GB/T 2260). Pure
functions on the registry's list, which is small (a centre has 30 to 120 departments).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.errors import ValidationProblem, field_error

REGION_LEVELS = ("province", "city", "county")


def region_prefix(code: str) -> str:
    """The prefix a region's sub-divisions share: 421100 (黄冈市) → 4211, 420000 → 42; a
    9- or 12-digit code loses its trailing zero groups of three first."""
    while len(code) > 6 and code.endswith("000"):
        code = code[:-3]
    while len(code) > 2 and len(code) <= 6 and code.endswith("00"):
        code = code[:-2]
    return code


def region_at(code: str, level: str) -> str:
    """The 6-digit code of the province, city or county that holds a region code."""
    head = code[:6]
    if level == "province":
        return head[:2] + "0000"
    if level == "city":
        return head[:4] + "00"
    return head


def descendants(departments: Iterable[Any], code: str) -> set[str]:
    """The department and every department below it."""
    children: dict[str | None, list[str]] = {}
    for d in departments:
        children.setdefault(d.parent_code, []).append(d.code)
    out, todo = set(), [code]
    while todo:
        current = todo.pop()
        if current not in out:
            out.add(current)
            todo.extend(children.get(current, ()))
    return out


def covered(
    departments: list[Any],
    *,
    department: str | None = None,
    include_children: bool = False,
    region: str | None = None,
) -> tuple[str, ...] | None:
    """The department codes a filter selects (None: no filter, every department); an unknown
    department is a 422 naming `query.department`."""
    if department is None and region is None:
        return None
    codes = {d.code for d in departments}
    if department is not None:
        if department not in codes:
            raise ValidationProblem(
                f"Unknown department {department!r}",
                errors=[field_error("query.department", "unknown department", "unknown")],
            )
        codes = descendants(departments, department) if include_children else {department}
    if region is not None:
        prefix = region_prefix(region)
        codes &= {d.code for d in departments if d.region_code and d.region_code.startswith(prefix)}
    return tuple(sorted(codes))

"""Regions (行政区划) ranked, and the reason analysis over ratings, complaints and inspections.

Seed 003 ranks cities and counties: here departments are grouped by the city or county of
their region code, each group's ratings summed (exact: sums of the department tallies, one
statement). 差评一件事, 改好一类事: a complaint's category code and an inspection's tags name
the same reason classes as the rating tags, so `reasons(source="all")` counts them together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.registry import service as registry
from app.stats import service
from app.stats.periods import Period
from app.stats.queries import Filters, _department_rows, _flagged_counts
from app.stats.scope import covered, region_at, region_prefix
from app.stats.tally import Tally, assign_ranks, band, sample_group
from app.workorders import figures as workorders
from app.workorders.categories import COMPLAINT_SOURCES, reason_of

REASON_SOURCES = ("ratings", "complaints", "inspections", "all")


async def region_table(
    session: AsyncSession,
    period: Period,
    *,
    level: str = "county",
    region: str | None = None,
    filters: Filters = Filters(),
    sample: str | None = None,
) -> dict[str, Any]:
    """Each region (the province, city or county of its departments' region codes, within
    `region` if given) with its departments' ratings summed, 12345 complaints by source, rank
    by 好评率 then volume (competition ranks), band and sample-size group. Departments
    without a region code are counted in `unassigned_departments`, in no row."""
    departments = await registry.department_tree(session)
    by_code = {d.code: d for d in departments}
    inside = set(covered(departments, region=region) or ()) if region else None
    rows = await _department_rows(session, period, filters)
    flagged = await _flagged_counts(session, period, filters, ("department",))
    complaints = await workorders.complaint_reasons(
        session, start=period.start_at, end=period.end_at, departments=None
    )
    groups: dict[str, dict[str, Any]] = {}
    unassigned = set()

    def group_of(code: str) -> dict[str, Any] | None:
        department = by_code.get(code)
        if department is None or not department.region_code:
            unassigned.add(code)
            return None
        if inside is not None and code not in inside:
            return None
        key = region_at(department.region_code, level)
        return groups.setdefault(
            key,
            {"tally": Tally(), "flagged": 0, "departments": set(),
             "by_source": dict.fromkeys(COMPLAINT_SOURCES, 0)},
        )  # fmt: skip

    for d in departments:
        if d.active:
            group_of(d.code) and group_of(d.code)["departments"].add(d.code)
    for code, _, tally in rows:
        if (g := group_of(code)) is not None:
            g["departments"].add(code)
            for (status, lvl), n in tally.counts.items():
                g["tally"].add(status, lvl, n)
            g["flagged"] += flagged.of("department", code)
    for code, _, source, n in complaints:
        if (g := group_of(code)) is not None:
            g["by_source"][source] += n
    ranks = assign_ranks([(k, g["tally"]) for k, g in groups.items()])
    out = []
    for key, g in groups.items():
        tally = g["tally"]
        out.append(
            {
                "region_code": key,
                "level": level,
                "departments": len(g["departments"]),
                "ratings": tally.block(flagged=g["flagged"]),
                "complaints": {"counted": sum(g["by_source"].values()),
                               "by_source": g["by_source"]},
                "rank": ranks.get(key),
                "band": band(tally.good, tally.counted),
                "sample_group": sample_group(tally.counted),
            }
        )  # fmt: skip
    if sample is not None:
        out = [r for r in out if r["sample_group"] == sample]
    out.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["region_code"]))
    return {
        "period": period.as_json(),
        "level": level,
        "region": region,
        "region_prefix": region_prefix(region) if region else None,
        "unassigned_departments": len(unassigned - (inside or set()) if inside else unassigned),
        "regions": out,
    }


def _reason_rows(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for tag, by in counts.items():
        total = sum(by.values())
        rows.append(
            {
                "tag": tag,
                "name": service.REASON_NAMES.get(tag, tag),
                "count": total,
                "ratings": by.get("ratings", 0),
                "complaints": by.get("complaints", 0),
                "inspections": by.get("inspections", 0),
            }
        )
    rows.sort(key=lambda r: (-r["count"], r["tag"]))
    return rows


async def reasons(
    session: AsyncSession,
    period: Period,
    *,
    source: str = "ratings",
    filters: Filters = Filters(),
    only_department: str | None = None,
    exclude_flagged: bool = False,
    department: str | None = None,
    include_children: bool = False,
) -> dict[str, Any]:
    """The reason analysis over counted 差评 (their tags), complaints received (their category
    code's reason class) and counted inspection orders (their tags), as `source` says; each
    reason row gives the count from each. The totals are the centre's, or with `department`
    (and `include_children`) those of that department (and those below it), whose rows alone
    are listed; `only_department` (a department key) lists only its own row. Complaints without
    a category code are counted in `uncategorised_complaints`."""
    wanted = set(REASON_SOURCES[:3]) if source == "all" else {source}
    tree = await registry.department_tree(session)
    codes = covered(tree, department=department, include_children=include_children)
    base = await service.reasons(session, period, filters=filters, exclude_flagged=exclude_flagged)
    names = {d.code: d.name for d in tree}
    counts: dict[str | None, dict[str, dict[str, int]]] = {}
    empty = {"bad": 0, "complaints": 0, "inspections": 0, "excluded_flagged": 0}
    totals: dict[str | None, dict[str, int]] = {}

    def scopes(code: str) -> list[str | None]:
        inside = codes is None or code in codes
        shown = inside and only_department in (None, code)
        return [s for s, yes in ((None, inside), (code, shown)) if yes]

    def add(code: str, tag: str, kind: str, n: int) -> None:
        for scope in scopes(code):
            by = counts.setdefault(scope, {}).setdefault(tag, {})
            by[kind] = by.get(kind, 0) + n

    def total(code: str, kind: str, n: int) -> None:
        for scope in scopes(code):
            t = totals.setdefault(scope, dict(empty))
            t[kind] += n

    if "ratings" in wanted:
        for row in base["departments"]:
            total(row["code"], "bad", row["bad"])
            total(row["code"], "excluded_flagged", row["excluded_flagged"])
            for r in row["reasons"]:
                add(row["code"], r["tag"], "ratings", r["count"])
    uncategorised = 0
    if "complaints" in wanted:
        for code, category, _, n in await workorders.complaint_reasons(
            session, start=period.start_at, end=period.end_at, departments=None
        ):
            total(code, "complaints", n)
            if (tag := reason_of(category)) is None:
                uncategorised += n if None in scopes(code) else 0
            else:
                add(code, tag, "complaints", n)
    if "inspections" in wanted:
        for t in await workorders.target_figures(
            session, start=period.start_at, end=period.end_at, now=period.end_at
        ):
            if t["source"] == "inspection":
                total(t["department_code"], "inspections", t["counted"])
        for code, tag, n in await workorders.inspection_tags(
            session, start=period.start_at, end=period.end_at, departments=None
        ):
            add(code, tag, "inspections", n)
    departments = [
        {"code": code, "name": names.get(code, code), **totals.get(code, empty),
         "reasons": _reason_rows(counts.get(code, {}))}
        for code in sorted((set(counts) | set(totals)) - {None})
    ]  # fmt: skip
    departments.sort(key=lambda r: (-(r["bad"] + r["complaints"]), r["code"]))
    return {
        "period": period.as_json(),
        "source": source,
        "exclude_flagged": exclude_flagged,
        **totals.get(None, empty),
        "uncategorised_complaints": uncategorised,
        "reasons": _reason_rows(counts.get(None, {})),
        "departments": departments,
    }

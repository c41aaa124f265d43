"""The case ledger (办件台账): import, the case figures, the callback frame.

What other domains call: `import_cases` (plain dicts or CaseIn, e.g. from a provincial feed),
`case_figures` (办件量, 主动评价率, 按时办结, coverage for a period). A case's rated state follows
its ratings through two database triggers on `rating` (migration 0011), which see every path
that stores a rating or changes its status (the direct single-event path and COPY included)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.cases import repository
from app.cases.schemas import MAX_IMPORT, CaseIn
from app.errors import NotFound, ValidationProblem, errors_detail, field_error, pydantic_errors
from app.ratings import service as ratings
from app.registry import service as registry
from app.stats.periods import Period
from app.stats.tally import rate

_cases_adapter = TypeAdapter(list[CaseIn])
__all__ = ["MAX_IMPORT", "case_figures", "draw", "frame_counts", "get_case", "import_cases"]


def _checked(cases: list[CaseIn | dict[str, Any]]) -> list[CaseIn]:
    try:
        return _cases_adapter.validate_python(cases)
    except ValidationError as exc:
        errors = pydantic_errors(list(exc.errors()))
        for error in errors:
            error["field"] = f"cases.{error['field']}"
        raise ValidationProblem(errors_detail(errors, 5), errors=errors) from None


async def import_cases(
    session: AsyncSession, cases: list[CaseIn | dict[str, Any]]
) -> dict[str, int]:
    """Store these cases, idempotent on case_no: new ones created, changed ones replaced, the
    same ones left. One bad case (or an unknown department) refuses all: 422, nothing stored."""
    items = _checked(cases)
    errors = []
    seen: dict[str, int] = {}
    for index, case in enumerate(items):
        if case.case_no in seen:
            errors.append(
                field_error(
                    f"cases.{index}.case_no",
                    f"repeats case {seen[case.case_no]} of this call",
                    "duplicate",
                )
            )
        seen.setdefault(case.case_no, index)
    known = await registry.active_departments(session, {c.department_code for c in items})
    errors += [
        field_error(f"cases.{i}.department_code", "unknown department", "unknown")
        for i, c in enumerate(items)
        if c.department_code not in known
    ]
    if errors:
        raise ValidationProblem(errors_detail(errors, 5), errors=errors)
    await repository.lock_imports(session)
    incoming = {c.case_no: c.model_dump(exclude={"case_no"}) for c in items}
    stored = await repository.stored(session, list(incoming))
    changed = {
        no: values
        for no, values in incoming.items()
        if no not in stored or any(stored[no][f] != values[f] for f in repository.FIELDS)
    }
    await repository.apply(session, [stored[no]["id"] for no in changed if no in stored], -1)
    ids = await repository.upsert(session, [{"case_no": no, **v} for no, v in changed.items()])
    new = [no for no in changed if no not in stored]
    await repository.set_rating_counts(session, await ratings.active_by_case(session, new))
    await repository.apply(session, list(ids.values()), 1)
    return {
        "received": len(items),
        "created": len(new),
        "updated": len(changed) - len(new),
        "unchanged": len(items) - len(changed),
    }


async def get_case(session: AsyncSession, case_no: str) -> dict[str, Any]:
    case = await repository.get_case(session, case_no)
    if case is None:
        raise NotFound(f"No case {case_no}")
    return {**case, "rated": case["rating_count"] > 0}


# --- figures ------------------------------------------------------------------------------------


def figures(row: dict[str, Any]) -> dict[str, Any]:
    """The counts of one line with their rates beside them."""
    cases, finished, on_time, rated = (
        int(row["cases"]),
        int(row["finished"]),
        int(row["on_time"]),
        int(row["rated"]),
    )
    return {
        "cases": cases,
        "finished": finished,
        "on_time": on_time,
        "on_time_rate": rate(on_time, finished),
        "rated": rated,
        "active_rating_rate": rate(rated, cases),
    }


def _coverage_of(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """department -> (keys with a case, keys with a rated case), from a group's own rows."""
    out: dict[str, tuple[int, int]] = {}
    for row in rows:
        if row["key"] != "":
            total, rated = out.get(row["department_code"], (0, 0))
            out[row["department_code"]] = (total + 1, rated + (int(row["rated"]) > 0))
    return out


def _coverage(total: int, rated: int) -> dict[str, Any]:
    return {"total": total, "rated": rated, "rate": rate(rated, total)}


async def case_figures(
    session: AsyncSession,
    period: Period,
    group: str = "department",
    department_code: str | None = None,
) -> dict[str, Any]:
    """The period's case figures per department, window, staff member or service item (group),
    with the centre's total; only `department_code`'s rows when given (its total then too).

    Each row: cases (办件量), finished, on_time, on_time_rate, rated, active_rating_rate
    (主动评价率 = rated / cases); per department and in the total, windows and items coverage."""
    rows = await repository.sums(session, group, period.start_on, period.end_on, department_code)
    if group == "department":
        totals = rows
    else:
        totals = await repository.sums(
            session, "department", period.start_on, period.end_on, department_code
        )
    windows = (
        _coverage_of(rows)
        if group == "window"
        else await repository.coverage(
            session, "window", period.start_on, period.end_on, department_code
        )
    )
    items = (
        _coverage_of(rows)
        if group == "item"
        else await repository.coverage(
            session, "item", period.start_on, period.end_on, department_code
        )
    )
    names = {d.code: d.name for d in await registry.list_departments(session)}
    total = {k: sum(int(r[k]) for r in totals) for k in ("cases", "finished", "on_time", "rated")}
    out_rows = []
    for row in rows:
        code = row["department_code"]
        by_department = group == "department"
        out_rows.append(
            {
                "department_code": code,
                "department_name": names.get(code),
                "key": None if by_department or row["key"] == "" else row["key"],
                "name": row["label"] if group == "item" else None,
                **figures(row),
                "windows": _coverage(*windows.get(code, (0, 0))) if by_department else None,
                "items": _coverage(*items.get(code, (0, 0))) if by_department else None,
            }
        )
    return {
        "period": period.as_json(),
        "group": group,
        "total": {
            **figures(total),
            "windows": _coverage(*map(sum, zip(*windows.values(), strict=False)))
            if windows
            else _coverage(0, 0),
            "items": _coverage(*map(sum, zip(*items.values(), strict=False)))
            if items
            else _coverage(0, 0),
        },
        "rows": out_rows,
    }


# --- the callback frame (app/surveys/) -----------------------------------------------------------


async def frame_counts(session: AsyncSession, period: Period) -> dict[str, int]:
    """department -> cases accepted in the period."""
    rows = await repository.sums(session, "department", period.start_on, period.end_on)
    return {r["department_code"]: int(r["cases"]) for r in rows}


async def draw(
    session: AsyncSession, period: Period, quotas: dict[str, int], seed: str
) -> list[dict[str, Any]]:
    """The first quotas[department] cases of each department in md5(seed, case_no) order."""
    return await repository.draw(session, period.start_at, period.end_at, quotas, seed)

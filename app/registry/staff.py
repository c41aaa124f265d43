"""The staff register (工作人员): 工号 → name, department, window. Deactivate, never delete.

Ratings carry a staff id (工号) as the hall's systems send it; the register only names it. A
staff id that is not registered is still counted in every figure (shown as its id).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, ValidationProblem, field_error
from app.registry.models import Department, Staff
from app.registry.schemas import StaffImportItem, StaffIn


async def _check_department(session: AsyncSession, code: str | None, field: str) -> None:
    if code is not None and await session.get(Department, code) is None:
        raise ValidationProblem(
            f"Unknown department {code!r}", errors=[field_error(field, "unknown department")]
        )


def _values(body: StaffIn) -> dict:
    return {
        "name": body.name,
        "department_code": body.department_code,
        "window_no": body.window_no,
        "active": body.active,
    }


async def put_staff(session: AsyncSession, staff_id: str, body: StaffIn) -> tuple[Staff, bool]:
    """Create or replace one staff member; returns it and whether it was created."""
    await _check_department(session, body.department_code, "department_code")
    row = (
        await session.execute(
            insert(Staff)
            .values(staff_id=staff_id, **_values(body))
            .on_conflict_do_update(
                index_elements=[Staff.staff_id],
                set_={**_values(body), "updated_at": func.now()},
            )
            .returning(Staff.staff_id, literal_column("xmax = 0").label("new"))
        )
    ).one()
    staff = await session.get(Staff, row.staff_id, populate_existing=True)
    return staff, bool(row.new)


async def import_staff(
    session: AsyncSession, items: list[StaffImportItem]
) -> tuple[list[Staff], int]:
    """Upsert a list of staff members in one transaction; (them, how many were new)."""
    ids = [item.staff_id for item in items]
    errors = [
        field_error(f"staff.{i}.staff_id", "duplicate staff id in this import")
        for i, item in enumerate(items)
        if ids.count(item.staff_id) > 1
    ]
    codes = {item.department_code for item in items if item.department_code is not None}
    known = set(
        (await session.execute(select(Department.code).where(Department.code.in_(codes)))).scalars()
    )
    errors += [
        field_error(f"staff.{i}.department_code", "unknown department")
        for i, item in enumerate(items)
        if item.department_code is not None and item.department_code not in known
    ]
    if errors:
        raise ValidationProblem("The staff import has errors", errors=errors)
    existing = set(
        (await session.execute(select(Staff.staff_id).where(Staff.staff_id.in_(ids)))).scalars()
    )
    for item in items:
        await session.execute(
            insert(Staff)
            .values(staff_id=item.staff_id, **_values(item))
            .on_conflict_do_update(
                index_elements=[Staff.staff_id],
                set_={**_values(item), "updated_at": func.now()},
            )
        )
    staff = [await session.get(Staff, staff_id, populate_existing=True) for staff_id in ids]
    return staff, len(set(ids) - existing)


async def get_staff(session: AsyncSession, staff_id: str) -> Staff:
    staff = await session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"No staff member {staff_id!r}")
    return staff


async def list_staff(
    session: AsyncSession, *, department_code: str | None = None, active: bool | None = None
) -> list[Staff]:
    query = select(Staff).order_by(Staff.staff_id)
    if department_code is not None:
        query = query.where(Staff.department_code == department_code)
    if active is not None:
        query = query.where(Staff.active == active)
    return list((await session.execute(query)).scalars())


async def staff_register(session: AsyncSession) -> dict[str, Any]:
    """Every registered staff member by id (the statistics' names): rows with staff_id, name,
    department_code, window_no and active (plain rows: a centre has a thousand or more)."""
    columns = (Staff.staff_id, Staff.name, Staff.department_code, Staff.window_no, Staff.active)
    return {row.staff_id: row for row in await session.execute(select(*columns))}

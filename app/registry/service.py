"""Departments, windows and devices. Nothing here is ever deleted: deactivate instead."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound, ValidationProblem, field_error
from app.registry.models import Department, Device, ServiceWindow
from app.registry.schemas import (
    DepartmentImportItem,
    DepartmentIn,
    DepartmentUpdate,
    DeviceIn,
    DeviceUpdate,
    WindowIn,
    WindowUpdate,
)


def _refuse_nulls(body, *fields: str) -> None:
    """A partial update changes what it names; an explicit null for a field that must have a
    value is a 422, not a silent no-op."""
    errors = [
        field_error(name, "may not be null (leave it out to keep the current value)", "null")
        for name in fields
        if name in body.model_fields_set and getattr(body, name) is None
    ]
    if errors:
        raise ValidationProblem("A field may not be null", errors=errors)


async def get_department(
    session: AsyncSession, code: str, *, field: str | None = None
) -> Department:
    """The department, or 404 (422 naming `field` when the code came in a body)."""
    department = await session.get(Department, code)
    if department is None:
        if field:
            raise ValidationProblem(
                f"Unknown department {code!r}", errors=[field_error(field, "unknown department")]
            )
        raise NotFound(f"No department {code!r}")
    return department


async def _check_parent(session: AsyncSession, code: str, parent_code: str | None) -> None:
    """The parent must exist and must not make a cycle."""
    if parent_code is None:
        return
    seen = {code}
    current: str | None = parent_code
    while current is not None:
        if current in seen:
            raise ValidationProblem(
                "Department parents would form a cycle",
                errors=[field_error("parent_code", "would make the department its own ancestor")],
            )
        seen.add(current)
        parent = await session.get(Department, current)
        if parent is None:
            raise ValidationProblem(
                f"Unknown parent department {current!r}",
                errors=[field_error("parent_code", "unknown department")],
            )
        current = parent.parent_code


async def put_department(
    session: AsyncSession, code: str, body: DepartmentIn
) -> tuple[Department, bool]:
    """Create or update one department; returns it and whether it was created."""
    await _check_parent(session, code, body.parent_code)
    row = (
        await session.execute(
            insert(Department)
            .values(
                code=code,
                name=body.name,
                parent_code=body.parent_code,
                region_code=body.region_code,
                active=body.active,
            )
            .on_conflict_do_update(
                index_elements=[Department.code],
                set_={
                    "name": body.name,
                    "parent_code": body.parent_code,
                    "region_code": body.region_code,
                    "active": body.active,
                    "updated_at": func.now(),
                },
            )
            .returning(Department.code, literal_column("xmax = 0").label("new"))
        )
    ).one()
    department = await session.get(Department, row.code, populate_existing=True)
    return department, bool(row.new)


async def import_departments(
    session: AsyncSession, items: list[DepartmentImportItem]
) -> tuple[list[Department], int]:
    """Upsert a list of departments (parents may come later in the list)."""
    codes = [item.code for item in items]
    duplicates = {c for c in codes if codes.count(c) > 1}
    if duplicates:
        raise ValidationProblem(
            "A department code appears twice in the import",
            errors=[
                field_error(f"departments.{i}.code", "duplicate code in this import")
                for i, item in enumerate(items)
                if item.code in duplicates
            ],
        )
    existing = set(
        (await session.execute(select(Department.code).where(Department.code.in_(codes)))).scalars()
    )
    known = existing | set(codes)
    missing_parents = [
        field_error(f"departments.{i}.parent_code", "unknown department")
        for i, item in enumerate(items)
        if item.parent_code is not None
        and item.parent_code not in known
        and await session.get(Department, item.parent_code) is None
    ]
    if missing_parents:
        raise ValidationProblem("Unknown parent departments", errors=missing_parents)
    # Two passes so that a parent later in the list exists before its children point at it.
    for item in items:
        await session.execute(
            insert(Department)
            .values(
                code=item.code, name=item.name, region_code=item.region_code, active=item.active
            )
            .on_conflict_do_update(
                index_elements=[Department.code],
                set_={
                    "name": item.name,
                    "region_code": item.region_code,
                    "active": item.active,
                    "updated_at": func.now(),
                },
            )
        )
    for index, item in enumerate(items):
        try:
            await _check_parent(session, item.code, item.parent_code)
        except ValidationProblem as exc:
            for error in exc.errors or []:
                error["field"] = f"departments.{index}.{error['field']}"
            raise
        department = await session.get(Department, item.code, populate_existing=True)
        department.parent_code = item.parent_code
        await session.flush()
    departments = [await session.get(Department, code, populate_existing=True) for code in codes]
    return departments, len(set(codes) - existing)


async def list_departments(session: AsyncSession, active: bool | None = None) -> list[Department]:
    query = select(Department).order_by(Department.code)
    if active is not None:
        query = query.where(Department.active == active)
    return list((await session.execute(query)).scalars())


async def patch_department(session: AsyncSession, code: str, body: DepartmentUpdate) -> Department:
    """Change only the fields given (e.g. `{"active": false}` to deactivate)."""
    _refuse_nulls(body, "name", "active")
    department = await get_department(session, code)
    given = body.model_fields_set
    if "parent_code" in given:
        await _check_parent(session, code, body.parent_code)
        department.parent_code = body.parent_code
    if "name" in given:
        department.name = body.name
    if "region_code" in given:
        department.region_code = body.region_code
    if "active" in given:
        department.active = body.active
    if given:
        department.updated_at = func.now()
    await session.flush()
    await session.refresh(department)
    return department


async def _find_window(session: AsyncSession, code: str, window_no: str) -> ServiceWindow | None:
    return (
        await session.execute(
            select(ServiceWindow).where(
                ServiceWindow.department_code == code, ServiceWindow.window_no == window_no
            )
        )
    ).scalar_one_or_none()


async def patch_window(
    session: AsyncSession, code: str, window_no: str, body: WindowUpdate
) -> ServiceWindow:
    """Change only the fields given of a window."""
    _refuse_nulls(body, "name", "active")
    await get_department(session, code)
    window = await _find_window(session, code, window_no)
    if window is None:
        raise NotFound(f"Department {code!r} has no window {window_no!r}")
    given = body.model_fields_set
    if "name" in given:
        window.name = body.name
    if "active" in given:
        window.active = body.active
    if given:
        window.updated_at = func.now()
    await session.flush()
    await session.refresh(window)
    return window


async def put_window(
    session: AsyncSession, code: str, window_no: str, body: WindowIn
) -> tuple[ServiceWindow, bool]:
    await get_department(session, code)
    window = await _find_window(session, code, window_no)
    if window is None:
        window = ServiceWindow(
            department_code=code, window_no=window_no, name=body.name, active=body.active
        )
        session.add(window)
        await session.flush()
        await session.refresh(window)
        return window, True
    window.name = body.name
    window.active = body.active
    window.updated_at = func.now()
    await session.flush()
    await session.refresh(window)
    return window, False


async def list_windows(session: AsyncSession, code: str) -> list[ServiceWindow]:
    await get_department(session, code)
    return list(
        (
            await session.execute(
                select(ServiceWindow)
                .where(ServiceWindow.department_code == code)
                .order_by(ServiceWindow.window_no)
            )
        ).scalars()
    )


async def _check_window(session: AsyncSession, code: str, window_no: str) -> None:
    await get_department(session, code, field="department_code")
    window = (
        await session.execute(
            select(ServiceWindow.id).where(
                ServiceWindow.department_code == code, ServiceWindow.window_no == window_no
            )
        )
    ).scalar_one_or_none()
    if window is None:
        raise ValidationProblem(
            f"Department {code!r} has no window {window_no!r}",
            errors=[
                field_error(
                    "window_no",
                    "unknown window; register it first with "
                    f"PUT /v1/departments/{code}/windows/{window_no}",
                )
            ],
        )


async def register_device(session: AsyncSession, body: DeviceIn, client_id: uuid.UUID) -> Device:
    await _check_window(session, body.department_code, body.window_no)
    taken = (
        await session.execute(select(Device.id).where(Device.serial_no == body.serial_no))
    ).scalar_one_or_none()
    if taken is not None:
        raise Conflict(f"A device with serial number {body.serial_no!r} is already registered")
    device = Device(
        serial_no=body.serial_no,
        department_code=body.department_code,
        window_no=body.window_no,
        client_id=client_id,
    )
    session.add(device)
    await session.flush()
    await session.refresh(device)
    return device


async def get_device(session: AsyncSession, device_id: uuid.UUID) -> Device:
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound(f"No device {device_id}")
    return device


async def update_device(session: AsyncSession, device_id: uuid.UUID, body: DeviceUpdate) -> Device:
    """Move a device to another window, or (de)activate it."""
    device = await get_device(session, device_id)
    code = body.department_code or device.department_code
    window_no = body.window_no or device.window_no
    if (code, window_no) != (device.department_code, device.window_no):
        await _check_window(session, code, window_no)
        device.department_code, device.window_no = code, window_no
    if body.active is not None:
        device.active = body.active
    device.updated_at = func.now()
    await session.flush()
    await session.refresh(device)
    return device


async def list_devices(session: AsyncSession, department_code: str | None = None) -> list[Device]:
    query = select(Device).order_by(Device.department_code, Device.window_no, Device.serial_no)
    if department_code:
        query = query.where(Device.department_code == department_code)
    return list((await session.execute(query)).scalars())


async def active_departments(session: AsyncSession, codes: set[str]) -> dict[str, bool]:
    """code -> active for the codes that exist."""
    if not codes:
        return {}
    rows = await session.execute(
        select(Department.code, Department.active).where(Department.code.in_(codes))
    )
    return {code: active for code, active in rows.all()}


async def active_windows(
    session: AsyncSession, places: set[tuple[str, str]]
) -> dict[tuple[str, str], bool]:
    """(department code, window no) -> active for the windows that exist."""
    if not places:
        return {}
    rows = await session.execute(
        select(ServiceWindow.department_code, ServiceWindow.window_no, ServiceWindow.active).where(
            tuple_(ServiceWindow.department_code, ServiceWindow.window_no).in_(list(places))
        )
    )
    return {(code, window_no): active for code, window_no, active in rows.all()}


async def all_window_names(session: AsyncSession) -> dict[tuple[str, str], str]:
    """{(department_code, window_no): name} of every registered window."""
    rows = await session.execute(
        select(ServiceWindow.department_code, ServiceWindow.window_no, ServiceWindow.name)
    )
    return {(code, window_no): name for code, window_no, name in rows}


async def department_tree(session: AsyncSession) -> list[Any]:
    """Every department as a plain row (code, name, parent_code, region_code, active): the
    statistics' tree and regions, read on every call (no ORM objects to build)."""
    columns = (
        Department.code,
        Department.name,
        Department.parent_code,
        Department.region_code,
        Department.active,
    )
    return list(await session.execute(select(*columns).order_by(Department.code)))

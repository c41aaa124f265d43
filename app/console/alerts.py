"""Early-warning alerts on the dashboard and the desk: the same service calls and role rules as
/v1/alerts (a department sees its own department's; readers see but do not acknowledge)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Path, Request

from app.alerts import service
from app.alerts.router import own_department
from app.console.pages import (
    ConsoleRoute,
    User,
    check_csrf,
    read_form,
    require_role,
    see_other,
)
from app.db import Session
from app.errors import Conflict, NotFound, ValidationProblem
from app.timefmt import local_iso

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

KIND_ZH = {
    "window_bad_burst": "差评激增",
    "department_good_rate": "好评率偏低",
    "device_silent": "评价器静默",
    "order_due_soon": "工单临期",
}
SHOWN = 20
RECENT = 5
NOTE_MAX = 500


def evidence_text(alert: dict[str, Any]) -> str:
    """What the rule found, in a sentence."""
    e = alert.get("evidence") or {}
    kind = alert["kind"]
    if kind == "window_bad_burst":
        return f"{e.get('minutes')} 分钟内差评 {e.get('bad_count')} 条（阈值 {e.get('threshold')}）"
    if kind == "department_good_rate":
        return (
            f"最近 {e.get('ratings')} 条评价好评率 {e.get('good_rate')}%"
            f"（低于 {e.get('min_rate_percent')}%）"
        )
    if kind == "device_silent":
        return f"评价器 {e.get('serial_no')} {e.get('working_days')} 个工作日无评价"
    if kind == "order_due_soon":
        return f"工单 #{e.get('order_id')} 将于 {e.get('due_at')} 到期"
    return ""


async def panel(session, principal, *, department_code: str | None = None) -> dict[str, Any]:
    """The panel's content for this key: its open alerts (newest first), how many there are,
    the latest acknowledged ones with who and when, and whether it may acknowledge."""
    scope = own_department(principal, department_code)
    open_alerts, _ = await service.list_alerts(session, department_code=scope, limit=SHOWN)
    recent, _ = await service.list_alerts(
        session, department_code=scope, state="acknowledged", limit=RECENT
    )
    return {
        "open": open_alerts,
        "count": await service.count_open(session, department_code=scope),
        "recent": recent,
        "can_ack": principal.role in ("admin", "department"),
        "kind_zh": KIND_ZH,
        "evidence": evidence_text,
    }


def _back(target: str | None) -> str:
    """Where to return after the form: a console page, never elsewhere."""
    if not target or not target.startswith("/console/") or target.startswith("/console//"):
        return "/console"
    path, _, query = target.split("#", 1)[0].partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "acked"]
    return path + ("?" + urlencode(kept) if kept else "")


@router.post("/alerts/{alert_id}/ack")
async def acknowledge(
    request: Request, session: Session, user: User, alert_id: int = Path(ge=1, le=2**63 - 1)
):
    """Acknowledge an alert (admin, department: its own department's), once, with a note."""
    require_role(user, "admin", "department")
    form = await read_form(request)
    check_csrf(request, user, form)
    note = (form.get("note") or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ValidationProblem(
            f"note is longer than {NOTE_MAX} characters",
            zh_detail=f"说明最多 {NOTE_MAX} 个字",
        )
    scope = own_department(user.principal)
    try:
        await service.acknowledge(
            session,
            alert_id,
            user.principal,
            request.app.state.clock(),
            note=note,
            department_code=scope,
        )
    except Conflict as exc:
        await session.rollback()
        done = await service.get_alert(session, alert_id, department_code=scope)
        ack = done["acknowledged"] or {}
        when = local_iso(ack["at"])[:16].replace("T", " ")
        raise Conflict(
            exc.detail or "already acknowledged",
            zh_detail=f"该预警已由{ack.get('name')}于{when}确认",
        ) from exc
    except NotFound as exc:
        raise NotFound(exc.detail or "no such alert", zh_detail="没有这条预警") from exc
    back = _back(form.get("next"))
    return see_other(back + ("&" if "?" in back else "?") + f"acked={alert_id}#alerts")

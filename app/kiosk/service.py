"""Enrolment of tablets, the session at a device, rating links, and ratings from the QR page.

Tokens (enrolment links, rating links) are 256-bit random, stored as their SHA-256: a leaked
database does not leak a working link. An enrolment hands the device's key over once: the
redemption is a POST (the token in the body, so in no access log), marks the link used in the
same transaction, and revokes the key of the device's previous enrolment."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.auth import service as auth
from app.auth.service import Principal
from app.config import Settings
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationProblem,
    errors_detail,
    field_error,
)
from app.kiosk.models import DeviceEnrolment, DeviceSession, RatingLink
from app.kiosk.schemas import CaseLinkIn, QrRatingIn
from app.ratings import service as ratings
from app.ratings.schemas import RaterIn, RatingIn
from app.registry import service as registry
from app.registry import staff_photo

# The client the QR page's ratings are posted as (event ids and follow-ups are per client).
QR_CLIENT_ID = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
QR_CLIENT_NAME = "扫码评价 (QR-code page)"
_TOKEN_CONTEXT = "rating_link.token"


class Gone(ProblemError):
    status, type, title = 410, "gone", "No longer valid"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# --- enrolment ------------------------------------------------------------------------------


async def issue_enrolment(
    session: AsyncSession, device_id: uuid.UUID, *, now: datetime, minutes: int
) -> tuple[DeviceEnrolment, str]:
    """A one-time enrolment link for a device; the token is returned once."""
    device = await registry.get_device(session, device_id)
    if not device.active:
        raise Conflict(f"Device {device_id} is deactivated: reactivate it before enrolling")
    token = new_token()
    enrolment = DeviceEnrolment(
        device_id=device.id,
        token_hash=digest(token),
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    session.add(enrolment)
    await session.flush()
    return enrolment, token


async def redeem_enrolment(session: AsyncSession, token: str, *, now: datetime) -> dict:
    """Spend an enrolment link: a new key for the device (the previous enrolment's revoked)."""
    enrolment = (
        await session.execute(
            select(DeviceEnrolment)
            .where(DeviceEnrolment.token_hash == digest(token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if enrolment is None:
        raise NotFound(
            "unknown enrolment link", zh_detail="启用链接无效，请向管理员申请新的启用链接"
        )
    if enrolment.redeemed_at is not None:
        raise Gone(
            "the enrolment link was used",
            zh_detail="此启用链接已使用过，请向管理员申请新的启用链接",
        )
    if enrolment.expires_at <= now:
        raise Gone(
            "the enrolment link expired", zh_detail="此启用链接已过期，请向管理员申请新的启用链接"
        )
    device = await registry.get_device(session, enrolment.device_id)
    if not device.active:
        raise Conflict("the device is deactivated", zh_detail="此评价器已停用")
    earlier = await session.execute(
        select(DeviceEnrolment.key_id).where(
            DeviceEnrolment.device_id == device.id,
            DeviceEnrolment.key_id.is_not(None),
            DeviceEnrolment.id != enrolment.id,
        )
    )
    for (key_id,) in earlier:
        await auth.revoke_key(session, key_id)
    api_key, key = await auth.issue_key(session, device.client_id)
    enrolment.redeemed_at, enrolment.key_id = now, api_key.id
    await session.flush()
    return {
        **(await place(session, device.department_code, device.window_no)),
        "device_id": device.id,
        "key_id": api_key.id,
        "key": key,
        "server_time": int(now.timestamp()),
    }


async def place(session: AsyncSession, code: str, window_no: str | None) -> dict:
    """The department's and the window's names."""
    department = await registry.get_department(session, code)
    window_name = None
    if window_no is not None:
        windows = await registry.list_windows(session, code)
        window_name = next((w.name for w in windows if w.window_no == window_no), None)
    return {
        "department_code": code,
        "department_name": department.name,
        "window_no": window_no,
        "window_name": window_name,
    }


# --- the session at a device ----------------------------------------------------------------


async def device_for(session: AsyncSession, device_id: uuid.UUID, principal: Principal):
    """The device, if this key may set or read its session: admin, the device's department,
    or the device itself."""
    device = await registry.get_device(session, device_id)
    if principal.role == "admin" or principal.device_id == device.id:
        return device
    if principal.role == "department" and principal.department_code == device.department_code:
        return device
    raise Forbidden("Only an admin, the device's department or the device itself may do this")


async def get_session(session: AsyncSession, device, *, now: datetime) -> dict:
    row = await session.get(DeviceSession, device.id, populate_existing=True)
    staff_id = row.staff_id if row else None
    card = {"name": None, "photo_token": None}
    if staff_id is not None:
        card = await staff_photo.on_duty(session, staff_id)
    return {
        **(await place(session, device.department_code, device.window_no)),
        "device_id": device.id,
        "staff_id": staff_id,
        "staff_name": card["name"],
        "staff_photo_url": photo_path(card["photo_token"]),
        "case_no": row.case_no if row else None,
        "set_by": row.set_by if row else None,
        "updated_at": row.updated_at if row else None,
        "server_time": int(now.timestamp()),
    }


def photo_path(token: str | None) -> str | None:
    """Where the tablet page loads a staff photo (an unguessable name: the page's <img> sends no
    key, so the name is the permission; a new upload gets a new one)."""
    return None if token is None else f"/kiosk/staff-photos/{token}"


async def put_session(
    session: AsyncSession,
    device,
    staff_id: str | None,
    case_no: str | None,
    *,
    set_by: str,
    now: datetime,
) -> dict:
    values = {"staff_id": staff_id, "case_no": case_no, "set_by": set_by, "updated_at": now}
    await session.execute(
        pg_insert(DeviceSession)
        .values(device_id=device.id, **values)
        .on_conflict_do_update(index_elements=[DeviceSession.device_id], set_=values)
    )
    return await get_session(session, device, now=now)


# --- rating links (QR codes) ----------------------------------------------------------------


async def window_link(
    session: AsyncSession, code: str, window_no: str, *, now: datetime, rotate: bool = False
) -> tuple[RatingLink, str]:
    """The window's live rating link (made on first use; a new one when `rotate`)."""
    windows = await registry.list_windows(session, code)
    if not any(w.window_no == window_no for w in windows):
        raise NotFound(f"No window {window_no!r} in department {code!r}")
    live = (RatingLink.kind == "window") & RatingLink.revoked_at.is_(None)
    place_ = (RatingLink.department_code == code) & (RatingLink.window_no == window_no)
    if rotate:
        await session.execute(update(RatingLink).where(live, place_).values(revoked_at=now))
    token = new_token()
    await session.execute(
        pg_insert(RatingLink)
        .values(
            token_hash=digest(token),
            token_sealed=privacy.keyring().encrypt(token, _TOKEN_CONTEXT),
            kind="window",
            department_code=code,
            window_no=window_no,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["department_code", "window_no"],
            index_where=text("kind = 'window' AND revoked_at IS NULL"),
        )
    )
    link = (await session.execute(select(RatingLink).where(live, place_))).scalar_one()
    return link, privacy.keyring().decrypt(link.token_sealed, _TOKEN_CONTEXT)


async def case_link(
    session: AsyncSession, body: CaseLinkIn, principal: Principal, *, now: datetime, days: int
) -> tuple[RatingLink, str]:
    """A rating link for one case (办件), as the window system prints it on the receipt."""
    if principal.role == "department" and principal.department_code != body.department_code:
        raise Forbidden("A department key makes links for its own department only")
    await registry.get_department(session, body.department_code, field="department_code")
    if body.window_no is not None:
        windows = await registry.list_windows(session, body.department_code)
        if not any(w.window_no == body.window_no for w in windows):
            raise _invalid("window_no", "no such window in this department")
    token = new_token()
    link = RatingLink(
        token_hash=digest(token),
        kind="case",
        department_code=body.department_code,
        window_no=body.window_no,
        case_no=body.case_no,
        staff_id=body.staff_id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(link)
    await session.flush()
    return link, token


def _invalid(field: str, message: str) -> ProblemError:
    return ValidationProblem(f"{field}: {message}", errors=[field_error(field, message)])


async def resolve(session: AsyncSession, token: str, *, now: datetime) -> RatingLink:
    """The live link of a token; 404 when unknown, 410 when revoked or expired."""
    link = (
        await session.execute(select(RatingLink).where(RatingLink.token_hash == digest(token)))
    ).scalar_one_or_none()
    if link is None:
        raise NotFound("unknown rating link", zh_detail="未找到此评价二维码，请扫描窗口上的二维码")
    if link.revoked_at is not None or (link.expires_at is not None and link.expires_at <= now):
        raise Gone(
            "the link was replaced or expired",
            zh_detail="此评价二维码已失效，请扫描窗口上的新二维码",
        )
    return link


def link_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/r/{token}"


# --- a rating from the QR page --------------------------------------------------------------


@dataclass
class QrOutcome:
    rating: dict
    created: bool


QR_PRINCIPAL = Principal(
    key_id=QR_CLIENT_ID, client_id=QR_CLIENT_ID, client_name=QR_CLIENT_NAME, role="portal"
)


async def post_qr_rating(
    session: AsyncSession, link: RatingLink, body: QrRatingIn, *, settings: Settings, now: datetime
) -> QrOutcome:
    """Store a rating through the link: channel qr_code, for its window or case. A case is
    rated once and followed up once (追评); a third rating is a 409."""
    rater = body.rater if body.rater and (body.rater.name or body.rater.phone) else None
    if rater is not None and not body.consent:
        raise _invalid(
            "consent", "a real-name rating needs the rater's consent to use their name and phone"
        )
    await auth.ensure_system_client(session, QR_CLIENT_ID, name=QR_CLIENT_NAME, role="portal")
    event_id = f"qr-{link.id}-{body.event_id}"
    stored = await ratings.stored_event(session, QR_CLIENT_ID, event_id)
    if stored is not None:  # the page retried a rating that was stored
        return QrOutcome(stored, created=False)
    assess_number = 1
    if link.case_no is not None:
        # One rating and one follow-up per case: rated in turn.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"haochaping.qr_case:{link.department_code}:{link.case_no}"},
        )
        numbers = await ratings.assessed(session, QR_CLIENT_ID, link.case_no)
        # Two ratings a case, whoever sent them (a tablet's too): the limit holds across
        # channels, though a tablet's first rating leaves this one numbered 1 (README).
        if 2 in numbers or await ratings.applicant_ratings(session, link.case_no) >= 2:
            raise Conflict(
                "this case has its rating and its follow-up",
                zh_detail="此办件已评价并追评过，不能再次评价",
                errors=[field_error("token", "the case was rated twice already", "rated_twice")],
            )
        assess_number = 2 if 1 in numbers else 1
    event = RatingIn(
        event_id=event_id,
        channel="qr_code",
        department_code=link.department_code,
        window_no=link.window_no,
        staff_id=link.staff_id,
        case_no=link.case_no,
        level=body.level,
        tags=body.tags,
        comment=body.comment,
        rater=RaterIn(name=rater.name, phone=rater.phone) if rater else None,
        rated_at=now,
        assess_number=assess_number,
    )
    (outcome,) = await ratings.ingest(session, QR_PRINCIPAL, [event], settings=settings, now=now)
    if outcome.status == "rejected":
        error = ProblemError(
            errors_detail(outcome.errors),
            errors=outcome.errors,
        )
        error.status = outcome.http_status
        error.type, error.title = "not-stored", "The rating could not be stored"
        raise error
    return QrOutcome(outcome.rating, created=outcome.status == "created")

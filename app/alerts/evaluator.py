"""The evaluation job: every active rule checked at `now`, its episodes raised and cleared.

Safe with several server processes and safe to rerun: a round takes a transaction-level
advisory lock (a second process skips its round), and the open episode of a rule and subject is
unique in the table, so no round can raise it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.alerts import conditions
from app.alerts.conditions import Finding
from app.alerts.episodes import reconcile
from app.alerts.models import AlertRule
from app.config import AlertSettings
from app.jobs import JobContext, Jobs
from app.workorders.calendar import WorkCalendar
from app.workorders.timing import load_calendar

log = logging.getLogger(__name__)

JOB = "alerts"
_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('haochaping.alerts'))")


async def findings(
    session: AsyncSession,
    rule: AlertRule,
    *,
    now: datetime,
    cal: WorkCalendar,
    settings: AlertSettings,
) -> list[Finding] | None:
    """What the rule finds now; None when it is not judged now (a tablet outside working
    hours: its open episodes stay as they are)."""
    params, scope = rule.params, rule.department_code
    if rule.kind == "window_bad_burst":
        return await conditions.window_bad_burst(session, params, scope, now)
    if rule.kind == "department_good_rate":
        return await conditions.department_good_rate(session, params, scope, now)
    if rule.kind == "device_silent":
        start, end = settings.working_hours_start, settings.working_hours_end
        if not conditions.in_working_hours(cal, now, start, end):
            return None
        return await conditions.device_silent(session, params, scope, now, cal=cal)
    if rule.kind == "order_due_soon":
        return await conditions.order_due_soon(session, params, scope, now, cal=cal)
    raise ValueError(f"unknown alert kind {rule.kind}")


async def evaluate(
    session: AsyncSession, *, now: datetime, settings: AlertSettings
) -> dict[str, int] | None:
    """One round in the caller's transaction; None when another process holds the round."""
    if not (await session.execute(_LOCK)).scalar_one():
        return None
    cal = await load_calendar(session)
    rules = (
        await session.execute(select(AlertRule).where(AlertRule.active).order_by(AlertRule.id))
    ).scalars()
    total = {"rules": 0, "raised": 0, "continuing": 0, "cleared": 0}
    for rule in list(rules):
        found = await findings(session, rule, now=now, cal=cal, settings=settings)
        if found is None:
            continue
        total["rules"] += 1
        for key, count in (await reconcile(session, rule, found, now=now)).items():
            total[key] += count
    return total


async def run_round(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, settings: AlertSettings
) -> dict[str, int] | None:
    """A committed round (the job's entry point; tests call it with their own `now`)."""
    async with sessionmaker() as session, session.begin():
        return await evaluate(session, now=now, settings=settings)


def register(jobs: Jobs, settings: AlertSettings) -> None:
    """The evaluation job, every HAOCHAPING_ALERTS_INTERVAL_SECONDS (off: _ENABLED=false)."""

    async def evaluate_rules(context: JobContext) -> None:
        done = await run_round(context.sessionmaker, now=context.now(), settings=settings)
        if done and (done["raised"] or done["cleared"]):
            log.info("alerts: %(raised)d raised, %(cleared)d cleared", done)

    jobs.add(
        JOB, evaluate_rules, every=settings.interval_seconds, first="run", enabled=settings.enabled
    )

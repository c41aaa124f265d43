"""The walker: opens demo orders and takes their actions through the real state machine."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from app.config import BUSINESS_TZ
from app.demo.order import SYSTEM, Order, Rest, Step, close_round, iso
from app.workorders import states
from app.workorders.actions import move, new_round
from app.workorders.calendar import WorkCalendar
from app.workorders.deadlines import DeadlinePolicy
from app.workorders.views import order_facts

_OPENING, _CLOSING = time(8, 30), time(17, 30)


class CachedCalendar(WorkCalendar):
    """The service's calendar, remembering each day's answer: the demo asks about the same
    days thousands of times, and the package validates every date it is asked about."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: dict[date, bool] = {}

    def is_workday(self, day: date) -> bool:
        known = self._memo.get(day)
        if known is None:
            known = self._memo[day] = super().is_workday(day)
        return known


class Walker:
    """Walks orders through the flow, with one calendar, policy, clock and random source."""

    def __init__(
        self, cal: WorkCalendar, policy: DeadlinePolicy, now: datetime, rng: random.Random
    ) -> None:
        self.cal, self.policy, self.now, self.rng = cal, policy, now, rng
        self._deadlines: dict[date, tuple[dict[str, datetime], bool]] = {}
        self._soon: dict[datetime, datetime] = {}

    # --- what the service computes ---------------------------------------------------------------

    def _count(self, basis_at: datetime) -> tuple[dict[str, datetime], bool]:
        # deadlines depend only on the local day of receipt
        day = basis_at.astimezone(BUSINESS_TZ).date()
        if day not in self._deadlines:
            self._deadlines[day] = self.policy.deadlines(self.cal, basis_at)
        return self._deadlines[day]

    def _set_deadlines(self, order: Order) -> None:
        deadlines, provisional = self._count(order.deadline_basis_at)
        order.deadlines, order.provisional = dict(deadlines), provisional
        self._refresh_due(order)

    @staticmethod
    def _refresh_due(order: Order) -> None:
        stage = states.current_stage(
            order.state,
            extended=order.extended,
            stages=tuple(order.policy),
            appeal_from=order.appeal_from,
            withdrawal_from=order.withdrawal_from,
        )
        order.current_stage = stage
        order.next_due_at = order.deadlines[stage] if stage else None
        resolution = "complex" if order.extended and "complex" in order.policy else "rectify"
        order.resolve_due_at = order.deadlines[resolution]

    def soon_from(self, due_at: datetime) -> datetime:
        """The first instant at which `due_at` is within one working day (due_soon_limit)."""
        if due_at not in self._soon:
            # due_at is 24:00 of working day X: due soon from 00:00 of the working day before
            day = (due_at.astimezone(BUSINESS_TZ) - timedelta(days=1)).date() - timedelta(days=1)
            while not self.cal.is_workday(day):
                day -= timedelta(days=1)
            self._soon[due_at] = datetime.combine(day, time(0), BUSINESS_TZ)
        return self._soon[due_at]

    # --- opening, warnings, actions --------------------------------------------------------------

    def open(
        self, *, source: str, real_name: bool, opened_at: datetime, actor: str, note: str
    ) -> Order:
        """A new order, as the service opens it (one 'open' history row)."""
        order = Order(
            source=source,
            real_name=real_name,
            opened_at=opened_at,
            policy=self.policy.as_dict(),
            now=self.now,
            deadline_basis_at=opened_at,
            updated_at=opened_at,
        )
        self._set_deadlines(order)
        data = {"deadlines": order.deadlines_iso(), "provisional": order.provisional}
        self._record(order, "open", opened_at, actor, note, None, data)
        return order

    def _record(
        self,
        order: Order,
        action: str,
        at: datetime,
        actor: str,
        note: str | None,
        state_before: str | None,
        data: dict[str, Any],
    ) -> None:
        order.history.append(
            Step(len(order.history) + 1, action, at, actor, note, state_before, order.state, data)
        )

    def warn_until(self, order: Order, until: datetime, *, acting: bool) -> None:
        """The sweeper's warnings (each once) before `until`; an action at `until` records
        what is still unrecorded first, as app/workorders/actions.act does."""
        due = order.next_due_at
        if due is None or order.overdue_at is not None:
            return
        last = order.history[-1].at
        detail = {"stage": order.current_stage, "due_at": iso(due)}
        if order.due_soon_at is None:
            soon = max(self.soon_from(due), last) + self._sweep_delay()
            if soon <= due:
                if soon < until:
                    at = soon
                elif acting and self.soon_from(due) <= until <= due:
                    at = until
                else:
                    at = None
                if at is not None:
                    order.due_soon_at = at
                    self._record(order, "due_soon", at, SYSTEM, None, order.state, detail)
        overdue = max(due, last) + self._sweep_delay()
        if overdue < until:
            at = overdue
        elif acting and until > due:
            at = until
        else:
            return
        order.overdue_at = at
        self._record(order, "overdue", at, SYSTEM, None, order.state, detail)

    def _sweep_delay(self) -> timedelta:
        # the sweeper runs every minute
        return timedelta(seconds=5 + 55 * self.rng.random())

    def act(
        self,
        order: Order,
        action: str,
        at: datetime,
        actor: str,
        note: str | None = None,
        *,
        substantiated: bool | None = None,
        satisfied: bool | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """Take one action at `at` (not taken, Rest, if `at` is not before now)."""
        if at >= self.now:
            raise Rest
        self.warn_until(order, at, acting=True)
        step = states.apply(
            order_facts(order),
            action,
            note=note,
            substantiated=substantiated,
            satisfied=satisfied,
            evidence=evidence,
        )
        effects = step.effects
        if "extend" in effects and at > order.resolve_due_at:
            raise AssertionError("an extension must be asked for before the rectify deadline")
        data: dict[str, Any] = {}
        before = move(
            order, step, action, at, data, substantiated=substantiated, satisfied=satisfied
        )
        if "reopen" in effects:
            data["round_ended"] = close_round(order, at)
            new_round(order, at)
            self._set_deadlines(order)
        if step.outcome and "close" in effects:
            order.outcome = step.outcome
        if "close" in effects:
            order.closed_at = at
        if "withdrawal_requested" in effects:
            order.withdrawal_from = before
            order.withdrawal_requests += 1
        if "withdrawal_refused" in effects:
            order.withdrawal_refusals += 1
        if action in ("request_withdrawal", "withdraw"):
            data["evidence"] = evidence
        if action == "confirm_withdrawal":
            asked = next(s for s in reversed(order.history) if s.action == "request_withdrawal")
            data["evidence"] = {
                **asked.data["evidence"],
                **self._requester(order, "request_withdrawal"),
            }
        if action in ("confirm_withdrawal", "refuse_withdrawal", "withdraw"):
            order.withdrawal_from = None
        if "invalidate_rating" in effects:
            appeal = self._requester(order, "appeal")
            data["evidence"] = {"kind": "appeal", "appeal_note": appeal["request_note"], **appeal}
            order.rating_status, order.rating_status_changed_at = "invalidated", at
        if "withdraw_rating" in effects:
            order.rating_status, order.rating_status_changed_at = "withdrawn", at
        self._refresh_due(order)
        if "reopen" in effects or "extend" in effects:
            data["deadlines"] = order.deadlines_iso()
        order.updated_at = at
        self._record(order, action, at, actor, note, before, data)

    @staticmethod
    def _requester(order: Order, action: str) -> dict[str, Any]:
        """Who asked (the loader fills in the client), as workorders.evidence.requester."""
        step = next(s for s in reversed(order.history) if s.action == action)
        return {
            "requested_at": iso(step.at),
            "requested_by": {"actor": step.actor},
            "request_note": step.note,
        }

    # --- when people act -------------------------------------------------------------------------

    def office(self, at: datetime) -> datetime:
        """`at`, or the next moment in office hours (08:30–17:30 on a working day) after it."""
        local = at.astimezone(BUSINESS_TZ)
        day = local.date()
        if local.time() > _CLOSING:
            day += timedelta(days=1)
        elif local.time() >= _OPENING and self.cal.is_workday(day):
            return at
        while not self.cal.is_workday(day):
            day += timedelta(days=1)
        start = datetime.combine(day, _OPENING, BUSINESS_TZ)
        return max(at, start + timedelta(minutes=90 * self.rng.random()))

    def after(self, at: datetime, low_hours: float, high_hours: float) -> datetime:
        """Some working moment between low and high hours after `at`."""
        hours = low_hours + (high_hours - low_hours) * self.rng.random()
        return self.office(at + timedelta(hours=hours))

    def by(self, at: datetime, due: datetime, *, late: bool) -> datetime:
        """A moment before `due` (some way into the time left), or after it when `late`."""
        if late:
            return self.office(max(due, at) + timedelta(hours=6 + 90 * self.rng.random()))
        left = (due - at).total_seconds()
        if left <= 3600:
            return self.after(at, 1, 4)
        moment = self.office(at + timedelta(seconds=left * (0.05 + 0.6 * self.rng.random())))
        return moment if moment < due else self.after(at, 0.5, 2)

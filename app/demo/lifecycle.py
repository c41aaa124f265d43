"""Work-order lifecycles for the demo (pure: no I/O, `now` is a parameter).

Each 差评 or 12345 complaint gets the order the service would open (responsible department,
deadlines by the configured policy counted in working days by the real calendar), then a
plausible sequence of actions, each taken through the real state machine (states.apply) and
applied as the service applies it (service.act), with the sweeper's due-soon and overdue
warnings where it would have recorded them. Steps that would come after `now` are not taken:
recent orders are still open, and some older ones stall and are overdue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from app.config import BUSINESS_TZ
from app.workorders import states
from app.workorders.calendar import WorkCalendar
from app.workorders.deadlines import DeadlinePolicy

# Who took a step; the loader maps these to the demo's clients.
SYSTEM, DEPARTMENT, SUPERVISOR, HOTLINE = "system", "department", "supervisor", "hotline"

# Shares of the orders that take each path (of those old enough to have taken it).
SHARES = {
    "withdraw": 0.07,  # a real-name rater withdraws the 差评 after an explanation
    "withdrawal_refused": 0.2,  # the supervisor finds the callback record does not bear it out
    "appeal": 0.05,  # 申诉 (ratings only); about half upheld
    "appeal_upheld": 0.5,
    "not_substantiated": 0.15,
    "extend": 0.08,  # complex case (when the policy has one)
    "stall": 0.04,  # nobody acts any more: the order stays open, overdue
    "late_contact": 0.08,
    "late_rectify": 0.12,
    "satisfied": 0.88,  # at the callback; otherwise reopened
}
_OPENING, _CLOSING = time(8, 30), time(17, 30)


@dataclass(slots=True)
class Step:
    """One history row (work_order_event) of an order."""

    seq: int
    action: str
    at: datetime
    actor: str
    note: str | None
    state_before: str | None
    state_after: str
    data: dict[str, Any]


class _Rest(Exception):
    """The next step would come after `now`: the order stays where it is."""


@dataclass(slots=True)
class Order:
    """A work order's columns at `now`, its history, and its rating's status."""

    source: str
    real_name: bool
    opened_at: datetime
    policy: dict[str, int]
    now: datetime
    state: str = "open"
    substantiated: bool | None = None
    extended: bool = False
    appeal_from: str | None = None
    appealed_before: bool = False
    outcome: str | None = None
    deadline_basis_at: datetime | None = None
    deadlines: dict[str, datetime] = field(default_factory=dict)
    provisional: bool = False
    current_stage: str | None = None
    next_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    resolved_at: datetime | None = None
    contacted_at: datetime | None = None
    called_back_at: datetime | None = None
    callback_satisfied: bool | None = None
    closed_at: datetime | None = None
    due_soon_at: datetime | None = None
    overdue_at: datetime | None = None
    reopen_count: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)
    late_rounds: int = 0
    withdrawal_from: str | None = None
    withdrawal_requests: int = 0
    withdrawal_refusals: int = 0
    updated_at: datetime | None = None
    history: list[Step] = field(default_factory=list)
    rating_status: str = "valid"
    rating_status_changed_at: datetime | None = None

    def deadlines_iso(self) -> dict[str, str]:
        return {name: _iso(due) for name, due in self.deadlines.items()}


def _iso(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).isoformat()


def _close_round(order: Order, at: datetime) -> dict[str, Any]:
    """Keep the round that ends at `at` before a reopen, as service.close_round does."""
    resolved = order.resolved_at
    late = resolved > order.resolve_due_at if resolved else at > order.resolve_due_at
    kept = {
        "round": order.reopen_count + 1,
        "started_at": _iso(order.deadline_basis_at),
        "deadlines": order.deadlines_iso(),
        "provisional": order.provisional,
        "resolve_due_at": _iso(order.resolve_due_at),
        **{
            name: _iso(value) if value else None
            for name, value in (
                ("contacted_at", order.contacted_at),
                ("resolved_at", order.resolved_at),
                ("due_soon_at", order.due_soon_at),
                ("overdue_at", order.overdue_at),
            )
        },
        "late": late,
        "ended_at": _iso(at),
        "ended_by": "callback_unsatisfied",
    }
    order.rounds.append(kept)
    order.late_rounds += int(late)
    return kept


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
        what is still unrecorded first, as service.act does."""
        due = order.next_due_at
        if due is None or order.overdue_at is not None:
            return
        last = order.history[-1].at
        detail = {"stage": order.current_stage, "due_at": _iso(due)}
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
        """Take one action at `at` (not taken, _Rest, if `at` is not before now)."""
        if at >= self.now:
            raise _Rest
        self.warn_until(order, at, acting=True)
        facts = states.Facts(
            state=order.state,
            source=order.source,
            real_name=order.real_name,
            extended=order.extended,
            can_extend="complex" in order.policy,
            appeal_from=order.appeal_from,
            appealed_before=order.appealed_before,
            substantiated=order.substantiated,
            withdrawal_from=order.withdrawal_from,
        )
        step = states.apply(
            facts,
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
        before = order.state
        order.state = step.state_after
        if action == "contact":
            order.contacted_at = at
        if action == "verify":
            order.substantiated = substantiated
            data["substantiated"] = substantiated
        if "extend" in effects:
            order.extended = True
        if "resolved" in effects and order.resolved_at is None:
            order.resolved_at = at
        if "appeal" in effects:
            order.appeal_from = before
            order.appealed_before = True
        if "appeal_rejected" in effects:
            order.appeal_from = None
        if "called_back" in effects:
            order.called_back_at = order.called_back_at or at
            order.callback_satisfied = satisfied
            data["satisfied"] = satisfied
        if "reopen" in effects:
            data["round_ended"] = _close_round(order, at)
            order.reopen_count += 1
            order.deadline_basis_at = at
            order.substantiated = None
            order.resolved_at = None
            order.contacted_at = None
            order.due_soon_at = None
            order.overdue_at = None
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
        """Who asked (the loader puts the actor's client and name in), as service._requester."""
        step = next(s for s in reversed(order.history) if s.action == action)
        return {
            "requested_at": _iso(step.at),
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


# Notes as a department writes them (差评 / 12345 complaint).
_NOTES = {
    "contact": ("已电话联系评价人，了解差评原因", "已签收，电话联系来电人了解诉求"),
    "contact_anonymous": ("评价人未留联系方式，已调取窗口监控和办件记录核查",) * 2,
    "verify_real": ("经核实情况属实，已约谈窗口工作人员并制定整改措施", "经核实诉求属实，转入办理"),
    "verify_not": (
        "经核实，窗口按规定办理，所述情况不属实，已向评价人说明政策依据",
        "经核实，窗口按规定办理，诉求不属实，已向来电人解释",
    ),
    "extend": ("涉及跨部门协调，申请按复杂情形延期办理",) * 2,
    "rectify": (
        "已对窗口人员批评教育，优化取号分流，整改完成并向评价人反馈",
        "已办理完毕并向来电人回复办理结果",
    ),
    "callback_yes": ("电话回访，评价人对整改结果表示满意", "回访来电人，对办理结果满意"),
    "callback_no": ("电话回访，评价人仍不满意，重新办理", "回访来电人不满意，退回重办"),
    "close": ("整改完成，办结", "办结"),
    "withdraw": (
        "经解释说明，评价人同意撤回差评（回访录音存档）",
        "经解释说明，来电人撤回诉求（录音存档）",
    ),
    "appeal": (
        "申诉：评价内容与办件记录不符，疑似误评（附窗口监控截图）",
        "申诉：同一号码短时间内多次差评，疑似恶意差评",
    ),
    "uphold": ("经督查核实，系误评/恶意差评，同意核销",) * 2,
    "confirm_withdrawal": ("经核听回访录音，评价人确系自愿撤回，同意撤回",) * 2,
    "refuse_withdrawal": ("回访录音中评价人未明确同意撤回，不予撤回，请继续整改",) * 2,
    "reject": ("证据不足，申诉不予支持，请继续整改",) * 2,
}


def _note(kind: str, source: str) -> str:
    return _NOTES[kind][0 if source == "rating" else 1]


def _withdraw(w: Walker, order: Order, t: datetime) -> bool:
    """The rater agrees to withdraw after an explanation: a 差评's department records the
    callback and asks, and the supervisor confirms (or refuses: then False, work goes on); the
    12345 hotline withdraws a complaint the citizen withdrew there."""
    called_at = w.after(t, 2, 40)
    if order.source == "complaint":
        evidence = {
            "kind": "rater_request",
            "requested_at": _iso(called_at),
            "note": "来电人致电12345撤回投诉",
        }
        w.act(
            order, "withdraw", called_at, HOTLINE, _note("withdraw", "complaint"), evidence=evidence
        )
        return True
    evidence = {
        "kind": "callback",
        "called_at": _iso(called_at),
        "note": "评价人表示理解，同意撤回差评",
        "reference": f"录音-{called_at.astimezone(BUSINESS_TZ):%Y%m%d%H%M}",
    }
    asked = w.after(called_at, 0.2, 3)
    w.act(
        order,
        "request_withdrawal",
        asked,
        DEPARTMENT,
        _note("withdraw", "rating"),
        evidence=evidence,
    )
    decided = w.after(asked, 4, 40)
    if w.rng.random() < SHARES["withdrawal_refused"]:
        w.act(order, "refuse_withdrawal", decided, SUPERVISOR, _note("refuse_withdrawal", "rating"))
        return False
    w.act(order, "confirm_withdrawal", decided, SUPERVISOR, _note("confirm_withdrawal", "rating"))
    return True


def walk(
    walker: Walker, *, source: str, real_name: bool, opened_at: datetime, open_note: str
) -> Order:
    """Open an order and walk it as far as `walker.now` allows."""
    w, rng, share = walker, walker.rng, SHARES
    opener = SYSTEM if source == "rating" else HOTLINE
    order = w.open(
        source=source, real_name=real_name, opened_at=opened_at, actor=opener, note=open_note
    )
    # some orders stall: nobody acts after this state
    stall = rng.random() < share["stall"]
    stall_after = rng.choice(("open", "contacted", "rectifying"))
    try:
        while True:
            if stall and stall_after == "open":
                break
            late = rng.random() < share["late_contact"]
            t = w.by(order.history[-1].at, order.next_due_at, late=late)
            note = _note("contact" if real_name else "contact_anonymous", source)
            w.act(order, "contact", t, DEPARTMENT, note)
            if stall and stall_after == "contacted":
                break
            fate = rng.random()
            if order.reopen_count == 0 and real_name and fate < share["withdraw"]:
                if _withdraw(w, order, t):
                    break
                t = order.history[-1].at
            fate -= share["withdraw"]
            if order.reopen_count == 0 and source == "rating" and 0 <= fate < share["appeal"]:
                t = w.after(t, 2, 30)
                w.act(order, "appeal", t, DEPARTMENT, _note("appeal", source))
                t = w.after(t, 20, 90)
                if rng.random() < share["appeal_upheld"]:
                    w.act(order, "uphold", t, SUPERVISOR, _note("uphold", source))
                    break
                w.act(order, "reject", t, SUPERVISOR, _note("reject", source))
            t = w.after(order.history[-1].at, 1, 30)
            if order.reopen_count == 0 and rng.random() < share["not_substantiated"]:
                w.act(
                    order, "verify", t, DEPARTMENT, _note("verify_not", source), substantiated=False
                )
            else:
                w.act(
                    order, "verify", t, DEPARTMENT, _note("verify_real", source), substantiated=True
                )
                complex_case = rng.random() < share["extend"]
                if complex_case and "complex" in order.policy and not order.extended:
                    t = w.after(t, 1, 20)
                    if t <= order.resolve_due_at:
                        w.act(order, "extend", t, DEPARTMENT, _note("extend", source))
                if stall and stall_after == "rectifying":
                    break
                late = rng.random() < share["late_rectify"]
                t = w.by(order.history[-1].at, order.resolve_due_at, late=late)
                w.act(order, "rectify", t, DEPARTMENT, _note("rectify", source))
            t = w.after(t, 3, 50)
            if order.real_name:
                satisfied = order.reopen_count >= 1 or rng.random() < share["satisfied"]
                kind = "callback_yes" if satisfied else "callback_no"
                w.act(order, "callback", t, DEPARTMENT, _note(kind, source), satisfied=satisfied)
                if not satisfied:
                    continue  # reopened: a new round with fresh deadlines
                t = w.after(t, 1, 24)
            w.act(order, "close", t, DEPARTMENT, _note("close", source))
            break
    except _Rest:
        pass
    w.warn_until(order, walker.now, acting=False)
    return order

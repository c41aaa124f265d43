"""Work-order lifecycles for the demo (pure: no I/O, `now` is a parameter).

Each 差评 or 12345 complaint gets the order the service would open (responsible department,
deadlines by the configured policy counted in working days by the real calendar), then a
plausible sequence of actions, each taken through the real state machine (states.apply) and
applied as the service applies it (app/workorders/actions.act), with the sweeper's due-soon and
overdue warnings where it would have recorded them. Steps that would come after `now` are not
taken: recent orders are still open, and some older ones stall and are overdue. Here: which
path each order takes, when, with what notes; walker.py takes the steps.
"""

from __future__ import annotations

from datetime import datetime

from app.config import BUSINESS_TZ
from app.demo.order import DEPARTMENT, HOTLINE, SUPERVISOR, SYSTEM, Order, Rest, iso
from app.demo.walker import CachedCalendar, Walker

__all__ = ["SHARES", "CachedCalendar", "Walker", "walk"]

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
            "requested_at": iso(called_at),
            "note": "来电人致电12345撤回投诉",
        }
        w.act(
            order, "withdraw", called_at, HOTLINE, _note("withdraw", "complaint"), evidence=evidence
        )
        return True
    evidence = {
        "kind": "callback",
        "called_at": iso(called_at),
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
    except Rest:
        pass
    w.warn_until(order, walker.now, acting=False)
    return order

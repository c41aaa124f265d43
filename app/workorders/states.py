"""The work-order state machine (pure): which action is allowed when, and where it leads.

open → contacted → verified (not substantiated) or rectifying → rectified → called_back → closed,
with the side paths extend, appeal (→ appealed → uphold | reject), withdrawal and transfer. Orders
with nobody to call back (anonymous raters, inspections) close without the callback.

Who may change a rating's fate is decided here too (ROLE_ACTIONS, refusal): only the rater
withdraws a 差评, confirmed on a callback record (a department asks, a supervisor confirms) or by
the rater's own request through the portal it rated on; only a supervisor upholds an appeal.
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = (
    "open",
    "contacted",
    "verified",  # verified and found not substantiated (with an explanation)
    "rectifying",  # verified as real: being rectified
    "rectified",
    "called_back",
    "appealed",
    "withdrawal_requested",  # a department asks a supervisor to confirm the rater's withdrawal
    "closed",
)
ACTIONS = (
    "contact",
    "verify",
    "extend",
    "rectify",
    "callback",
    "close",
    "appeal",
    "uphold",
    "reject",
    "request_withdrawal",
    "confirm_withdrawal",
    "refuse_withdrawal",
    "withdraw",
    "transfer",
)
# Every state but closed: the open orders' queue and counts (indexed: ix_work_order_open).
NOT_CLOSED = tuple(state for state in STATES if state != "closed")
SOURCES = ("rating", "complaint", "inspection")
OUTCOMES = ("rectified", "not_substantiated", "withdrawn", "appeal_upheld")
# Decided by a supervisor (admin key) only.
SUPERVISOR_ACTIONS = frozenset(
    {"uphold", "reject", "confirm_withdrawal", "refuse_withdrawal", "transfer"}
)
# Evidence of the rater's own confirmation: a callback record, or the rater's own request.
EVIDENCE_KINDS = ("callback", "rater_request")
_ANY = frozenset(SOURCES)
_WORK = ("contact", "verify", "extend", "rectify", "callback", "close", "appeal")
# Who may take which action on which kind of order: the one rule behind the 403, each order's
# allowed_actions and the portal's withdrawal. A department works its orders and asks for a
# withdrawal with the rater's confirmation (a 差评's; a 12345 complaint is withdrawn at the
# hotline); `withdraw` itself is the rater's act, relayed with evidence by a supervisor, by the
# hotline that sent the complaint, or by the portal the rater rated on. Readers act on nothing.
ROLE_ACTIONS: dict[str, dict[str, frozenset[str]]] = {
    "admin": {action: _ANY for action in ACTIONS},
    "department": {action: _ANY for action in _WORK}
    | {"request_withdrawal": frozenset({"rating"})},
    "hotline": {"withdraw": frozenset({"complaint"})},
    "portal": {"withdraw": frozenset({"rating"})},
}
# Actions that need the rater's confirmation as evidence.
NEEDS_EVIDENCE = frozenset({"request_withdrawal", "withdraw"})


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules need to know about an order."""

    state: str
    source: str = "rating"
    real_name: bool = False
    extended: bool = False
    can_extend: bool = True  # the policy has a complex-case stage
    appeal_from: str | None = None
    appealed_before: bool = False
    substantiated: bool | None = None
    withdrawal_from: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """The result of an action: the state after it and what else must happen."""

    state_after: str
    effects: frozenset[str] = frozenset()
    outcome: str | None = None


class ActionNotAllowed(Exception):
    def __init__(self, action: str, state: str, allowed: list[str], reason: str | None = None):
        self.action, self.state, self.allowed = action, state, allowed
        super().__init__(reason or f"{action} is not allowed in state {state}")


class MissingInput(Exception):
    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


_OPEN_STATES = ("open", "contacted", "verified", "rectifying", "rectified", "called_back")
# Waiting for a supervisor's decision: the deadline clock keeps running from the state before.
_WAITING = ("appealed", "withdrawal_requested")


def callback_needed(facts: Facts) -> bool:
    """Only a real-name rater or citizen can be called back."""
    return facts.real_name and facts.source in ("rating", "complaint")


def allowed_actions(facts: Facts) -> list[str]:
    """The actions possible in this state, in the order of ACTIONS."""
    s = facts.state
    allowed: set[str] = set()
    if s == "open":
        allowed.add("contact")
    if s == "contacted":
        allowed.add("verify")
    if s == "rectifying":
        allowed.add("rectify")
    if s in ("open", "contacted", "rectifying") and facts.can_extend and not facts.extended:
        allowed.add("extend")
    if s in ("verified", "rectified"):
        allowed.add("callback" if callback_needed(facts) else "close")
    if s == "called_back":
        allowed.add("close")
    if (
        s in ("open", "contacted", "verified", "rectifying")
        and facts.source == "rating"
        and not facts.appealed_before
    ):
        allowed.add("appeal")
    if s == "appealed":
        allowed |= {"uphold", "reject"}
    # Only a real-name rater can be called back to confirm a withdrawal.
    if s in _OPEN_STATES and facts.source == "rating" and facts.real_name:
        allowed.add("request_withdrawal")
    if s == "withdrawal_requested":
        allowed |= {"confirm_withdrawal", "refuse_withdrawal"}
    if s in (*_OPEN_STATES, "withdrawal_requested") and facts.source in ("rating", "complaint"):
        allowed.add("withdraw")
    if s in _OPEN_STATES:
        allowed.add("transfer")
    return [a for a in ACTIONS if a in allowed]


def may_take(role: str | None, action: str, source: str | None = None) -> bool:
    """Whether a key of this role may take this action on this kind of order (any kind when
    `source` is None), in some state."""
    sources = ROLE_ACTIONS.get(role or "", {}).get(action)
    return sources is not None and (source is None or source in sources)


def allowed_for(facts: Facts, role: str | None) -> list[str]:
    """The actions possible in this state that a key of this role may take."""
    return [a for a in allowed_actions(facts) if may_take(role, a, facts.source)]


_CALLBACK_EVIDENCE = (
    '{"action": "request_withdrawal", "evidence": {"kind": "callback", "called_at": "<when the '
    'rater was called>", "note": "<what the rater said>"}}'
)


def refusal(role: str | None, action: str, source: str) -> str | None:
    """Why a key of this role may not take this action on this kind of order (None: it may)."""
    if may_take(role, action, source):
        return None
    if action in ("withdraw", "request_withdrawal") and role == "department":
        if source == "complaint":
            return (
                "A 12345 complaint is withdrawn by the hotline that sent it, when the citizen "
                "withdraws the complaint there; a department cannot withdraw it"
            )
        return (
            "A withdrawal needs the rater's confirmation: a department cannot withdraw a 差评. "
            f"Record the rater's confirmation with {_CALLBACK_EVIDENCE} for a supervisor to "
            "confirm, or the rater withdraws it through the portal it was rated on "
            "(POST /v1/ratings/{id}/withdraw)"
        )
    if action in SUPERVISOR_ACTIONS:
        return f"{action} is decided by a supervisor (admin key)"
    if may_take(role, action):
        return f"Role {role} cannot {action} {source} work orders"
    return f"Role {role} cannot {action} work orders"


def apply(
    facts: Facts,
    action: str,
    *,
    note: str | None = None,
    substantiated: bool | None = None,
    satisfied: bool | None = None,
    evidence: dict | None = None,
) -> Step:
    """Where `action` leads from `facts.state`; ActionNotAllowed or MissingInput otherwise."""
    if action not in ACTIONS:
        raise ActionNotAllowed(action, facts.state, allowed_actions(facts), f"unknown {action}")
    allowed = allowed_actions(facts)
    if action not in allowed:
        raise ActionNotAllowed(action, facts.state, allowed)
    if action in ("extend", "appeal", "uphold", "reject", "transfer", "rectify") and not note:
        raise MissingInput("note", f"{action} needs a note (the reason, or what was done)")
    if action == "refuse_withdrawal" and not note:
        raise MissingInput("note", "refuse_withdrawal needs a note (why it is refused)")
    if action in NEEDS_EVIDENCE and not evidence:
        raise MissingInput(
            "evidence",
            f"{action} needs the rater's confirmation: a callback record (kind callback, "
            "called_at, note) or the rater's own request (kind rater_request, requested_at, note)",
        )
    s = facts.state
    match action:
        case "contact":
            return Step("contacted")
        case "verify":
            if substantiated is None:
                raise MissingInput("substantiated", "say whether the problem is real")
            if substantiated:
                return Step("rectifying")
            if not note:
                raise MissingInput("note", "a review found not substantiated needs an explanation")
            return Step("verified", frozenset({"resolved"}), "not_substantiated")
        case "extend":
            return Step(s, frozenset({"extend"}))
        case "rectify":
            return Step("rectified", frozenset({"resolved"}), "rectified")
        case "callback":
            if satisfied is None:
                raise MissingInput("satisfied", "say whether the rater is satisfied")
            if satisfied:
                return Step("called_back", frozenset({"called_back"}))
            # Still unsatisfied: start again with fresh deadlines.
            return Step("open", frozenset({"called_back", "reopen"}))
        case "close":
            outcome = "not_substantiated" if facts.substantiated is False else "rectified"
            return Step("closed", frozenset({"close"}), outcome)
        case "appeal":
            return Step("appealed", frozenset({"appeal"}))
        case "uphold":
            return Step(
                "closed",
                frozenset({"close", "resolved", "invalidate_rating"}),
                "appeal_upheld",
            )
        case "reject":
            return Step(facts.appeal_from or "open", frozenset({"appeal_rejected"}))
        case "request_withdrawal":
            return Step("withdrawal_requested", frozenset({"withdrawal_requested"}))
        case "refuse_withdrawal":
            return Step(facts.withdrawal_from or "open", frozenset({"withdrawal_refused"}))
        case "withdraw" | "confirm_withdrawal":
            effects = {"close", "resolved"}
            if facts.source == "rating":
                effects.add("withdraw_rating")
            return Step("closed", frozenset(effects), "withdrawn")
        case "transfer":
            return Step(s, frozenset({"transfer"}))
    raise AssertionError(action)  # pragma: no cover


def current_stage(
    state: str,
    *,
    extended: bool,
    stages: tuple[str, ...],
    appeal_from: str | None = None,
    withdrawal_from: str | None = None,
) -> str | None:
    """The stage whose deadline the order is working against now (None: no deadline pending)."""
    if state in _WAITING:
        # The clock keeps running while a supervisor decides: a rejected appeal or a refused
        # withdrawal is no excuse for lateness.
        state = (appeal_from if state == "appealed" else withdrawal_from) or "open"
    resolution = "complex" if extended and "complex" in stages else "rectify"
    if state == "open":
        return "contact" if "contact" in stages else resolution
    if state in ("contacted", "rectifying"):
        return resolution
    return None

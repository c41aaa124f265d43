"""The work-order state machine (pure): which action is allowed when, and where it leads.

open → contacted → verified (not substantiated) or rectifying → rectified → called_back → closed,
with the side paths extend, appeal (→ appealed → uphold | reject), withdraw and transfer. Orders
with nobody to call back (anonymous raters, inspections) close without the callback.
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
    "withdraw",
    "transfer",
)
# Decided by a supervisor (admin key) only.
SUPERVISOR_ACTIONS = frozenset({"uphold", "reject", "transfer"})
# Who may take which action: the one rule behind both the 403 and each order's allowed_actions.
# Any other role (hotline, reader, ...) may read what it is shown but act on nothing.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "department": frozenset(ACTIONS) - SUPERVISOR_ACTIONS,
}
SOURCES = ("rating", "complaint", "inspection")
OUTCOMES = ("rectified", "not_substantiated", "withdrawn", "appeal_upheld")


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
    if s in _OPEN_STATES and facts.source in ("rating", "complaint"):
        allowed.add("withdraw")
    if s in _OPEN_STATES:
        allowed.add("transfer")
    return [a for a in ACTIONS if a in allowed]


def may_take(role: str | None, action: str) -> bool:
    """Whether a key of this role may take this action at all (in some state)."""
    return action in ROLE_ACTIONS.get(role or "", frozenset())


def allowed_for(facts: Facts, role: str | None) -> list[str]:
    """The actions possible in this state that a key of this role may take."""
    return [a for a in allowed_actions(facts) if may_take(role, a)]


def apply(
    facts: Facts,
    action: str,
    *,
    note: str | None = None,
    substantiated: bool | None = None,
    satisfied: bool | None = None,
) -> Step:
    """Where `action` leads from `facts.state`; ActionNotAllowed or MissingInput otherwise."""
    if action not in ACTIONS:
        raise ActionNotAllowed(action, facts.state, allowed_actions(facts), f"unknown {action}")
    allowed = allowed_actions(facts)
    if action not in allowed:
        raise ActionNotAllowed(action, facts.state, allowed)
    if action in ("extend", "appeal", "uphold", "reject", "transfer", "rectify") and not note:
        raise MissingInput("note", f"{action} needs a note (the reason, or what was done)")
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
        case "withdraw":
            effects = {"close", "resolved"}
            if facts.source == "rating":
                effects.add("withdraw_rating")
            return Step("closed", frozenset(effects), "withdrawn")
        case "transfer":
            return Step(s, frozenset({"transfer"}))
    raise AssertionError(action)  # pragma: no cover


def current_stage(
    state: str, *, extended: bool, stages: tuple[str, ...], appeal_from: str | None = None
) -> str | None:
    """The stage whose deadline the order is working against now (None: no deadline pending)."""
    if state == "appealed":
        # The clock keeps running during an appeal: a rejected appeal is no excuse for lateness.
        state = appeal_from or "open"
    resolution = "complex" if extended and "complex" in stages else "rectify"
    if state == "open":
        return "contact" if "contact" in stages else resolution
    if state in ("contacted", "rectifying"):
        return resolution
    return None

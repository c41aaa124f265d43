"""The INSERT of new ratings with their integrity flags (flags.py), and its parameters."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.audit import service as audit
from app.auth.service import Principal
from app.config import BUSINESS_TZ, IntegritySettings
from app.db import driver_connection, positional
from app.ratings import flags, rules
from app.ratings.flag_sql import FLAG_SQL, FLAG_SQL_MANY, GOES_ON
from app.ratings.outcomes import Accepted

# The event's values as the INSERT reads them (`u.<name>`), with their PostgreSQL types.
_EVENT_COLUMNS = (
    ("event_id", "text"),
    ("payload_hash", "bytea"),
    ("channel", "text"),
    ("department_code", "text"),
    ("window_no", "text"),
    ("staff_id", "text"),
    ("case_no", "text"),
    ("service_item_code", "text"),
    ("service_item_name", "text"),
    ("level", "smallint"),
    ("tags", "text"),
    ("comment", "text"),
    ("comment_hash", "bytea"),
    ("rater_type", "text"),
    ("rater_name", "text"),
    ("rater_phone", "text"),
    ("rater_phone_hash", "bytea"),
    ("rated_at", "timestamptz"),
    ("assess_number", "smallint"),
    ("historical", "boolean"),
    ("fast", "boolean"),
    ("phone_prior", "integer"),
    ("burst_prior", "integer"),
    ("bare_prior", "integer"),
    ("share_prior", "integer"),
    ("day_start", "timestamptz"),
)
_EVENT_NAMES = ", ".join(name for name, _ in _EVENT_COLUMNS)
# Many events arrive as one array per column; one event as one row of scalars. A single event
# gets its own statement: PostgreSQL plans the unnest form afresh on every execution (0.8 ms),
# the one-row form once per connection. Once: behind OFFSET 0 the event's values are columns
# of a subquery, not constants the planner folds into the rest. Without that, a custom plan
# (one for the event's own values, dropping the rules that cannot apply to it) always costs
# less than the generic one, whose probes are all there though unused; so PostgreSQL planned
# the statement afresh on every execution: 0.3 ms of its 0.5 ms.
_MANY = "unnest({}) AS u({})".format(
    ", ".join(f"CAST(:{name} AS {type_}[])" for name, type_ in _EVENT_COLUMNS), _EVENT_NAMES
)
ONE_EVENT = "(SELECT * FROM (VALUES ({})) AS v({}) OFFSET 0) AS u".format(
    ", ".join(f"CAST(:{name} AS {type_})" for name, type_ in _EVENT_COLUMNS), _EVENT_NAMES
)

_INSERT = """
    INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code, window_no,
                        staff_id, case_no, service_item_code, service_item_name, level, tags,
                        comment, comment_hash, rater_type, rater_name, rater_phone,
                        rater_phone_hash, rated_at, assess_number, historical, flags, received_at)
    SELECT CAST(:client_id AS uuid), u.event_id, u.payload_hash, u.channel, u.department_code,
           u.window_no, u.staff_id, u.case_no, u.service_item_code, u.service_item_name, u.level,
           string_to_array(u.tags, ','), u.comment, u.comment_hash, u.rater_type, u.rater_name,
           u.rater_phone, u.rater_phone_hash, u.rated_at, u.assess_number, u.historical,
           __FLAGS__,
           -- received at the app's clock (app/clock.py): deadlines and the outbox count from it
           CAST(:received_at AS timestamptz)
      FROM __EVENTS__
      JOIN department d ON d.code = u.department_code AND d.active
     WHERE __STORABLE__ __WHERE__ __ORDER__
    -- any unique index: (client_id, event_id), and one follow-up per case (rules.storable)
    ON CONFLICT DO NOTHING
    RETURNING id, event_id, received_at, status, flags
"""


class Shape(NamedTuple):
    """What the INSERT must check for a request's events: the flag rules that can apply to one
    of them, and the posting rules' database checks (rules.py). PostgreSQL sets up every
    subquery of a statement on each execution, run or not; a rule left out is one that would
    have given NULL (or true) for every event."""

    flags: tuple[str, ...]
    window: bool  # a window to check against the register
    follow_up: bool  # a follow-up rating to check against its first
    one_scan: bool = True  # bare_burst and source_share in one scan each (FLAG_SQL_MANY)
    # A flood's single event: stored only if both flood rules go on (flag_sql.GOES_ON), else
    # not at all, and then the two-scan form decides (`whole`)
    continued: bool = False

    def whole(self) -> Shape:
        """The form that stores whatever the rules say (a `continued` one's fallback)."""
        return self._replace(continued=False)


# (client, department) pairs whose latest single rating stored by this process had the
# bare_burst or source_share flag: a flood going on, whose next single rating takes the
# continued form, else the two-scan form (a batch always takes the one-scan form, and leaves
# the hint as it was).
_FLOODING: set[tuple[Any, str]] = set()


def note_flags(client_id: Any, department_code: str, stored_flags: list[str] | None) -> None:
    """What a stored rating's flags say of its client's traffic to its department."""
    key = (client_id, department_code)
    if stored_flags and ("bare_burst" in stored_flags or "source_share" in stored_flags):
        if len(_FLOODING) >= 10_000:
            _FLOODING.clear()
        _FLOODING.add(key)
    elif _FLOODING:
        _FLOODING.discard(key)


def shape(principal: Principal, rows: list[dict[str, Any]], integrity: IntegritySettings) -> Shape:
    device = principal.role == "device"
    phone = burst = bare = window = follow_up = False
    for row in rows:  # one pass, no generators: this runs for every single POST
        phone = phone or row["rater_phone_hash"] is not None
        burst = burst or flags.burst_eligible(row)
        bare = bare or flags.bare(row)
        window = window or row["window_no"] is not None
        follow_up = follow_up or row["assess_number"] == 2
    return _shape(
        device and integrity.device_seconds > 0,
        phone,
        burst,
        bare,
        window and not device,
        follow_up,
        len(rows) == 1 and (principal.client_id, rows[0]["department_code"]) in _FLOODING,
    )


@functools.cache
def _shape(
    device: bool,
    phone: bool,
    burst: bool,
    bare: bool,
    window: bool,
    follow_up: bool,
    flood: bool,
) -> Shape:
    needed = {
        "rapid_device": device,
        "repeat_phone": phone,
        "identical_burst": burst,
        "bare_burst": bare,
        "source_share": True,
    }
    names = tuple(name for name in FLAG_SQL if needed[name])
    return Shape(names, window, follow_up, one_scan=not flood, continued=flood)


@functools.cache
def insert_sql(of: Shape, events: str, where: str = "") -> str:
    """The INSERT for events of this shape; `events` is ONE_EVENT or the arrays' form."""
    flag_rules = FLAG_SQL_MANY if of.one_scan else FLAG_SQL
    storable = rules.storable(window=of.window, follow_up=of.follow_up)
    if of.continued:  # the flood rules' flags hold where the event is stored at all
        flag_rules = {**flag_rules, **{name: f"'{name}'" for name in GOES_ON}}
        storable = " AND ".join(
            [storable, *(GOES_ON[name] for name in of.flags if name in GOES_ON)]
        )
    checks = ",\n".join(flag_rules[name] for name in of.flags)
    flag_sql = f"nullif(array_remove(ARRAY[\n{checks}], NULL), '{{}}')" if checks else "NULL"
    return (
        _INSERT.replace("__FLAGS__", flag_sql)
        .replace("__STORABLE__", storable)
        .replace("__EVENTS__", events)
        .replace("__WHERE__", where)
        # one lock order for every batch, so that racing batches cannot deadlock (one event
        # needs none: its Sort node would cost a few µs on every single-event POST)
        .replace("__ORDER__", "" if events == ONE_EVENT else "ORDER BY u.event_id")
    )


@functools.cache
def _statement(of: Shape, many: bool) -> tuple[str, tuple[str, ...]]:
    return positional(insert_sql(of, _MANY if many else ONE_EVENT))


_COLUMNS = (
    "event_id",
    "channel",
    "department_code",
    "window_no",
    "staff_id",
    "case_no",
    "service_item_code",
    "service_item_name",
    "level",
    "comment",
    "rater_type",
    "rated_at",
    "assess_number",
    "historical",
)


async def insert(
    session: AsyncSession,
    principal: Principal,
    items: list[Accepted],
    *,
    integrity: IntegritySettings,
) -> dict[str, dict[str, Any]]:
    """Store accepted events (those the INSERT's conditions let through); by event_id."""
    if not items:
        return {}
    # The hot statement goes straight to the driver (see app.db.driver_connection).
    driver = await driver_connection(session)
    params = insert_params(principal, items, integrity)
    of = shape(principal, [i.values for i in items], integrity)
    sql, names = _statement(of, len(items) > 1)
    result = await driver.fetch(sql, *[params[name] for name in names])
    if not result and of.continued:  # the flood stopped (or a retry, an unknown department)
        sql, names = _statement(of.whole(), False)
        result = await driver.fetch(sql, *[params[name] for name in names])
    audit.count_change("rating", len(result))
    stored = {row["event_id"]: dict(row) for row in result}
    if len(items) == 1 and stored:  # only a single event's statement takes the hint
        note_flags(principal.client_id, items[0].values["department_code"], result[0]["flags"])
    return stored


# The rules' parameters by the thresholds' identity (one IntegritySettings per app's settings).
_RULE_PARAMS: dict[tuple[int, bool], tuple[IntegritySettings, dict[str, Any]]] = {}


def _rule_params(integrity: IntegritySettings, device: bool) -> dict[str, Any]:
    cached = _RULE_PARAMS.get((id(integrity), device))
    if cached is None or cached[0] is not integrity:
        cached = _RULE_PARAMS[(id(integrity), device)] = (
            integrity,
            _compute_rule_params(integrity, device),
        )
    return cached[1]


def _compute_rule_params(rules: IntegritySettings, device: bool) -> dict[str, Any]:
    return {
        "is_device": device and rules.device_seconds > 0,
        "placed": device,
        "device_gap": timedelta(seconds=rules.device_seconds),
        "phone_limit": rules.phone_daily_limit,
        "burst_gap": timedelta(seconds=rules.burst_seconds),
        "burst_count": rules.burst_count,
        "bare_gap": timedelta(seconds=rules.bare_burst_seconds),
        "bare_count": rules.bare_burst_count,
        "share_gap": timedelta(seconds=rules.share_seconds),
        "share_sample": rules.share_sample,
        "share_needed": rules.share_needed,
    }


def insert_params(
    principal: Principal, items: list[Accepted], integrity: IntegritySettings
) -> dict[str, Any]:
    """The INSERT's parameters: for one event one scalar each, for several one array each."""
    ring = privacy.keyring()
    for item in items:
        item.values["rater_phone_hash"] = ring.phone_hash(item.values["rater_phone"])
    if len(items) == 1:  # nothing earlier in the request to count (the direct path's case)
        params = _event_params(items[0], ring, _NO_PRIORS)
    else:
        priors = flags.batch_priors(
            [i.values for i in items],
            device=principal.role == "device",
            settings=integrity,
        )
        params = _batch_params(items, ring, priors)
    params["client_id"] = principal.client_id
    params["received_at"] = items[0].values["received_at"]  # one request, one `now`
    params.update(_rule_params(integrity, principal.role == "device"))
    return params


_NO_PRIORS = flags.Priors(False, 0, 0, 0, 0)
# The INSERT's names for flags.Priors' fields, in their order.
_PRIOR_COLUMNS = ("fast", "phone_prior", "burst_prior", "bare_prior", "share_prior")


def _event_params(item: Accepted, ring: privacy.Keyring, priors: flags.Priors) -> dict[str, Any]:
    """One event's values as the INSERT reads them (`u.<name>`), personal data sealed."""
    values = item.values
    params = {name: values[name] for name in _COLUMNS}
    params.update(
        tags=",".join(values["tags"]),
        payload_hash=item.payload_hash,
        rater_name=ring.encrypt(values["rater_name"], "rating.rater_name"),
        rater_phone=ring.encrypt(values["rater_phone"], "rating.rater_phone"),
        # The comment is free text that may hold a phone or a name (µs per commented event).
        comment=ring.seal_text(values["comment"], "rating.comment"),
        comment_hash=ring.text_digest(values["comment"]),
        rater_phone_hash=values["rater_phone_hash"],
        # the Beijing day's start, for the repeat_phone rule (phones only: 1.5 µs an event)
        day_start=None
        if values["rater_phone_hash"] is None
        else _local_day_start(values["rated_at"]),
    )
    params.update(zip(_PRIOR_COLUMNS, priors, strict=True))
    return params


def _batch_params(
    items: list[Accepted], ring: privacy.Keyring, priors: flags.Priors
) -> dict[str, list[Any]]:
    """What _event_params makes of each event, as one array per column (built column by
    column: a dict per event, then transposed, cost five times as much for plain events)."""
    rows = [item.values for item in items]
    params: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in _COLUMNS}
    phone_hashes = params["rater_phone_hash"] = [row["rater_phone_hash"] for row in rows]
    params.update(
        tags=[",".join(row["tags"]) for row in rows],
        payload_hash=[item.payload_hash for item in items],
        rater_name=[ring.encrypt(row["rater_name"], "rating.rater_name") for row in rows],
        rater_phone=[ring.encrypt(row["rater_phone"], "rating.rater_phone") for row in rows],
        comment=[ring.seal_text(row["comment"], "rating.comment") for row in rows],
        comment_hash=[ring.text_digest(row["comment"]) for row in rows],
        day_start=[
            None if phone is None else _local_day_start(row["rated_at"])
            for row, phone in zip(rows, phone_hashes, strict=True)
        ],
    )
    params.update(zip(_PRIOR_COLUMNS, priors, strict=True))
    return params


def _local_day_start(instant: datetime) -> datetime:
    local = instant.astimezone(BUSINESS_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)

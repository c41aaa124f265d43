"""Working-day arithmetic (pure, no database) and the calendar endpoints."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import BUSINESS_TZ
from app.workorders.calendar import (
    WorkCalendar,
    YearArrangement,
    end_of_day,
    package_arrangement,
    package_knows,
)
from app.workorders.deadlines import DEFAULT_POLICY, DeadlinePolicy
from tests.fixtures.factories import auth, make_key

CAL = WorkCalendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def brute_force(cal: WorkCalendar, received_at: datetime, days: int) -> date:
    """The nth working day after the day of receipt, by walking the days one by one."""
    day = received_at.astimezone(BUSINESS_TZ).date()
    found = []
    while len(found) < days:
        day += timedelta(days=1)
        if cal.is_workday(day):
            found.append(day)
    return found[-1]


# --- the package's years -------------------------------------------------------------------------


def test_every_day_of_the_package_years_matches_the_package():
    for year in range(2004, 2027):
        assert package_knows(year)
        day = date(year, 1, 1)
        while day.year == year:
            assert CAL.is_workday(day) == chinese_calendar.is_workday(day), day
            day += timedelta(days=1)
    assert not package_knows(2027)


def test_package_arrangement_round_trips_as_an_entered_year():
    for year in (2019, 2020, 2024, 2026):
        arrangement = package_arrangement(year)
        entered = WorkCalendar([arrangement], use_package=False)
        day = date(year, 1, 1)
        while day.year == year:
            assert entered.is_workday(day) == chinese_calendar.is_workday(day), day
            day += timedelta(days=1)


# --- the cases the issue names ---------------------------------------------------------------


def test_national_day_2026_counts_the_makeup_saturday():
    # 16:40 on the day before the holiday: day 1 is Thu 8 Oct, day 3 the makeup Saturday 10 Oct.
    deadline = CAL.add_working_days(at("2026-09-30T16:40:00+08:00"), 3)
    assert deadline.due_at == at("2026-10-11T00:00:00+08:00")
    assert not deadline.provisional
    assert CAL.is_workday(date(2026, 10, 10)) and date(2026, 10, 10).weekday() == 5
    assert CAL.add_working_days(at("2026-09-30T16:40:00+08:00"), 5).due_at == at(
        "2026-10-14T00:00:00+08:00"
    )
    assert CAL.add_working_days(at("2026-09-30T16:40:00+08:00"), 1).due_at == at(
        "2026-10-09T00:00:00+08:00"
    )


def test_spring_festival_2026():
    # Friday 13 Feb; Saturday 14 Feb is a makeup workday; 15–23 Feb are off.
    received = at("2026-02-13T10:00:00+08:00")
    assert CAL.add_working_days(received, 1).due_at == at("2026-02-15T00:00:00+08:00")
    assert CAL.add_working_days(received, 2).due_at == at("2026-02-25T00:00:00+08:00")
    assert CAL.add_working_days(received, 3).due_at == at("2026-02-26T00:00:00+08:00")
    # Received during the holiday: the count starts on the first day back.
    assert CAL.add_working_days(at("2026-02-18T09:00:00+08:00"), 1).due_at == at(
        "2026-02-25T00:00:00+08:00"
    )
    # 28 Feb (Saturday) is worked too.
    assert CAL.add_working_days(at("2026-02-26T09:00:00+08:00"), 2).due_at == at(
        "2026-03-01T00:00:00+08:00"
    )


def test_year_end_into_an_unknown_year_is_provisional_monday_to_friday():
    received = at("2026-12-30T11:00:00+08:00")
    deadline = CAL.add_working_days(received, 3)
    # 31 Dec (Thu), 1 Jan 2027 (Fri, assumed worked), 4 Jan (Mon).
    assert deadline.due_at == at("2027-01-05T00:00:00+08:00")
    assert deadline.provisional
    # Within 2026 it is certain.
    assert not CAL.add_working_days(received, 1).provisional
    # Once 2027 is entered (1–3 Jan off), the same count is certain and later.
    entered = WorkCalendar([YearArrangement(2027, frozenset({date(2027, 1, 1)}))])
    again = entered.add_working_days(received, 3)
    assert again.due_at == at("2027-01-06T00:00:00+08:00") and not again.provisional
    # An unknown year never raises, however far away.
    assert CAL.add_working_days(at("2031-06-01T12:00:00+08:00"), 15).provisional


def test_weekend_in_unknown_year_is_still_provisional():
    # Sat 2 Jan 2027 might be a makeup workday: even a count that skips it is uncertain.
    deadline = CAL.add_working_days(at("2026-12-31T09:00:00+08:00"), 1)
    assert deadline.due_at == at("2027-01-02T00:00:00+08:00") and deadline.provisional


def test_entered_year_overrides_the_package():
    # An administrator corrects 2026: 9 Oct is off and Sunday 11 Oct worked instead.
    fix = YearArrangement(
        2026,
        frozenset(package_arrangement(2026).holidays | {date(2026, 10, 9)}),
        frozenset(package_arrangement(2026).workdays | {date(2026, 10, 11)}),
    )
    cal = WorkCalendar([fix])
    assert cal.source(2026) == "entered" and CAL.source(2026) == "package"
    assert CAL.source(2027) == "none"
    assert cal.add_working_days(at("2026-09-30T16:40:00+08:00"), 3).due_at == at(
        "2026-10-12T00:00:00+08:00"
    )


# --- the receipt-day rule and time zones ------------------------------------------------------


def test_receipt_day_never_counts_whatever_the_hour():
    for clock in ("00:00:00", "00:01:00", "12:00:00", "23:59:59"):
        deadline = CAL.add_working_days(at(f"2026-03-02T{clock}+08:00"), 1)  # a Monday
        assert deadline.due_at == at("2026-03-04T00:00:00+08:00"), clock


def test_the_day_is_the_day_in_beijing():
    # 17:00 UTC on 30 Sep is 01:00 on 1 Oct in Beijing: received on the holiday.
    received = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    assert CAL.add_working_days(received, 1).due_at == at("2026-10-09T00:00:00+08:00")
    # 15:59 UTC on 30 Sep is still 30 Sep in Beijing.
    received = datetime(2026, 9, 30, 15, 59, tzinfo=UTC)
    assert CAL.add_working_days(received, 1).due_at == at("2026-10-09T00:00:00+08:00")
    assert CAL.add_working_days(received, 3).due_at.utcoffset() == timedelta(hours=8)


def test_receipt_on_a_weekend_or_holiday():
    # Saturday 7 Mar 2026: Monday is day 1.
    assert CAL.add_working_days(at("2026-03-07T10:00:00+08:00"), 1).due_at == at(
        "2026-03-10T00:00:00+08:00"
    )


def test_bad_arguments():
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2026, 1, 5, 10), 1)
    with pytest.raises(ValueError):
        CAL.add_working_days(at("2026-01-05T10:00:00+08:00"), 0)
    with pytest.raises(ValueError):
        YearArrangement(2027, frozenset({date(2026, 12, 31)}))
    with pytest.raises(ValueError):
        YearArrangement(2027, frozenset({date(2027, 1, 2)}), frozenset({date(2027, 1, 2)}))


def test_end_of_day_is_midnight_in_beijing():
    assert end_of_day(date(2026, 12, 31)) == at("2027-01-01T00:00:00+08:00")


def test_due_soon_limit_is_one_working_day_ahead():
    # Friday 18 Sep 2026: the next working day is Sunday 20 Sep (a makeup day for National Day).
    assert CAL.due_soon_limit(at("2026-09-18T10:00:00+08:00")) == at("2026-09-21T00:00:00+08:00")


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2028, 12, 1)),
    st.integers(min_value=1, max_value=30),
)
def test_matches_walking_day_by_day(naive: datetime, days: int):
    received = naive.replace(tzinfo=BUSINESS_TZ)
    deadline = CAL.add_working_days(received, days)
    assert deadline.due_at == end_of_day(brute_force(CAL, received, days))
    last = deadline.due_at.date() - timedelta(days=1)
    first = received.date() + timedelta(days=1)
    assert deadline.provisional == any(
        not package_knows(y) for y in range(first.year, last.year + 1)
    )
    assert deadline.due_at > received


# --- the policy ---------------------------------------------------------------------------------


def test_default_policy_3_5_15():
    policy = DeadlinePolicy.parse(DEFAULT_POLICY)
    deadlines, provisional = policy.deadlines(CAL, at("2026-09-30T16:40:00+08:00"))
    assert deadlines == {
        "contact": at("2026-10-11T00:00:00+08:00"),
        "rectify": at("2026-10-14T00:00:00+08:00"),
        "complex": at("2026-10-28T00:00:00+08:00"),
    }
    assert not provisional


def test_other_regions_policies():
    assert DeadlinePolicy.parse({"rectify": 15}).as_dict() == {"rectify": 15}
    shanghai = DeadlinePolicy.parse({"complex": 15, "contact": 1, "rectify": 5})
    assert [name for name, _ in shanghai.stages] == ["contact", "rectify", "complex"]
    for bad in (
        {"contact": 3},
        {"rectify": 0},
        {"rectify": 5, "complex": 5},
        {"rectify": 5, "call": 1},
        {"rectify": True},
        {"rectify": 2, "contact": 3},
    ):
        with pytest.raises(ValueError):
            DeadlinePolicy.parse(bad)


# --- endpoints ---------------------------------------------------------------------------------


async def test_calendar_endpoints(client, admin, app):
    r = await client.get("/v1/calendar/2026", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "package" and body["provisional"] is False
    assert "2026-10-10" in body["workdays"] and "2026-10-01" in body["holidays"]

    r = await client.get("/v1/calendar/2027", headers=admin)
    assert r.json()["source"] == "none" and r.json()["provisional"] is True

    arrangement = {"holidays": ["2027-01-01"], "workdays": [], "note": "国办发明电〔2026〕"}
    reader = auth(await make_key(app, "reader"))
    r = await client.put("/v1/calendar/2027", json=arrangement, headers=reader)
    assert r.status_code == 403
    r = await client.put("/v1/calendar/2027", json=arrangement, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "entered" and r.json()["holidays"] == ["2027-01-01"]
    r = await client.get("/v1/calendar/2027", headers=reader)
    assert r.json()["source"] == "entered" and r.json()["provisional"] is False

    for bad in (
        {"holidays": ["2026-12-31"], "workdays": []},
        {"holidays": ["2027-01-02"], "workdays": ["2027-01-02"]},
        {"holidays": [], "workdays": [], "extra": 1},
    ):
        r = await client.put("/v1/calendar/2027", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    r = await client.put("/v1/calendar/1999", json=arrangement, headers=admin)
    assert r.status_code == 422

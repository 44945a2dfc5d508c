"""Tests for the working calendar and time limits, against a brute-force reference."""

from datetime import UTC, date, datetime, time, timedelta
from functools import cache

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.timekeeping import (
    WorkingCalendar,
    WorkingHours,
    add_working_time,
    classify,
    due_time,
    format_span,
    now,
    time_left,
    working_time_between,
)

H = timedelta(hours=1)
DAY = timedelta(hours=7.5)  # one default working day

CAL = WorkingCalendar()


# --- brute-force reference ------------------------------------------------------------
# Walks the clock one unit (a minute or a second) at a time and asks only cal.is_workday
# and the configured periods whether that unit is working time: slow but plainly right.


@cache
def _day_mask(hours: WorkingHours, units_per_day: int) -> tuple[bool, ...]:
    """Return, for each unit of a day, whether it lies inside a working period."""
    unit = timedelta(days=1) / units_per_day
    mask = []
    for i in range(units_per_day):
        t = (datetime.min + i * unit).time()
        mask.append(any(start <= t < end for start, end in hours.periods))
    return tuple(mask)


def _units(td: timedelta, units_per_day: int) -> int:
    """Return td as a whole number of units."""
    unit = timedelta(days=1) / units_per_day
    assert td % unit == timedelta(), "reference works in whole units only"
    return td // unit


def ref_add(cal, start, delta, units_per_day=1440):
    """Walk unit by unit from start until delta of working units have been counted."""
    mask = _day_mask(cal.hours, units_per_day)
    unit = timedelta(days=1) / units_per_day
    needed = _units(delta, units_per_day)
    day = start.date()
    i = _units(start - datetime.combine(day, time()), units_per_day)
    workday = cal.is_workday(day)
    counted = 0
    while counted < needed:
        if workday and mask[i]:
            counted += 1
        i += 1
        if i == units_per_day:
            day += timedelta(days=1)
            i = 0
            workday = cal.is_workday(day)
    return datetime.combine(day, time()) + i * unit


def ref_between(cal, a, b, units_per_day=1440):
    """Count the working units in [a, b) one by one (a <= b)."""
    mask = _day_mask(cal.hours, units_per_day)
    unit = timedelta(days=1) / units_per_day
    day = a.date()
    i = _units(a - datetime.combine(day, time()), units_per_day)
    n = _units(b - a, units_per_day)
    workday = cal.is_workday(day)
    counted = 0
    for _ in range(n):
        if workday and mask[i]:
            counted += 1
        i += 1
        if i == units_per_day:
            day += timedelta(days=1)
            i = 0
            workday = cal.is_workday(day)
    return counted * unit


# --- calendars and strategies for the property tests ----------------------------------


def _flipped_every(n: int) -> dict[date, bool]:
    """Return overrides flipping every n-th day of 2025–2027 against the package."""
    day, overrides = date(2025, 1, 1), {}
    while day < date(2028, 1, 1):
        overrides[day] = not CAL.is_workday(day)
        day += timedelta(days=n)
    return overrides


# Odd hours on purpose: one period from midnight, two touching, one ending at 23:59.
ODD_HOURS = WorkingHours(
    [
        (time(19, 0), time(23, 59)),
        (time(0, 0), time(1, 0)),
        (time(9, 0), time(12, 0)),
        (time(12, 0), time(12, 30)),
    ]
)
CALENDARS = [
    CAL,
    WorkingCalendar(overrides=_flipped_every(5)),
    WorkingCalendar(hours=ODD_HOURS, overrides=_flipped_every(11)),
]
# Boundaries with seconds, for the second-resolution test.
SECOND_HOURS = WorkingHours(
    [
        (time(8, 30, 15), time(11, 59, 45)),
        (time(13, 0), time(13, 0, 7)),
        (time(14, 0), time(18, 0, 30)),
    ]
)

calendars = st.sampled_from(CALENDARS)
days = st.integers(0, 2 * 365 - 1).map(
    lambda d: datetime(2025, 1, 1) + timedelta(days=d)
)
# Starts anywhere to the minute, plus starts on boundaries, where off-by-ones live.
minute_starts = st.one_of(
    st.integers(0, 2 * 365 * 1440 - 1).map(
        lambda m: datetime(2025, 1, 1) + timedelta(minutes=m)
    ),
    st.builds(
        lambda day, t: day + timedelta(hours=t.hour, minutes=t.minute),
        days,
        st.sampled_from(
            [time(0), time(8, 30), time(12), time(13, 30), time(17, 30), time(19)]
        ),
    ),
)
# Any number of minutes up to 40 working hours, and whole or half working days, which
# end exactly on a period's end.
working_minutes = st.one_of(
    st.integers(1, 40 * 60),
    st.integers(1, 5).map(lambda n: n * 450),
    st.integers(1, 10).map(lambda n: n * 225),
).map(lambda m: timedelta(minutes=m))
PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(cal=calendars, start=minute_starts, delta=working_minutes)
def test_add_working_time_matches_reference(cal, start, delta):
    assert add_working_time(cal, start, delta) == ref_add(cal, start, delta)


@PROPERTY
@given(cal=calendars, a=minute_starts, span=st.integers(0, 15 * 1440))
def test_working_time_between_matches_reference(cal, a, span):
    b = a + timedelta(minutes=span)
    between = working_time_between(cal, a, b)
    assert between == ref_between(cal, a, b)
    assert working_time_between(cal, b, a) == -between


@PROPERTY
@given(cal=calendars, start=minute_starts, delta=working_minutes)
def test_between_undoes_add(cal, start, delta):
    assert (
        working_time_between(cal, start, add_working_time(cal, start, delta)) == delta
    )


@settings(max_examples=100, deadline=None)
@given(
    # Fri 2026-10-09 and the 调休 Sat 2026-10-10, then Sunday off and Monday.
    start=st.integers(0, 2 * 86400 - 1).map(
        lambda s: datetime(2026, 10, 9) + timedelta(seconds=s)
    ),
    delta=st.integers(1, 4 * 3600).map(lambda s: timedelta(seconds=s)),
)
def test_second_resolution_matches_reference(start, delta):
    cal = WorkingCalendar(hours=SECOND_HOURS)
    end = add_working_time(cal, start, delta)
    assert end == ref_add(cal, start, delta, units_per_day=86400)
    assert (
        working_time_between(cal, start, end)
        == ref_between(cal, start, end, 86400)
        == delta
    )


# --- the package's calendar, as checked by printing it --------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # National Day 2026: Oct 1–7 off; Sun Sep 20 and Sat Oct 10 are 调休 working days.
        *[(date(2026, 10, d), False) for d in range(1, 8)],
        (date(2026, 9, 20), True),
        (date(2026, 10, 10), True),
        (date(2026, 10, 11), False),
        (date(2026, 9, 25), False),  # Mid-Autumn Festival, a Friday
        # Spring Festival 2026: Feb 15–23 off; Sat Feb 14 and Sat Feb 28 are worked.
        *[(date(2026, 2, d), False) for d in range(15, 24)],
        (date(2026, 2, 14), True),
        (date(2026, 2, 28), True),
        (date(2026, 2, 24), True),
        (date(2026, 1, 2), False),  # New Year, with Sun Jan 4 worked instead
        (date(2026, 1, 4), True),
        (date(2027, 2, 9), False),  # 2027: holidays by rule only
        (date(2027, 3, 1), True),
    ],
)
def test_is_workday_follows_the_official_calendar(day, working):
    assert CAL.is_workday(day) is working


def test_year_confirmed_needs_package_data_or_an_override():
    assert CAL.year_confirmed(2025)
    assert CAL.year_confirmed(2026)
    assert not CAL.year_confirmed(2027)
    assert WorkingCalendar(overrides={date(2027, 2, 20): True}).year_confirmed(2027)
    # The package carries stray working weekends of old years (2011-12-31) whatever year
    # is asked for; they must not confirm 2027, nor may an override of another year.
    other_year = WorkingCalendar(overrides={date(2026, 12, 31): False})
    assert not other_year.year_confirmed(2027)


# --- concrete due times ---------------------------------------------------------------


def test_friday_evening_before_spring_festival():
    # Friday evening; Sat Feb 14 is worked, then Feb 15–23 are off.
    received = datetime(2026, 2, 13, 18, 0)
    assert add_working_time(CAL, received, 1 * H) == datetime(2026, 2, 14, 9, 30)
    assert add_working_time(CAL, received, 3 * DAY) == datetime(2026, 2, 25, 17, 30)
    assert add_working_time(CAL, received, 3 * DAY + H) == datetime(2026, 2, 26, 9, 30)


def test_across_national_day_and_the_working_saturday():
    received = datetime(2026, 9, 30, 18, 0)  # Wednesday evening; Oct 1–7 off
    assert add_working_time(CAL, received, 2 * DAY) == datetime(2026, 10, 9, 17, 30)
    assert add_working_time(CAL, received, 16 * H) == datetime(2026, 10, 10, 9, 30)
    assert add_working_time(CAL, received, 3 * DAY + H) == datetime(2026, 10, 12, 9, 30)
    # Friday evening, and the Sunday after is a 调休 working day.
    assert add_working_time(CAL, datetime(2026, 9, 18, 18), H) == datetime(
        2026, 9, 20, 9, 30
    )


def test_fifteen_working_days_across_mid_autumn_and_national_day():
    start = datetime(2026, 9, 14, 8, 30)  # Monday
    assert add_working_time(CAL, start, 15 * DAY) == datetime(2026, 10, 9, 17, 30)


def test_override_weekday_holiday_pushes_the_due_time():
    cal = WorkingCalendar(overrides={date(2026, 10, 8): False})
    assert add_working_time(cal, datetime(2026, 9, 30, 18), 16 * H) == datetime(
        2026, 10, 12, 9, 30
    )


def test_override_in_2027():
    received = datetime(2027, 2, 19, 17, 30)  # Friday after Spring Festival
    assert add_working_time(CAL, received, H) == datetime(2027, 2, 22, 9, 30)
    cal = WorkingCalendar(overrides={date(2027, 2, 20): True, date(2027, 2, 22): False})
    assert cal.is_workday(date(2027, 2, 20))
    assert add_working_time(cal, received, H) == datetime(2027, 2, 20, 9, 30)
    assert add_working_time(cal, received, DAY + H) == datetime(2027, 2, 23, 9, 30)


def test_lunch_break_is_skipped():
    monday = datetime(2026, 3, 2, 11, 30)
    assert add_working_time(CAL, monday, H) == datetime(2026, 3, 2, 14, 0)
    assert (
        working_time_between(CAL, datetime(2026, 3, 2, 11), datetime(2026, 3, 2, 14))
        == 1.5 * H
    )
    assert add_working_time(CAL, datetime(2026, 3, 2, 12, 45), H) == datetime(
        2026, 3, 2, 14, 30
    )


def test_landing_on_the_end_of_a_period_returns_that_end():
    assert add_working_time(CAL, datetime(2026, 3, 2, 8, 30), DAY) == datetime(
        2026, 3, 2, 17, 30
    )
    assert add_working_time(CAL, datetime(2026, 3, 2, 16, 30), H) == datetime(
        2026, 3, 2, 17, 30
    )
    assert add_working_time(CAL, datetime(2026, 3, 2, 11), H) == datetime(
        2026, 3, 2, 12, 0
    )
    one_second = timedelta(seconds=1)
    assert add_working_time(CAL, datetime(2026, 3, 2, 17, 30), one_second) == datetime(
        2026, 3, 3, 8, 30, 1
    )


def test_start_outside_working_time_counts_from_the_next_working_instant():
    saturday_night = datetime(2026, 3, 7, 23, 0)
    assert add_working_time(CAL, saturday_night, H) == datetime(2026, 3, 9, 9, 30)


def test_zero_delta_returns_start_unchanged():
    saturday_night = datetime(2026, 3, 7, 23, 0)
    assert add_working_time(CAL, saturday_night, timedelta()) == saturday_night
    assert due_time(CAL, saturday_night, 0, wall_clock=False) == saturday_night


def test_negative_delta_is_refused():
    with pytest.raises(ValueError):
        add_working_time(CAL, datetime(2026, 3, 2, 9), -H)


def test_due_time_in_working_hours_and_on_the_wall_clock():
    eve = datetime(2026, 9, 30, 23, 0)
    assert due_time(CAL, eve, 2, wall_clock=True) == datetime(2026, 10, 1, 1, 0)
    assert due_time(CAL, eve, 2, wall_clock=False) == datetime(2026, 10, 8, 10, 30)
    assert due_time(CAL, datetime(2026, 3, 2, 9), 0.1, wall_clock=False) == datetime(
        2026, 3, 2, 9, 6
    )


def test_time_left_is_negative_when_late():
    due = datetime(2026, 3, 2, 17, 30)
    assert time_left(CAL, due, datetime(2026, 3, 2, 15, 0), wall_clock=False) == 2.5 * H
    assert time_left(CAL, due, datetime(2026, 3, 3, 9, 30), wall_clock=False) == -H
    assert time_left(CAL, due, datetime(2026, 3, 3, 9, 30), wall_clock=True) == -16 * H


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (datetime(2026, 3, 2, 8, 0), "on_time"),
        (datetime(2026, 3, 2, 15, 37, 30), "on_time"),  # a quarter (1.875 h) left
        (datetime(2026, 3, 2, 15, 37, 31), "due_soon"),
        (datetime(2026, 3, 2, 17, 30), "due_soon"),  # at the due time: not yet late
        (datetime(2026, 3, 2, 17, 30, 1), "overdue"),
        (datetime(2026, 3, 7, 10, 0), "overdue"),  # no working time since, still late
    ],
)
def test_classify_working_time(at, status):
    started = datetime(2026, 3, 2, 8, 30)
    due = due_time(CAL, started, 7.5, wall_clock=False)
    assert classify(CAL, started, due, at, wall_clock=False) == status


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (datetime(2026, 10, 1, 1, 29), "on_time"),
        (datetime(2026, 10, 1, 1, 31), "due_soon"),
        (datetime(2026, 10, 1, 2, 1), "overdue"),
    ],
)
def test_classify_wall_clock_ignores_the_holiday(at, status):
    started = datetime(2026, 10, 1, 0, 0)  # National Day
    due = due_time(CAL, started, 2, wall_clock=True)
    assert classify(CAL, started, due, at, wall_clock=True) == status


@pytest.mark.parametrize(
    ("td", "hours_per_day", "expected"),
    [
        (3.5 * H, 7.5, (3.5, "hours")),
        (2 * H, 7.5, (2, "hours")),
        (timedelta(minutes=10), 7.5, (0.2, "hours")),
        (timedelta(), 7.5, (0, "hours")),
        (7.5 * H, 7.5, (1, "days")),
        (-7.5 * H, 7.5, (1, "days")),
        (11.25 * H, 7.5, (1.5, "days")),
        (7.46 * H, 7.5, (1, "days")),
        (-timedelta(minutes=90), 7.5, (1.5, "hours")),
        (48 * H, 24, (2, "days")),
    ],
)
def test_format_span(td, hours_per_day, expected):
    number, unit = format_span(td, hours_per_day)
    assert (number, unit) == expected
    assert type(number) is type(expected[0])


# --- configuration --------------------------------------------------------------------


def test_default_working_hours():
    hours = WorkingHours()
    assert hours.hours_per_day == 7.5
    assert hours.periods == ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))


def test_periods_are_sorted():
    hours = WorkingHours([(time(13, 30), time(17, 30)), (time(8, 30), time(12, 0))])
    assert hours == WorkingHours()


@pytest.mark.parametrize(
    "periods",
    [
        [],
        [(time(9), time(9))],
        [(time(12), time(9))],
        [(time(8), time(12)), (time(11), time(14))],
        [("08:30", "12:00")],
        [(time(8), time(12), time(13))],
        [(time(8, 0, 0, 500), time(12))],
        [(time(8, tzinfo=UTC), time(12, tzinfo=UTC))],
    ],
)
def test_bad_working_hours_are_refused(periods):
    with pytest.raises(ValueError):
        WorkingHours(periods)


def test_calendar_refuses_bad_arguments():
    with pytest.raises(ValueError):
        WorkingCalendar(source="chinesecalendar")
    with pytest.raises(TypeError):
        WorkingCalendar(overrides={datetime(2026, 10, 8): False})


def test_is_workday_accepts_a_datetime():
    cal = WorkingCalendar(overrides={date(2026, 10, 8): False})
    assert not cal.is_workday(datetime(2026, 10, 8, 9, 0))


def test_now_is_naive_china_time_to_the_second():
    utc = datetime(2026, 10, 1, 16, 30, 5, 123456, tzinfo=UTC)
    with time_machine.travel(utc, tick=False):
        assert now() == datetime(2026, 10, 2, 0, 30, 5)

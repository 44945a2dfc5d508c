"""The stage clock: time limits per category × priority × stage on the working calendar.

Every transition and intake call `start_stage` (and `end_stage` before leaving a stage), so the
due times of the current stage and of the whole case are always set; parking pauses the clock and
an approved extension moves it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import g, has_app_context
from sqlalchemy import select

from casework.extensions import db
from casework.models import STAGE_OF_STATUS, Case, CaseEvent, Category, HolidayOverride, Setting, TimeLimit
from casework.timekeeping import (
    WorkingCalendar, WorkingHours, add_working_time, due_time, format_span, now,
    working_time_between,
)

# Defaults from practice (12345 / 接诉即办): emergencies run on the wall clock (hours), others on
# working hours (7.5 a day): urgent within a working day, normal within 7 working days overall.
DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    "emergency": {"sign": 0.5, "dispatch": 0.5, "leader": 1, "handling": 2, "callback": 4, "case": 8},
    "urgent": {"sign": 2, "dispatch": 2, "leader": 4, "handling": 7.5, "callback": 7.5, "case": 22.5},
    "normal": {"sign": 4, "dispatch": 7.5, "leader": 15, "handling": 37.5, "callback": 15, "case": 52.5},
}
# Complex matters (neighbour disputes) get up to 15 working days.
COMPLEX_LIMITS: dict[str, dict[str, float]] = {
    "dispute": {"leader": 37.5, "handling": 75, "case": 112.5},
}
DEFAULT_SETTINGS = {
    "working_hours": "08:30-12:00,13:30-17:30",
    "warn_ratio": "0.25",            # due soon: less than a quarter of the stage's time left
    "supervise_after_hours": "4",    # overdue this many working hours → 督办 to the community
    "escalate_after_hours": "15",    # overdue this many working hours → 督办 to the subdistrict
}


def setting(key: str) -> str:
    """An admin setting, or its default (all settings are read once per request)."""
    if has_app_context() and "settings" in g:
        values = g.settings
    else:
        values = {row.key: row.value for row in db.session.scalars(select(Setting))}
        if has_app_context():
            g.settings = values
    return values.get(key, DEFAULT_SETTINGS[key])


def parse_working_hours(text: str) -> WorkingHours:
    """'08:30-12:00,13:30-17:30' → WorkingHours (ValueError when unreadable)."""
    periods = []
    for part in text.split(","):
        start, end = part.strip().split("-")
        periods.append((dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())))
    return WorkingHours(periods=tuple(periods))


def calendar() -> WorkingCalendar:
    """The working calendar with the admin's overrides, built once per request."""
    if has_app_context() and "work_calendar" in g:
        return g.work_calendar
    overrides = {row.day: row.is_workday for row in db.session.scalars(select(HolidayOverride))}
    cal = WorkingCalendar(hours=parse_working_hours(setting("working_hours")), overrides=overrides)
    if has_app_context():
        g.work_calendar = cal
    return cal


def forget_calendar() -> None:
    """Drop the cached calendar and rules after an admin changes them."""
    if has_app_context():
        g.pop("work_calendar", None)
        g.pop("time_rules", None)
        g.pop("settings", None)
        g.pop("badge_context", None)


def _rules() -> dict[tuple[int | None, str, str], tuple[float, bool]]:
    """The admin's time-limit rules, read once per request."""
    if has_app_context() and "time_rules" in g:
        return g.time_rules
    rules = {(r.category_id, r.priority, r.stage): (r.hours, r.wall_clock)
             for r in db.session.scalars(select(TimeLimit))}
    if has_app_context():
        g.time_rules = rules
    return rules


def rule_for(category_id: int | None, category_code: str, priority: str, stage: str) -> tuple[float, bool]:
    """(hours, wall_clock): the category's rule, else the admin's default rule, else the built-in default."""
    rules = _rules()
    for key in ((category_id, priority, stage), (None, priority, stage)):
        if key in rules:
            return rules[key]
    hours = COMPLEX_LIMITS.get(category_code, {}).get(stage) if priority == "normal" else None
    return hours or DEFAULT_LIMITS[priority][stage], priority == "emergency"


def limit_hours(case: Case, stage: str) -> tuple[float, bool]:
    """(hours, wall_clock) for a stage of this case."""
    category = db.session.get(Category, case.category_id) if case.category_id else None
    return rule_for(case.category_id, category.code if category else "", case.priority, stage)


def start_stage(case: Case, at: dt.datetime) -> None:
    """Start the clock of the stage the case has just entered (and of the whole case, on intake)."""
    case.stage_started_at = at
    case.stage_paused_seconds = 0
    stage = STAGE_OF_STATUS.get(case.status)
    if stage is None:  # closed: no clock runs
        case.stage_due_at = None
        return
    cal = calendar()
    hours, wall = limit_hours(case, stage)
    case.stage_due_at = due_time(cal, at, hours, wall)
    if case.due_at is None:
        case_hours, case_wall = limit_hours(case, "case")
        case.due_at = due_time(cal, case.created_at or at, case_hours, case_wall)


def elapsed(case: Case, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Time that counts against the case between two instants (wall clock for emergencies)."""
    if end <= start:
        return dt.timedelta(0)
    if case.priority == "emergency":
        return end - start
    return working_time_between(calendar(), start, end)


def end_stage(case: Case, row: CaseEvent, at: dt.datetime) -> None:
    """Record on the event row how long the stage it ends took and when it was due.

    The time parked (挂账) does not count: the resumes so far are in `stage_paused_seconds`, and a
    stage left while still parked stops its pause here (leaving the stage ends the parking).
    """
    if case.parked_at is not None:
        pause(case, at)
    row.stage_due_at = case.stage_due_at
    took = elapsed(case, case.stage_started_at or at, at).total_seconds() - (case.stage_paused_seconds or 0)
    row.stage_seconds = max(0, int(took))


def pause(case: Case, at: dt.datetime) -> float:
    """End the case's parking at `at`: the counting hours it was parked, added to the stage's pause."""
    paused = elapsed(case, case.parked_at, at).total_seconds()
    case.stage_paused_seconds = (case.stage_paused_seconds or 0) + int(paused)
    case.parked_at = None
    return paused / 3600


def shift_due(case: Case, hours: float) -> None:
    """Move the stage and whole-case due times later by `hours` of counting time (extension, unpark)."""
    cal = calendar()
    wall = case.priority == "emergency"
    if case.stage_due_at is not None:
        case.stage_due_at = due_time(cal, case.stage_due_at, hours, wall)
    if case.due_at is not None:
        case.due_at = due_time(cal, case.due_at, hours, wall)


@dataclass(frozen=True)
class Badge:
    """What a card shows of the clock: state plus the time left or late, language-neutral."""

    state: str          # on_time / due_soon / overdue / parked / none
    amount: float = 0
    unit: str = "hours"  # hours / days


# One calendar per distinct content per process (hours, overrides): its per-year tables and its
# memo of cumulative working time (`WorkingCalendar.working_from_origin`) outlive the request, so
# the due badges of a board cost dictionary reads after the first render. Keyed by the calendar's
# content itself, read each request (two small statements), so an admin's change can never be
# answered by a stale calendar, whichever process or test database it came from.
_SHARED_CALENDARS: dict[tuple, WorkingCalendar] = {}


def shared_calendar(cal: WorkingCalendar) -> WorkingCalendar:
    """The process's calendar equal in content to `cal` (`cal` itself the first time)."""
    key = cal.content_key()
    found = _SHARED_CALENDARS.get(key)
    if found is None:
        if len(_SHARED_CALENDARS) >= 16:  # tests build many calendars: keep a handful
            _SHARED_CALENDARS.clear()
        found = _SHARED_CALENDARS[key] = cal
    return found


def _left(cal: WorkingCalendar, due: dt.datetime, at: dt.datetime, wall: bool) -> dt.timedelta:
    """`time_left`, through the calendar's memoized cumulative working time (equal, see timekeeping)."""
    return due - at if wall else cal.working_between(at, due)


def badge_context() -> tuple[WorkingCalendar, float, float]:
    """(calendar, warn ratio, hours per working day), looked up once per request: boards ask per card.

    The calendar is the process's shared one of equal content (`shared_calendar`)."""
    ctx = g.get("badge_context") if has_app_context() else None
    if ctx is None:
        cal = shared_calendar(calendar())
        ctx = (cal, float(setting("warn_ratio")), cal.hours.hours_per_day)
        if has_app_context():
            g.badge_context = ctx
    return ctx


def badge(case: Case, at: dt.datetime | None = None,
          context: tuple[WorkingCalendar, float, float] | None = None) -> Badge:
    """The time-limit badge of a case's current stage (the same rule as `classify`).

    `context` is `badge_context()`, passed in by callers that ask for many cases at once.
    """
    if case.status == "closed" or case.stage_due_at is None:
        return Badge("none")
    at = at or now()
    if case.parked_at is not None:
        # The clock stopped when the case was parked: late by what it was late then (or not at all).
        late = lateness(case, at, context)
        return Badge("parked", late.amount, late.unit) if late else Badge("parked")
    cal, warn_ratio, hours_per_day = context or badge_context()
    wall = case.priority == "emergency"
    due = case.stage_due_at
    # time_left is negative once late, so one call gives both the state and the span shown.
    left = _left(cal, due, at, wall)
    if at > due:
        state = "overdue"
    elif left >= (due - case.stage_started_at) * warn_ratio:
        # Working time never exceeds wall time, so this is on time without measuring the stage.
        state = "on_time"
    else:
        allowed = _left(cal, due, case.stage_started_at, wall)
        state = "due_soon" if left < allowed * warn_ratio else "on_time"
    amount, unit = format_span(abs(left), 24 if wall else hours_per_day)
    return Badge(state, amount, unit)


def is_late(case, at: dt.datetime) -> bool:
    """The lateness rule (docs/metrics.md, "overdue"): open, and the current stage's due time passed
    before now, or, for a parked case, before it was parked (parking stops the clock)."""
    if case.status == "closed" or case.stage_due_at is None:
        return False
    stop = at if case.parked_at is None else min(at, case.parked_at)
    return case.stage_due_at < stop


def late_clause(at: dt.datetime):
    """`is_late` in SQL, on the case table (reads the open cases by their stage due time)."""
    from sqlalchemy import and_, or_
    return and_(Case.status != "closed", Case.stage_due_at < at,
                or_(Case.parked_at.is_(None), Case.stage_due_at < Case.parked_at))


def lateness(case, at: dt.datetime, context: tuple[WorkingCalendar, float, float] | None = None) -> Badge | None:
    """How late the current stage is (None when not late), measured as the badge measures it.

    Counting time (working time; the wall clock for emergencies) from the stage's due time to now, or
    to the moment the case was parked; shown in days of one working day's hours (24 h for
    emergencies) from one day on, else in hours, rounded to one decimal (`timekeeping.format_span`).
    """
    if not is_late(case, at):
        return None
    cal, _warn, hours_per_day = context or badge_context()
    wall = case.priority == "emergency"
    stop = at if case.parked_at is None else min(at, case.parked_at)
    amount, unit = format_span(_left(cal, case.stage_due_at, stop, wall), 24 if wall else hours_per_day)
    return Badge("overdue", amount, unit)


def hours_overdue(case: Case, at: dt.datetime) -> float:
    """Counting hours past the stage's due time (0 when not late)."""
    if case.stage_due_at is None or at <= case.stage_due_at:
        return 0.0
    return elapsed(case, case.stage_due_at, at).total_seconds() / 3600


def add_hours(at: dt.datetime, hours: float, wall: bool) -> dt.datetime:
    """`hours` of counting time after `at`."""
    if wall:
        return at + dt.timedelta(hours=hours)
    return add_working_time(calendar(), at, dt.timedelta(hours=hours))

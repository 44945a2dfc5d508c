"""Working calendar and time limits: pure functions of naive China-local datetimes.

Every datetime here is naive and means Asia/Shanghai wall time (China has no DST, so
naive arithmetic is exact).

The base calendar comes from the ``holidays`` package
(``holidays.country_holidays("CN")``): statutory holidays are days off, and the weekend
days it lists in ``weekend_workdays`` (调休) are working days. We chose it over
``chinesecalendar`` because ``chinesecalendar`` raises ``NotImplementedError`` for any
year without an official notice in its data (2027 at the time of writing), whereas
``holidays`` still knows a future year's holidays by rule and is released more often.
Neither knows a year's 调休 weekends before the State Council publishes them, so admin
overrides per date win over the package, and ``WorkingCalendar.year_confirmed()`` tells
supervisors when a year has not been confirmed yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

CHINA_TZ = ZoneInfo("Asia/Shanghai")

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(13, 30), time(17, 30)),
)

Status = Literal["on_time", "due_soon", "overdue"]

# A calendar that never works would make add_working_time spin forever; ten years
# without a single working day can only be a misconfiguration.
_MAX_IDLE_DAYS = 3660


def now() -> datetime:
    """Return the current China-local time as a naive datetime, to the second."""
    return datetime.now(CHINA_TZ).replace(tzinfo=None, microsecond=0)


def _since_midnight(t: time) -> timedelta:
    """Return a time of day as the offset from midnight."""
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


@dataclass(frozen=True)
class WorkingHours:
    """The working periods of a working day, sorted and non-overlapping."""

    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    # The periods as offsets from midnight, computed once: the arithmetic uses these.
    offsets: tuple[tuple[timedelta, timedelta], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Validate and sort the periods; raise ValueError on a bad configuration."""
        try:
            periods = tuple(sorted((start, end) for start, end in self.periods))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"periods must be (time, time) pairs: {exc}") from None
        if not periods:
            raise ValueError("at least one working period is required")
        for start, end in periods:
            if not (isinstance(start, time) and isinstance(end, time)):
                # Every configuration error is a ValueError: a form catches one type.
                msg = f"period {start!r}-{end!r} is not two times"
                raise ValueError(msg)  # noqa: TRY004
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("working periods are naive China-local times")
            # Whole seconds keep every due time exact to the second.
            if start.microsecond or end.microsecond:
                raise ValueError("working periods must be whole seconds")
            if start >= end:
                raise ValueError(f"working period {start}-{end} ends before it starts")
        for (_, end), (next_start, _) in pairwise(periods):
            if next_start < end:
                raise ValueError(f"working periods overlap at {next_start}")
        object.__setattr__(self, "periods", periods)
        object.__setattr__(
            self,
            "offsets",
            tuple((_since_midnight(s), _since_midnight(e)) for s, e in periods),
        )

    @property
    def day_length(self) -> timedelta:
        """Return the working time of one full working day."""
        return sum((end - start for start, end in self.offsets), timedelta())

    @property
    def hours_per_day(self) -> float:
        """Return the working hours of one full working day (7.5 by default)."""
        return self.day_length / timedelta(hours=1)


@cache
def _package_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Return (statutory days off, 调休 working weekends) of one year from `holidays`."""
    # Built once per year and reduced to frozensets: building the holidays object costs
    # far more than a set lookup, and a HolidayBase grows itself on lookups
    # (expand=True), so sharing one between threads is not safe.
    cn = holidays.country_holidays("CN", years=year)
    # weekend_workdays also carries a few dates of other years (e.g. 2011-12-31)
    # whatever years were asked for, so keep only this year's.
    days_off = frozenset(d for d in cn if d.year == year)
    work_weekends = frozenset(d for d in cn.weekend_workdays if d.year == year)
    return days_off, work_weekends


class WorkingCalendar:
    """Which days are working days, and the working hours within them."""

    def __init__(
        self,
        hours: WorkingHours = WorkingHours(),
        overrides: Mapping[date, bool] | None = None,
        source: str = "holidays",
    ) -> None:
        """Build a calendar from hours, per-date overrides (True = working), source."""
        if source != "holidays":
            raise ValueError(f"unknown calendar source {source!r} (use 'holidays')")
        self.hours = hours
        self.source = source
        self.overrides: dict[date, bool] = {}
        for day, working in (overrides or {}).items():
            # A datetime key would never match a date lookup (they hash differently).
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"override keys must be dates, got {day!r}")
            self.overrides[day] = bool(working)
        self._override_years = frozenset(day.year for day in self.overrides)
        # Per year: cumulative working-day counts by day of year, built on first use.
        self._year_tables: dict[int, list[int]] = {}

    def __repr__(self) -> str:
        """Show the hours and how many overrides the calendar has."""
        return f"WorkingCalendar({self.hours!r}, overrides={len(self.overrides)})"

    def is_workday(self, d: date) -> bool:
        """Return whether `d` is a working day: override, else package, else Mon–Fri."""
        if isinstance(d, datetime):
            d = d.date()
        override = self.overrides.get(d)
        if override is not None:
            return override
        days_off, work_weekends = _package_year(d.year)
        if d in days_off:
            return False
        if d in work_weekends:
            return True
        return d.weekday() < 5

    def _year_table(self, year: int) -> list[int]:
        """table[i] = working days among the first i days of `year` (built once per year)."""
        table = self._year_tables.get(year)
        if table is None:
            table = [0]
            day = date(year, 1, 1)
            while day.year == year:
                table.append(table[-1] + self.is_workday(day))
                day += timedelta(days=1)
            self._year_tables[year] = table
        return table

    def workdays_between(self, first: date, stop: date) -> int:
        """Return how many working days lie in [first, stop), without walking the days."""
        if stop <= first:
            return 0
        a = first.timetuple().tm_yday - 1
        b = stop.timetuple().tm_yday - 1
        if first.year == stop.year:
            table = self._year_table(first.year)
            return table[b] - table[a]
        head = self._year_table(first.year)
        count = head[-1] - head[a]
        for year in range(first.year + 1, stop.year):
            count += self._year_table(year)[-1]
        return count + self._year_table(stop.year)[b]

    # ---- working time as differences of one cumulative function (boards' due badges) ----------

    _ORIGIN = datetime(2000, 1, 1)
    _MEMO_LIMIT = 200_000

    def working_from_origin(self, t: datetime) -> timedelta:
        """W(t): the working time in [2000-01-01, t) (negative before it), memoized on this calendar.

        Working time is a measure, so `working_time_between(self, a, b) == W(b) - W(a)` exactly
        (timedeltas add without rounding; tests/test_timekeeping.py checks it against the direct
        computation, overrides included). The due times and stage starts of a board's cards are
        the same from one render to the next, so with one calendar kept per process
        (`services.clock.shared_calendar`) a card's badge costs dictionary reads, and each render
        computes only W(now). What must stay equal: nothing mutates a calendar after it is built.
        """
        memo = self.__dict__.setdefault("_cumulative", {})
        found = memo.get(t)
        if found is None:
            if len(memo) >= self._MEMO_LIMIT:
                memo.clear()
            found = memo[t] = working_time_between(self, self._ORIGIN, t)
        return found

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """`working_time_between(self, a, b)` from the memoized W (see `working_from_origin`)."""
        return self.working_from_origin(b) - self.working_from_origin(a)

    def content_key(self) -> tuple:
        """What the calendar's answers depend on: hours, source and overrides (a process-wide cache key)."""
        return (self.hours.periods, self.source, frozenset(self.overrides.items()))

    def year_confirmed(self, year: int) -> bool:
        """Return whether the year has 调休 data in the package or any override."""
        return bool(_package_year(year)[1]) or year in self._override_years


def _midnight(d: date) -> datetime:
    """Return the naive datetime at the start of day `d`."""
    return datetime.combine(d, time())


def add_working_time(
    cal: WorkingCalendar, start: datetime, delta: timedelta
) -> datetime:
    """Return the instant when `delta` of working time has elapsed after `start`."""
    # delta == 0 returns `start` as given, even outside working hours: nothing has to
    # elapse, and moving it would make due_time(start, 0) later than start.
    if delta < timedelta():
        raise ValueError("delta must not be negative")
    if delta == timedelta():
        return start
    remaining = delta
    day = start.date()
    offset = start - _midnight(day)
    day_length = cal.hours.day_length
    idle_days = 0
    while True:
        if cal.is_workday(day):
            idle_days = 0
            # A whole working day that cannot finish the job is skipped in one step.
            if offset == timedelta() and remaining > day_length:
                remaining -= day_length
            else:
                for period_start, period_end in cal.hours.offsets:
                    if offset >= period_end:
                        continue
                    begin = max(period_start, offset)
                    available = period_end - begin
                    # `<=` so that a delta ending exactly at a period's end returns
                    # that end (17:30), not the start of the next period.
                    if remaining <= available:
                        return _midnight(day) + begin + remaining
                    remaining -= available
        else:
            idle_days += 1
            if idle_days > _MAX_IDLE_DAYS:
                raise ValueError("the calendar has no working day in ten years")
        day += timedelta(days=1)
        offset = timedelta()


def _within_day(cal: WorkingCalendar, day: date, start: timedelta, end: timedelta) -> timedelta:
    """Return the working time of `day` between two offsets from its midnight."""
    total = timedelta()
    if start >= end or not cal.is_workday(day):
        return total
    for period_start, period_end in cal.hours.offsets:
        overlap = min(period_end, end) - max(period_start, start)
        if overlap > timedelta():
            total += overlap
    return total


def working_time_between(cal: WorkingCalendar, a: datetime, b: datetime) -> timedelta:
    """Return the working time in [a, b), negated when b is before a."""
    if b < a:
        return -working_time_between(cal, b, a)
    first, last = a.date(), b.date()
    if first == last:
        return _within_day(cal, first, a - _midnight(first), b - _midnight(last))
    # The two end days are clipped; every whole day between counts a full working day if it is
    # one, counted from the calendar's per-year table (no walk over the days: boards ask this
    # for hundreds of cards, some of them weeks late).
    ends = (_within_day(cal, first, a - _midnight(first), timedelta(days=1))
            + _within_day(cal, last, timedelta(), b - _midnight(last)))
    whole = cal.workdays_between(first + timedelta(days=1), last)
    return ends + whole * cal.hours.day_length


def due_time(
    cal: WorkingCalendar, start: datetime, hours: float, wall_clock: bool
) -> datetime:
    """Return when a limit of `hours` that starts at `start` runs out."""
    if hours < 0:
        raise ValueError("a time limit must not be negative")
    # Whole seconds: limits like 0.1 h must not leave microseconds in stored due times.
    delta = timedelta(seconds=round(hours * 3600))
    if wall_clock:
        # Emergencies run on the wall clock, nights and holidays included.
        return start + delta
    return add_working_time(cal, start, delta)


def time_left(
    cal: WorkingCalendar, due: datetime, at: datetime, wall_clock: bool
) -> timedelta:
    """Return the time left at `at` until `due`; negative (time over) when late."""
    if wall_clock:
        return due - at
    return working_time_between(cal, at, due)


def classify(
    cal: WorkingCalendar,
    started: datetime,
    due: datetime,
    at: datetime,
    wall_clock: bool,
    warn_ratio: float = 0.25,
) -> Status:
    """Return "overdue", "due_soon" (< warn_ratio of allowed time left), "on_time"."""
    if not 0 <= warn_ratio <= 1:
        raise ValueError("warn_ratio must be between 0 and 1")
    # Overdue is decided on the wall clock: a case due Friday 17:30 is late on Saturday
    # even though no working time has passed since.
    if at > due:
        return "overdue"
    allowed = time_left(cal, due, started, wall_clock)
    left = time_left(cal, due, at, wall_clock)
    if left < allowed * warn_ratio:
        return "due_soon"
    return "on_time"


def format_span(td: timedelta, hours_per_day: float = 7.5) -> tuple[float, str]:
    """Return the size of `td` as (number, "hours" | "days"), without its sign."""
    # The caller knows the direction (剩余 / 超时) from the sign of td and words it
    # itself; pass hours_per_day=24 for wall-clock limits.
    if hours_per_day <= 0:
        raise ValueError("hours_per_day must be positive")
    hours = abs(td) / timedelta(hours=1)
    # Decide on the rounded figure so that 7.46 h shows as 1 day, not as "7.5 hours".
    if round(hours, 1) >= hours_per_day:
        return _tidy(round(hours / hours_per_day, 1)), "days"
    return _tidy(round(hours, 1)), "hours"


def _tidy(number: float) -> float:
    """Return whole numbers as int so that labels read "1 天", not "1.0 天"."""
    return int(number) if float(number).is_integer() else number

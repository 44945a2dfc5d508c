"""Returns (退回/退单) counted by coded reason: per unit of the chosen grouping, and per week or month.

Counted on the timeline's return rows of the period (a partial index keeps them a small read),
attributed through their case exactly as the ranking's "退回" column is (docs/metrics.md): the
per-unit rows add up to the ranking's returns, and every row and column adds up to the total.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from casework import labels
from casework.extensions import db
from casework.models import Case, CaseEvent
from casework.services.reports.rankings import group_labels
from casework.services.reports.scope import Grouping, Period, Scope, covered, in_period
from casework.services.reports.trend import _as_date
from casework.workflow import RETURN_REASONS

UNSTATED = ""        # a return recorded without a coded reason (rows from before reasons were coded)
WEEKLY_UP_TO_DAYS = 92  # a period of up to about three months is shown per week, a longer one per month


def reason_label(code: str) -> str:
    return str(labels.RETURN_REASON.get(code, code) if code else _l("未注明原因"))


@dataclass
class ReasonRow:
    """One unit or one week/month: returns per reason code."""

    key: object
    label: str
    counts: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Returns:
    reasons: list[str]            # the reason codes shown, in workflow order (unstated last)
    dim: str                      # the grouping of `units`
    units: list[ReasonRow]
    every: str                    # "week" or "month"
    periods: list[ReasonRow]      # every week/month touching the period, empty ones included
    totals: Counter

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def reason_labels(self) -> list[str]:
        return [reason_label(r) for r in self.reasons]


def granularity(period: Period) -> str:
    return "week" if (period.end - period.start).days < WEEKLY_UP_TO_DAYS else "month"


def _start_of(day: dt.date, every: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if every == "week" else day.replace(day=1)


def _next(start: dt.date, every: str) -> dt.date:
    if every == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_label(start: dt.date, every: str) -> str:
    if every == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start:%Y-%m}"


def _counted(user, scope: Scope, period: Period, *columns):
    """The return rows of the period inside the report's cases, counted per `columns`."""
    return (select(*columns, func.count()).select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.event == "return_case", in_period(CaseEvent.created_at, period), covered(user, scope))
            .group_by(*columns))


def returns_by_reason(user, scope: Scope, period: Period, dim: str, english: bool = False) -> Returns:
    """Returns per reason: per group of `dim` (as the ranking groups cases) and per week or month."""
    grouping = Grouping(dim)
    reason = func.coalesce(CaseEvent.reason_code, UNSTATED).label("reason")
    per_unit: dict = {}
    query = _counted(user, scope, period, grouping.case_key().label("k"), reason)
    for k, code, n in db.session.execute(query):
        per_unit.setdefault(k, Counter())[code] += n
    folded = grouping.fold(per_unit)
    names = group_labels(dim, folded.keys(), english)
    units = sorted((ReasonRow(k, names.get(k, str(k)), c) for k, c in folded.items()),
                   key=lambda r: (-r.total, r.label))

    every = granularity(period)
    per_day = _counted(user, scope, period, func.date(CaseEvent.created_at).label("day"), reason)
    by_start: dict[dt.date, Counter] = {}
    totals: Counter = Counter()
    for d, code, n in db.session.execute(per_day):
        by_start.setdefault(_start_of(_as_date(d), every), Counter())[code] += n
        totals[code] += n
    periods = []
    start = _start_of(period.start, every)
    while start <= period.end:
        periods.append(ReasonRow(start, period_label(start, every), by_start.get(start, Counter())))
        start = _next(start, every)

    reasons = [r for r in RETURN_REASONS if totals[r]]
    reasons += sorted(r for r in totals if r not in RETURN_REASONS and r != UNSTATED)
    if totals[UNSTATED]:
        reasons.append(UNSTATED)
    return Returns(reasons=reasons, dim=dim, units=units, every=every, periods=periods, totals=totals)

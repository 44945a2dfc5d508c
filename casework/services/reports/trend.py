"""Cases received and completed per ISO week."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import (
    func, select,
)

from casework.extensions import db
from casework.models.cases import ReportTally
from casework.services import tallies
from casework.services.reports.scope import covered_rollup, rollup_slices

@dataclass
class Week:
    monday: dt.date
    received: int = 0
    completed: int = 0

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"


def weekly_trend(user, scope, period) -> list[Week]:
    """Cases received and completed per ISO week of the period (empty weeks included)."""
    t = ReportTally
    query = (select(t.span, t.slice, func.sum(t.received), func.sum(t.completed))
             .where(rollup_slices(period, t.span, t.slice), covered_rollup(user, scope)).group_by(t.span, t.slice))
    counts: dict[dt.date, list[int]] = {}
    for _span, day, received, completed in db.session.execute(query):
        week = counts.setdefault(tallies.monday(_as_date(day)), [0, 0])
        week[0] += received or 0
        week[1] += completed or 0
    weeks = []
    monday = period.start - dt.timedelta(days=period.start.weekday())
    while monday <= period.end:
        received, completed = counts.get(monday, (0, 0))
        weeks.append(Week(monday, received, completed))
        monday += dt.timedelta(days=7)
    return weeks


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])

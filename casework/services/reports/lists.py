"""The case lists behind the figures: overdue cases, and the cases behind any one figure."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import (
    Select, and_, func, or_, select,
)
from sqlalchemy.orm import aliased

from casework import access
from casework.extensions import db
from casework.services import clock
from casework.models import (
    Building, Case, CaseEvent, Category, Community, Extension, Grid, Organisation,
)
from casework.timekeeping import now as clock_now
from casework.services.reports.scope import Grouping, Period, Scope, covered, in_period

FIGURES = ("received", "responded_late", "late", "on_time", "overdue", "returned", "reopened",
           "dissatisfied", "extended")
OVERDUE_LIMIT = 100


@dataclass
class OverdueCase:
    id: int
    number: str
    title: str
    status: str
    priority: str
    stage_due_at: dt.datetime
    late: clock.Badge          # how late, as the board's badge measures it (clock.lateness)
    parked: bool = False

    @property
    def emergency(self) -> bool:
        return self.priority == "emergency"


def incomplete_late(at: dt.datetime):
    """Not completed, and the whole-case due time passed before now or before the case was parked."""
    return and_(Case.resolved_at.is_(None), Case.closed_at.is_(None), Case.due_at < at,
                or_(Case.parked_at.is_(None), Case.due_at < Case.parked_at))


class _Predicates:
    """The per-case conditions of docs/metrics.md, for the case lists behind the figures."""

    def __init__(self, period: Period, at: dt.datetime):
        lo, hi = period.lo, period.hi
        self.received = and_(Case.created_at >= lo, Case.created_at < hi)
        unanswered_late = and_(Case.status == "reported", Case.stage_due_at < at)
        self.response_late = and_(self.received, or_(
            unanswered_late, and_(Case.response_due_at.is_not(None), Case.responded_at > Case.response_due_at)))
        completion = func.coalesce(Case.resolved_at, Case.closed_at)
        self.due_in = and_(Case.due_at >= lo, Case.due_at < hi)
        self.on_time_ok = and_(self.due_in, completion <= Case.due_at)
        self.on_time_late = and_(self.due_in, or_(completion > Case.due_at, incomplete_late(at)))
        self.overdue = clock.late_clause(at)


def overdue_cases(user, scope, at, limit: int = OVERDUE_LIMIT) -> tuple[list[OverdueCase], int]:
    """Open cases past their current stage's due time (the board's rule), most late first, and how many."""
    cond = and_(covered(user, scope), clock.late_clause(at))
    total = db.session.scalar(select(func.count()).select_from(Case).where(cond)) or 0
    rows = db.session.execute(
        select(Case.id, Case.number, Case.title, Case.status, Case.priority, Case.stage_due_at, Case.parked_at)
        .where(cond).order_by(Case.stage_due_at, Case.id).limit(limit))
    context = clock.badge_context() if total else None
    return [OverdueCase(r.id, r.number or "", r.title, r.status, r.priority, r.stage_due_at,
                        clock.lateness(r, at, context), r.parked_at is not None)
            for r in rows], total


def _events_in(period: Period, *conds) -> Select:
    return select(CaseEvent.case_id).where(CaseEvent.kind == "transition",
                                           in_period(CaseEvent.created_at, period), *conds)


def figure_cases(user: access.Who, period: Period, scope: Scope, figure: str, *, dim: str | None = None,
                 group: int | None = None, at: dt.datetime | None = None) -> Select:
    """A statement listing the cases behind one figure (no resident's name, phone or room)."""
    at = at or clock_now()
    user = access.jurisdiction_of(user)
    p = _Predicates(period, at)
    conds = {
        "received": p.received,
        "responded_late": p.response_late,
        "late": p.on_time_late,
        "on_time": p.on_time_ok,
        "overdue": p.overdue,
        "returned": Case.id.in_(_events_in(period, CaseEvent.event == "return_case")),
        "reopened": Case.id.in_(_events_in(period, CaseEvent.event == "reopen",
                                           CaseEvent.from_status == "resolved")),
        "dissatisfied": and_(Case.satisfaction == "dissatisfied", Case.id.in_(
            _events_in(period, CaseEvent.event == "close", CaseEvent.from_status == "resolved"))),
        "extended": Case.id.in_(select(Extension.case_id).where(
            Extension.kind == "extend", Extension.state == "approved", in_period(Extension.created_at, period))),
    }
    where = [covered(user, scope), conds[figure]]
    if dim is not None and group is not None:
        where.append(Grouping(dim).only(group))
    org = aliased(Organisation)
    query = select(Case.id, Case.number, Case.title, Case.status, Case.priority,
                   Category.name_zh.label("category"), Community.name.label("community"),
                   Grid.name.label("grid"), Building.name.label("building"), org.name.label("organisation"),
                   Case.created_at, Case.stage_due_at, Case.due_at, Case.resolved_at, Case.closed_at,
                   Case.resolution, Case.satisfaction, Case.return_count, Case.extension_count,
                   Case.parked_at).select_from(Case)
    return (query.join(Category, Category.id == Case.category_id).join(Community, Community.id == Case.community_id)
            .join(Grid, Grid.id == Case.grid_id).join(Building, Building.id == Case.building_id)
            .outerjoin(org, org.id == Case.assigned_org_id)
            .where(*where).order_by(Case.created_at, Case.id))

"""Assisting parts per organisation (协办): asked, done, done on time, waived, still open.

Definitions in docs/metrics.md ("Assisting parts"). Counted live on `case_assist` (a small table:
one row per assisting organisation per case), grouped by the assisting organisation, over the parts
asked for in the period on cases the report covers; a handler also sees its own parts on cases it
does not lead.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case as sql_case, func, or_, select

from casework import access
from casework.extensions import db
from casework.models import Case, CaseAssist, Organisation
from casework.services.reports.scope import Period, Scope, covered, in_period


@dataclass(frozen=True)
class AssistRow:
    """One assisting organisation's parts in the period."""

    organisation_id: int
    name: str
    requested: int   # parts asked for in the period
    done: int        # ... reported done by the assisting organisation
    judged: int      # ... done, with a due time to judge against
    on_time: int     # ... done by the due time
    waived: int      # ... closed by the lead without the part (with a reason)
    open: int        # ... still open now

    @property
    def on_time_rate(self) -> float | None:
        """Done on time out of the done parts that had a due time (None: none to judge)."""
        return self.on_time / self.judged if self.judged else None


def _as_int(expr):
    return func.coalesce(func.sum(sql_case((expr, 1), else_=0)), 0)


def assist_rows(user: access.Who, scope: Scope, period: Period) -> list[AssistRow]:
    """Each assisting organisation's parts asked for in the period, on the cases the report covers."""
    j = access.jurisdiction_of(user)
    where = covered(j, scope)
    if j.role == "handler" and j.organisation_id is not None:
        where = or_(where, and_(CaseAssist.organisation_id == j.organisation_id,
                                *([Case.community_id == scope.community_id] if scope.community_id else []),
                                *([Case.grid_id == scope.grid_id] if scope.grid_id else [])))
    a = CaseAssist
    stmt = (select(a.organisation_id, Organisation.name, func.count(),
                   _as_int(a.done_at.is_not(None)),
                   _as_int(and_(a.done_at.is_not(None), a.due_at.is_not(None))),
                   _as_int(and_(a.done_at.is_not(None), a.due_at.is_not(None), a.done_at <= a.due_at)),
                   _as_int(a.waived_at.is_not(None)),
                   _as_int(and_(a.done_at.is_(None), a.waived_at.is_(None))))
            .join(Case, Case.id == a.case_id).join(Organisation, Organisation.id == a.organisation_id)
            .where(where, in_period(a.requested_at, period))
            .group_by(a.organisation_id, Organisation.name).order_by(Organisation.name, a.organisation_id))
    return [AssistRow(*(int(v) if i != 1 else v for i, v in enumerate(row))) for row in db.session.execute(stmt)]

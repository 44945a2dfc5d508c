"""Jurisdiction moves on the dashboard (各级联动): re-routes and arbitrations per community.

Definitions in docs/metrics.md ("Jurisdiction moves"). Counted live from the timeline: these events
are few (a handful per community a week), and each row keeps the grid the case left and the grid it
went to (`case_event.from_grid_id` / `to_grid_id`), so no rollup is needed.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case as when, func, select

from casework import access
from casework.extensions import db
from casework.models import CaseEvent, Community, Grid
from casework.services.reports.scope import Period, Scope


@dataclass(frozen=True)
class MoveRow:
    community_id: int
    community: str
    reroutes: int      # the case left a grid of this community for another grid
    arbitrations: int  # a supervisor arbitrated a case that was in this community


def moves_by_community(who: access.Who, scope: Scope, period: Period) -> list[MoveRow]:
    """Re-routes and arbitrations in the period, per community the case was in before the move."""
    j = access.jurisdiction_of(who)
    if j.role not in access.SUPERVISORS:
        return []
    src = Grid.__table__.alias("src")
    moved = and_(CaseEvent.to_grid_id.is_not(None), CaseEvent.to_grid_id != CaseEvent.from_grid_id)
    query = (
        select(Community.id, Community.name,
               func.sum(when((moved, 1), else_=0)),
               func.sum(when((CaseEvent.event == "arbitrate", 1), else_=0)))
        .select_from(CaseEvent)
        .join(src, src.c.id == CaseEvent.from_grid_id)
        .join(Community, Community.id == src.c.community_id)
        .where(CaseEvent.kind == "transition", CaseEvent.from_grid_id.is_not(None),
               CaseEvent.created_at >= period.lo, CaseEvent.created_at < period.hi,
               j.over(community=src.c.community_id, grid=src.c.id, building=None, org=None))
        .group_by(Community.id, Community.name).order_by(Community.id)
    )
    if scope.community_id is not None:
        query = query.where(src.c.community_id == scope.community_id)
    if scope.grid_id is not None:
        query = query.where(src.c.id == scope.grid_id)
    return [MoveRow(cid, name, int(r or 0), int(a or 0))
            for cid, name, r, a in db.session.execute(query) if (r or a)]

"""What a report covers: its parameters (period, place, grouping) and the cases and rollup rows
inside the user's jurisdiction that they select."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement, and_, literal_column, or_, select, true,
)

from casework import access
from casework.extensions import db
from casework.models import (
    Case, Community, Grid, User, user_buildings,
)
from casework.models.cases import ReportTally
from casework.services import tallies
from casework.services.errors import NotFound
from casework.timekeeping import now as clock_now

DIMENSIONS = ("community", "grid", "building", "leader", "organisation", "category")
DIMENSION_LABELS = {"community": _l("社区"), "grid": _l("网格"), "building": _l("楼栋"), "leader": _l("楼栋长"),
                    "organisation": _l("承办单位"), "category": _l("类别")}
SUPERVISOR_ROLES = ("community_supervisor", "subdistrict_supervisor")
# Who picks a grid on the dashboard: supervisors among their community's grids, grid staff among theirs.
GRID_PICKERS = SUPERVISOR_ROLES + ("grid_staff",)
MAX_YEARS = 3


@dataclass(frozen=True)
class Period:
    """Whole days from start to end, both inclusive."""

    start: dt.date
    end: dt.date

    @property
    def lo(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time())

    @property
    def hi(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time())

    @classmethod
    def last_days(cls, days: int = 30, today: dt.date | None = None) -> Period:
        today = today or clock_now().date()
        return cls(today - dt.timedelta(days=days - 1), today)


def latest_end(start: dt.date) -> dt.date:
    """The last end date allowed for a period starting on `start` (three years on)."""
    try:
        return start.replace(year=start.year + MAX_YEARS)
    except ValueError:  # 29 February
        return start.replace(year=start.year + MAX_YEARS, day=28)


@dataclass(frozen=True)
class Scope:
    """The part of the user's jurisdiction the report covers."""

    community_id: int | None = None
    grid_id: int | None = None


def dimensions_for(user: User) -> tuple[str, ...]:
    """Group-by choices, each level below the user's own: a handler ranks only places and categories
    of its own cases; grid staff see their grids by building; building leaders their buildings."""
    if user.role == "handler":
        return ("community", "grid", "category")
    if user.role == "grid_staff":
        return ("building", "grid", "leader", "organisation", "category")
    if user.role == "building_leader":
        return ("building", "organisation", "category")
    return DIMENSIONS


def default_dimension(user: User) -> str:
    """The grouping a user's dashboard opens with: one level below their own."""
    return {"subdistrict_supervisor": "community", "grid_staff": "building",
            "building_leader": "building"}.get(user.role, "grid")


def communities_for(user: access.Who) -> list[Community]:
    """Communities a supervisor may pick: those of their jurisdiction."""
    if user.role not in SUPERVISOR_ROLES:
        return []
    j = access.jurisdiction_of(user)
    return list(db.session.scalars(select(Community).where(j.communities()).order_by(Community.id)))


def grids_for(user: access.Who) -> list[Grid]:
    """Grids a supervisor or grid staff may pick: those of their jurisdiction."""
    if user.role not in GRID_PICKERS:
        return []
    j = access.jurisdiction_of(user)
    return list(db.session.scalars(select(Grid).where(j.grids()).order_by(Grid.id)))


def check_scope(user: User, scope: Scope) -> Grid | None:
    """Refuse a community or grid outside the user's jurisdiction (404); return the grid picked."""
    allowed = {c.id for c in communities_for(user)}
    if scope.community_id is not None and scope.community_id not in allowed:
        raise NotFound(_l("您要找的内容不存在，或不在您的辖区内。"))
    grid = None
    if scope.grid_id is not None:
        grid = db.session.get(Grid, scope.grid_id)
        if grid is None or grid.id not in {g.id for g in grids_for(user)}:
            raise NotFound(_l("您要找的内容不存在，或不在您的辖区内。"))
    return grid


def _covered(user: access.Who, scope: Scope, community, grid, building, org) -> ColumnElement[bool]:
    """The user's jurisdiction over these columns, narrowed by the chosen place."""
    conds = [access.jurisdiction_of(user).over(community=community, grid=grid, building=building, org=org)]
    if scope.community_id is not None:
        conds.append(community == scope.community_id)
    if scope.grid_id is not None:
        conds.append(grid == scope.grid_id)
    return and_(true(), *conds)


def covered(user: access.Who, scope: Scope) -> ColumnElement[bool]:
    """The cases the report covers: the user's jurisdiction, narrowed by the chosen place.

    A handler sees cases assigned to it or returned by it; its reports count the cases currently
    assigned to it (`Jurisdiction.over` with the current organisation), as the rollups do.
    """
    return _covered(user, scope, Case.community_id, Case.grid_id, Case.building_id, Case.assigned_org_id)


def covered_rollup(user: access.Who, scope: Scope) -> ColumnElement[bool]:
    """The same cases, as rollup rows (the rollup keeps each case's place and current organisation)."""
    t = ReportTally
    return _covered(user, scope, t.community_id, t.grid_id, t.building_id, t.org_id)


def rollup_slices(period: Period, span, slice_) -> ColumnElement[bool]:
    """Rollup rows covering the period exactly: whole ISO weeks, plus the single days at either end."""
    first = period.start + dt.timedelta(days=-period.start.weekday() % 7)  # first Monday on or after start
    after = period.end + dt.timedelta(days=1)
    stop = after - dt.timedelta(days=after.weekday())                      # Monday after the last whole week
    if first >= stop:
        return and_(span == tallies.DAY, slice_ >= period.start, slice_ <= period.end)
    return or_(and_(span == tallies.WEEK, slice_ >= first, slice_ < stop),
               and_(span == tallies.DAY, or_(and_(slice_ >= period.start, slice_ < first),
                                            and_(slice_ >= stop, slice_ <= period.end))))


def in_period(column, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.lo, column < period.hi)


def building_leaders():
    """building → its building leader(s)."""
    return (select(user_buildings.c.building_id, user_buildings.c.user_id.label("leader_id"))
            .join(User, User.id == user_buildings.c.user_id)
            .where(User.role == "building_leader").subquery("leaders"))


def leaders_of_buildings() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    leaders = building_leaders()
    for building_id, leader_id in db.session.execute(select(leaders.c.building_id, leaders.c.leader_id)):
        out.setdefault(building_id, []).append(leader_id)
    return out


class Grouping:
    """The group key of a dimension on the rollup and on the case table.

    Every dimension but the leader is a partition of the cases. A building may have several leaders
    or none, so the leader dimension is counted per building and folded onto the leaders.
    """

    def __init__(self, dim: str | None):
        self.dim = dim

    @property
    def base(self) -> str | None:
        return "building" if self.dim == "leader" else self.dim

    def tally_key(self):
        t = ReportTally
        return {None: literal_column("0"), "community": t.community_id, "grid": t.grid_id,
                "category": t.category_id, "organisation": t.org_id, "building": t.building_id}[self.base]

    def case_key(self):
        return {None: literal_column("0"), "community": Case.community_id, "grid": Case.grid_id,
                "category": Case.category_id, "organisation": Case.assigned_org_id,
                "building": Case.building_id}[self.base]

    def only(self, group: int) -> ColumnElement[bool]:
        """Cases in one group; 0 stands for the "none" group (no handler, no leader)."""
        if self.dim == "leader":
            leaders = building_leaders()
            if group == 0:
                return Case.building_id.not_in(select(leaders.c.building_id))
            return Case.building_id.in_(select(leaders.c.building_id).where(leaders.c.leader_id == group))
        key = self.case_key()
        return key.is_(None) if group == 0 else key == group

    def fold(self, per_base: dict) -> dict:
        """Base-key figures → the dimension's groups (org 0 is "none"; buildings onto their leaders)."""
        if self.dim == "organisation":
            return {(k or None): f for k, f in per_base.items()}
        if self.dim != "leader":
            return per_base
        leaders = leaders_of_buildings()
        out: dict = {}
        for building, figures in per_base.items():
            for leader in leaders.get(building, [None]):
                out[leader] = out[leader] + figures if leader in out else figures
        return out

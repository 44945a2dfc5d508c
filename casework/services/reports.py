"""Timeliness figures for supervisors, computed in SQL on SQLite and PostgreSQL.

Definitions live in docs/metrics.md; every function here implements one of them. Python only
merges per-group rows (a handful) and fills empty weeks; it never loops over cases.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement, Select, and_, case as case_when, func, literal, literal_column, or_, select, text, union_all,
)
from sqlalchemy.orm import aliased

from casework import access
from casework.extensions import db
from casework.models import (
    Building, Case, CaseEvent, Category, Community, Extension, Grid, Organisation, User, user_buildings,
)
from casework.services.errors import NotFound
from casework.timekeeping import now as clock_now

DIMENSIONS = ("community", "grid", "leader", "organisation", "category")
DIMENSION_LABELS = {"community": _l("社区"), "grid": _l("网格"), "leader": _l("楼栋长"),
                    "organisation": _l("承办单位"), "category": _l("类别")}
# The stages a case passes, in order; the key is the status the stage keeps the case in.
STAGES = ("reported", "triage", "building_leader", "handling", "resolved")
STAGE_LABELS = {"reported": _l("签收"), "triage": _l("研判派单"), "building_leader": _l("楼栋长处理"),
                "handling": _l("承办"), "resolved": _l("回访")}
FIGURES = ("received", "responded_late", "late", "on_time", "overdue", "returned", "reopened",
           "dissatisfied", "extended")
SUPERVISOR_ROLES = ("community_supervisor", "subdistrict_supervisor")
MAX_YEARS = 3
OVERDUE_LIMIT = 100
GOOD_SATISFACTION = ("satisfied", "basically_satisfied")


# --- parameters -----------------------------------------------------------------------------

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


def may_view_reports(user: User) -> bool:
    """Supervisors see their area; a handler sees its own organisation."""
    if user.role == "handler":
        return user.organisation_id is not None
    if user.role == "community_supervisor":
        return user.community_id is not None
    return user.role == "subdistrict_supervisor"


def dimensions_for(user: User) -> tuple[str, ...]:
    """Group-by choices: a handler ranks only places and categories of its own cases."""
    if user.role == "handler":
        return ("community", "grid", "category")
    return DIMENSIONS


def communities_for(user: User) -> list[Community]:
    """Communities the user may pick."""
    query = select(Community).order_by(Community.id)
    if user.role == "community_supervisor":
        query = query.where(Community.id == user.community_id)
    elif user.role != "subdistrict_supervisor":
        return []
    return list(db.session.scalars(query))


def grids_for(user: User) -> list[Grid]:
    """Grids the user may pick."""
    query = select(Grid).order_by(Grid.id)
    if user.role == "community_supervisor":
        query = query.where(Grid.community_id == user.community_id)
    elif user.role != "subdistrict_supervisor":
        return []
    return list(db.session.scalars(query))


def check_scope(user: User, scope: Scope) -> Grid | None:
    """Refuse a community or grid outside the user's jurisdiction (404); return the grid picked."""
    allowed = {c.id for c in communities_for(user)}
    if scope.community_id is not None and scope.community_id not in allowed:
        raise NotFound(_l("您要找的内容不存在，或不在您的辖区内。"))
    grid = None
    if scope.grid_id is not None:
        grid = db.session.get(Grid, scope.grid_id)
        if grid is None or grid.community_id not in allowed:
            raise NotFound(_l("您要找的内容不存在，或不在您的辖区内。"))
    return grid


# --- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rate:
    num: int = 0
    den: int = 0

    @property
    def value(self) -> float | None:
        return self.num / self.den if self.den else None

    @property
    def percent(self) -> str:
        """71.4% — or "—" when nothing was judged."""
        return "—" if not self.den else f"{100 * self.num / self.den:.1f}%"

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.num + other.num, self.den + other.den)


@dataclass
class Figures:
    received: int = 0
    response: Rate = field(default_factory=Rate)
    on_time: Rate = field(default_factory=Rate)
    resolution: Rate = field(default_factory=Rate)
    satisfaction: Rate = field(default_factory=Rate)
    returns: int = 0
    extensions: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.received + other.received, self.response + other.response,
                       self.on_time + other.on_time, self.resolution + other.resolution,
                       self.satisfaction + other.satisfaction, self.returns + other.returns,
                       self.extensions + other.extensions)


@dataclass
class GroupRow:
    key: int | None
    label: str
    figures: Figures
    rank: int = 0


@dataclass
class StageTime:
    status: str
    count: int
    median_seconds: int
    p90_seconds: int

    @property
    def label(self):
        return STAGE_LABELS[self.status]


@dataclass
class Week:
    monday: dt.date
    received: int = 0
    completed: int = 0

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass
class OverdueCase:
    id: int
    number: str
    title: str
    status: str
    priority: str
    stage_due_at: dt.datetime
    late: dt.timedelta


@dataclass
class Report:
    period: Period
    scope: Scope
    dim: str
    now: dt.datetime
    totals: Figures
    stages: list[StageTime]
    ranking: list[GroupRow]
    weeks: list[Week]
    overdue: list[OverdueCase]
    overdue_total: int


# --- building blocks ------------------------------------------------------------------------

def _where(user: User, scope: Scope) -> ColumnElement[bool]:
    """The cases the report covers: the user's scope, narrowed by the chosen place."""
    conds = [access.scope_clause(user)]
    if user.role == "handler":
        conds.append(Case.assigned_org_id == user.organisation_id)
    if scope.community_id is not None:
        conds.append(Case.community_id == scope.community_id)
    if scope.grid_id is not None:
        conds.append(Case.grid_id == scope.grid_id)
    return and_(*conds)


def _leaders():
    """building → its building leader(s)."""
    return (select(user_buildings.c.building_id, user_buildings.c.user_id.label("leader_id"))
            .join(User, User.id == user_buildings.c.user_id)
            .where(User.role == "building_leader").subquery("leaders"))


class _Grouping:
    """The group key for a dimension and the join it needs (only the leader needs one)."""

    def __init__(self, dim: str | None):
        self.dim = dim
        self.leaders = _leaders() if dim == "leader" else None

    @property
    def key(self):
        return {
            None: literal_column("0"), "community": Case.community_id, "grid": Case.grid_id,
            "category": Case.category_id, "organisation": Case.assigned_org_id,
            "leader": self.leaders.c.leader_id if self.leaders is not None else None,
        }[self.dim]

    def group(self, query: Select) -> Select:
        """GROUP BY the key; without a dimension the aggregate is one row for everything."""
        return query if self.dim is None else query.group_by(self.key)

    def join(self, query: Select) -> Select:
        if self.leaders is not None:
            query = query.outerjoin(self.leaders, self.leaders.c.building_id == Case.building_id)
        return query

    def only(self, group: int) -> ColumnElement[bool]:
        """Cases in one group; 0 stands for the "none" group (no handler, no leader)."""
        if self.dim == "leader":
            leaders = _leaders()
            if group == 0:
                return Case.building_id.not_in(select(leaders.c.building_id))
            return Case.building_id.in_(select(leaders.c.building_id).where(leaders.c.leader_id == group))
        key = self.key
        return key.is_(None) if group == 0 else key == group


def _response_event():
    """The move that answered the case: the first (and only) transition out of `reported`."""
    resp = aliased(CaseEvent, name="resp")
    on = and_(resp.case_id == Case.id, resp.kind == "transition", resp.from_status == "reported",
              resp.to_status != "reported")
    return resp, on


class _Predicates:
    """The per-case conditions of docs/metrics.md, shared by the figures and the case lists."""

    def __init__(self, period: Period, at: dt.datetime, resp):
        lo, hi = period.lo, period.hi
        self.received = and_(Case.created_at >= lo, Case.created_at < hi)
        unanswered_late = and_(resp.id.is_(None), Case.status == "reported", Case.stage_due_at < at)
        self.response_judged = and_(self.received, or_(resp.stage_due_at.is_not(None), unanswered_late))
        self.response_ok = and_(self.received, resp.stage_due_at.is_not(None),
                                resp.created_at <= resp.stage_due_at)
        self.response_late = and_(self.received, or_(
            unanswered_late, and_(resp.stage_due_at.is_not(None), resp.created_at > resp.stage_due_at)))
        completion = func.coalesce(Case.resolved_at, Case.closed_at)
        self.due_in = and_(Case.due_at >= lo, Case.due_at < hi)
        self.on_time_judged = and_(self.due_in, or_(completion.is_not(None), Case.due_at < at))
        self.on_time_ok = and_(self.due_in, completion <= Case.due_at)
        self.on_time_late = and_(self.due_in, or_(completion > Case.due_at,
                                                  and_(completion.is_(None), Case.due_at < at)))
        self.completion = completion
        self.overdue = and_(Case.status != "closed", Case.stage_due_at < at)


def _count(cond) -> ColumnElement[int]:
    return func.count(case_when((cond, 1)))


def _in_period(column, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.lo, column < period.hi)


# --- the figures ----------------------------------------------------------------------------

def _case_figures(user, scope, period, at, grouping: _Grouping) -> dict:
    """received, response and on-time counts per group, in one pass over the cases."""
    resp, on = _response_event()
    p = _Predicates(period, at, resp)
    key = grouping.key.label("k")
    query = grouping.join(select(
        key, _count(p.received), _count(p.response_judged), _count(p.response_ok),
        _count(p.on_time_judged), _count(p.on_time_ok),
    ).select_from(Case).outerjoin(resp, on)).where(_where(user, scope), or_(p.received, p.due_in))
    out = {}
    for k, received, r_den, r_num, o_den, o_num in db.session.execute(grouping.group(query)):
        out[k] = dict(received=received, response=Rate(r_num, r_den), on_time=Rate(o_num, o_den))
    return out


def _event_figures(user, scope, period, grouping: _Grouping) -> dict:
    """Returns and call-back outcomes per group, from the timeline rows of the period."""
    key = grouping.key.label("k")
    ev = CaseEvent.event
    close = and_(ev == "close", CaseEvent.from_status == "resolved")
    reopen = and_(ev == "reopen", CaseEvent.from_status == "resolved")
    query = grouping.join(select(
        key, _count(ev == "return_case"), _count(close), _count(reopen),
        _count(and_(close, Case.satisfaction.is_not(None))),
        _count(and_(close, Case.satisfaction.in_(GOOD_SATISFACTION))),
    ).select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)).where(
        _where(user, scope), CaseEvent.kind == "transition", _in_period(CaseEvent.created_at, period),
        ev.in_(("return_case", "close", "reopen")))
    out = {}
    for k, returns, closed, reopened, rated, good in db.session.execute(grouping.group(query)):
        out[k] = dict(returns=returns, resolution=Rate(closed, closed + reopened), satisfaction=Rate(good, rated))
    return out


def _extension_figures(user, scope, period, grouping: _Grouping) -> dict:
    """Approved extensions asked for in the period, per group."""
    key = grouping.key.label("k")
    query = grouping.join(select(key, func.count(Extension.id)).select_from(Extension)
                          .join(Case, Case.id == Extension.case_id)).where(
        _where(user, scope), Extension.kind == "extend", Extension.state == "approved",
        _in_period(Extension.created_at, period))
    return {k: dict(extensions=n) for k, n in db.session.execute(grouping.group(query))}


def _figures(user, scope, period, at, dim: str | None) -> dict:
    """All figures per group key (a single key 0 when dim is None)."""
    grouping = _Grouping(dim)
    parts = [_case_figures(user, scope, period, at, grouping), _event_figures(user, scope, period, grouping),
             _extension_figures(user, scope, period, grouping)]
    merged: dict = {}
    for part in parts:
        for k, values in part.items():
            merged.setdefault(k, {}).update(values)
    return {k: Figures(**values) for k, values in merged.items()}


def _covers_everything(user: User, scope: Scope) -> bool:
    """Whether the report spans every case, so event queries need no join to the case table."""
    return user.role == "subdistrict_supervisor" and scope.community_id is None and scope.grid_id is None


def _stage_rows(user, scope, period, *columns) -> Select:
    """Timeline rows that ended a stage in the period, inside the report's cases."""
    query = select(*columns).select_from(CaseEvent)
    conds = [CaseEvent.kind == "transition", _in_period(CaseEvent.created_at, period),
             CaseEvent.stage_seconds.is_not(None), CaseEvent.from_status != CaseEvent.to_status,
             CaseEvent.from_status.in_(STAGES)]
    if not _covers_everything(user, scope):
        query = query.join(Case, Case.id == CaseEvent.case_id)
        conds.append(_where(user, scope))
    return query.where(*conds)


def stage_times_window(user, scope, period) -> list[tuple]:
    """Nearest-rank median and p90 per stage with ROW_NUMBER/COUNT windows (any database)."""
    ranked = _stage_rows(
        user, scope, period,
        CaseEvent.from_status.label("status"), CaseEvent.stage_seconds.label("s"),
        func.row_number().over(partition_by=CaseEvent.from_status, order_by=CaseEvent.stage_seconds).label("rn"),
        func.count().over(partition_by=CaseEvent.from_status).label("n"),
    ).subquery("ranked")
    # ceil(n * p / 100) in integer arithmetic (// is integer division on both databases).
    median_rank = (ranked.c.n * 50 + 99) // 100
    p90_rank = (ranked.c.n * 90 + 99) // 100
    query = (select(ranked.c.status, func.max(ranked.c.n),
                    func.max(case_when((ranked.c.rn == median_rank, ranked.c.s))),
                    func.max(case_when((ranked.c.rn == p90_rank, ranked.c.s))))
             .where(or_(ranked.c.rn == median_rank, ranked.c.rn == p90_rank)).group_by(ranked.c.status))
    return [tuple(row) for row in db.session.execute(query)]


def stage_times_percentile(user, scope, period) -> list[tuple]:
    """The same on PostgreSQL with percentile_disc (no window materialised)."""
    query = _stage_rows(user, scope, period, CaseEvent.from_status, func.count(),
                        func.percentile_disc(0.5).within_group(CaseEvent.stage_seconds),
                        func.percentile_disc(0.9).within_group(CaseEvent.stage_seconds)
                        ).group_by(CaseEvent.from_status)
    return [tuple(row) for row in db.session.execute(query)]


def stage_times(user, scope, period) -> list[StageTime]:
    """Median and 90th percentile of working time per stage, in workflow order."""
    if db.session.get_bind().dialect.name == "postgresql":
        rows = stage_times_percentile(user, scope, period)
    else:
        rows = stage_times_window(user, scope, period)
    found = {status: StageTime(status, int(n), int(med), int(p90)) for status, n, med, p90 in rows}
    return [found[s] for s in STAGES if s in found]


def _week_start(column):
    """The Monday 00:00 of the ISO week holding `column`."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("week", column)
    return func.date(column, "weekday 0", "-6 days")


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def weekly_trend(user, scope, period) -> list[Week]:
    """Cases received and completed per ISO week of the period (empty weeks included)."""
    completion = func.coalesce(Case.resolved_at, Case.closed_at)
    received = (select(_week_start(Case.created_at).label("w"), literal("r").label("what"))
                .where(_where(user, scope), _in_period(Case.created_at, period)))
    completed = (select(_week_start(completion).label("w"), literal("c").label("what"))
                 .where(_where(user, scope), _in_period(completion, period)))
    both = union_all(received, completed).subquery("weeks")
    query = select(both.c.w, both.c.what, func.count()).group_by(both.c.w, both.c.what)
    counts = {(_as_date(w), what): n for w, what, n in db.session.execute(query)}
    first = period.start - dt.timedelta(days=period.start.weekday())
    weeks = []
    monday = first
    while monday <= period.end:
        weeks.append(Week(monday, counts.get((monday, "r"), 0), counts.get((monday, "c"), 0)))
        monday += dt.timedelta(days=7)
    return weeks


def overdue_cases(user, scope, at, limit: int = OVERDUE_LIMIT) -> tuple[list[OverdueCase], int]:
    """Open cases past their current stage's due time, most late first, and how many there are."""
    cond = and_(_where(user, scope), Case.status != "closed", Case.stage_due_at < at)
    total = db.session.scalar(select(func.count()).select_from(Case).where(cond)) or 0
    rows = db.session.execute(
        select(Case.id, Case.number, Case.title, Case.status, Case.priority, Case.stage_due_at)
        .where(cond).order_by(Case.stage_due_at, Case.id).limit(limit))
    return [OverdueCase(i, number or "", title, status, prio, due, at - due)
            for i, number, title, status, prio, due in rows], total


def group_labels(dim: str, keys, english: bool = False) -> dict:
    """Names for the group keys of a dimension (one query)."""
    ids = [k for k in keys if k is not None]
    if dim == "community":
        rows = db.session.execute(select(Community.id, Community.name).where(Community.id.in_(ids)))
    elif dim == "grid":
        rows = db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(ids)))
    elif dim == "category":
        name = Category.name_en if english else Category.name_zh
        rows = db.session.execute(select(Category.id, name).where(Category.id.in_(ids)))
    elif dim == "organisation":
        rows = db.session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids)))
    else:
        rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    names = {k: str(v) for k, v in rows}
    names[None] = str(_l("未设楼栋长") if dim == "leader" else _l("未转承办单位") if dim == "organisation"
                      else _l("（无）"))
    return names


def _ranked(rows: list[GroupRow]) -> list[GroupRow]:
    """Order by on-time rate, then response rate, then received; equal keys share a rank."""
    def sort_key(r: GroupRow):
        f = r.figures
        return (f.on_time.value is None, -(f.on_time.value or 0), -(f.response.value or 0), -f.received)
    rows.sort(key=lambda r: (sort_key(r), r.label))
    previous = None
    for position, row in enumerate(rows, start=1):
        key = sort_key(row)
        row.rank = rows[position - 2].rank if key == previous else position
        previous = key
    return rows


def ranking(user, scope, period, at, dim: str, english: bool = False,
            per_group: dict | None = None) -> list[GroupRow]:
    """The figures per group of the dimension, ranked."""
    if per_group is None:
        per_group = _figures(user, scope, period, at, dim)
    names = group_labels(dim, per_group.keys(), english)
    return _ranked([GroupRow(k, names.get(k, str(k)), f) for k, f in per_group.items()])


# Every case falls in exactly one group of these, so the totals are the sum of the groups. A
# building can have several leaders or none, so "leader" needs its own totals query.
PARTITIONS = ("community", "grid", "organisation", "category")


def build_report(user: User, period: Period, scope: Scope, dim: str, *, at: dt.datetime | None = None,
                 english: bool = False) -> Report:
    """Everything the dashboard shows, for one user, period, place and grouping."""
    at = at or clock_now()
    if db.session.get_bind().dialect.name == "postgresql":
        # A year of a busy subdistrict sorts and hashes millions of rows: keep them in memory.
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
    per_group = _figures(user, scope, period, at, dim)
    if dim in PARTITIONS:
        totals = sum(per_group.values(), Figures())
    else:
        totals = _figures(user, scope, period, at, None).get(0, Figures())
    overdue, overdue_total = overdue_cases(user, scope, at)
    return Report(period=period, scope=scope, dim=dim, now=at, totals=totals,
                  stages=stage_times(user, scope, period),
                  ranking=ranking(user, scope, period, at, dim, english, per_group),
                  weeks=weekly_trend(user, scope, period), overdue=overdue, overdue_total=overdue_total)


# --- the case list behind a figure ----------------------------------------------------------

def _events_in(period: Period, *conds) -> Select:
    return select(CaseEvent.case_id).where(CaseEvent.kind == "transition",
                                           _in_period(CaseEvent.created_at, period), *conds)


def figure_cases(user: User, period: Period, scope: Scope, figure: str, *, dim: str | None = None,
                 group: int | None = None, at: dt.datetime | None = None) -> Select:
    """A statement listing the cases behind one figure (no resident's name, phone or room)."""
    at = at or clock_now()
    resp, on = _response_event()
    p = _Predicates(period, at, resp)
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
            Extension.kind == "extend", Extension.state == "approved", _in_period(Extension.created_at, period))),
    }
    where = [_where(user, scope), conds[figure]]
    if dim is not None and group is not None:
        where.append(_Grouping(dim).only(group))
    org = aliased(Organisation)
    query = select(Case.id, Case.number, Case.title, Case.status, Case.priority,
                   Category.name_zh.label("category"), Community.name.label("community"),
                   Grid.name.label("grid"), Building.name.label("building"), org.name.label("organisation"),
                   Case.created_at, Case.stage_due_at, Case.due_at, Case.resolved_at, Case.closed_at,
                   Case.resolution, Case.satisfaction, Case.return_count, Case.extension_count).select_from(Case)
    if figure == "responded_late":
        query = query.outerjoin(resp, on)
    return (query.join(Category, Category.id == Case.category_id).join(Community, Community.id == Case.community_id)
            .join(Grid, Grid.id == Case.grid_id).join(Building, Building.id == Case.building_id)
            .outerjoin(org, org.id == Case.assigned_org_id)
            .where(*where).order_by(Case.created_at, Case.id))

__all__ = [
    "DIMENSIONS", "FIGURES", "Period", "Scope", "Report", "Figures", "Rate", "build_report",
    "figure_cases", "may_view_reports", "check_scope", "stage_times",
]

"""Timeliness figures for supervisors, computed in SQL on SQLite and PostgreSQL.

Definitions live in docs/metrics.md; every function here implements one of them. Most figures are
sums over the rollups kept by `services/tallies.py` (whole ISO weeks plus the days at either end of
the period); what depends on "now" (cases still unanswered or not completed) and the extensions are
counted live on the small part of the case table they concern. Python only merges per-group rows (a
handful) and fills empty weeks; it never loops over cases.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger, ColumnElement, Select, and_, case as case_when, cast, false, func, literal, literal_column, or_, select, true,
)
from sqlalchemy.orm import aliased

from casework import access
from casework.extensions import db
from casework.models import (
    Building, Case, CaseEvent, Category, Community, Extension, Grid, Organisation, User, user_buildings,
)
from casework.models.cases import ReportTally, StageTally
from casework.services import tallies
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


def dimensions_for(user: User) -> tuple[str, ...]:
    """Group-by choices: a handler ranks only places and categories of its own cases."""
    if user.role == "handler":
        return ("community", "grid", "category")
    return DIMENSIONS


def communities_for(user: access.Who) -> list[Community]:
    """Communities a supervisor may pick: those of their jurisdiction."""
    if user.role not in SUPERVISOR_ROLES:
        return []
    j = access.jurisdiction_of(user)
    return list(db.session.scalars(select(Community).where(j.communities()).order_by(Community.id)))


def grids_for(user: access.Who) -> list[Grid]:
    """Grids a supervisor may pick: those of their jurisdiction."""
    if user.role not in SUPERVISOR_ROLES:
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

def _where(user: access.Who, scope: Scope) -> ColumnElement[bool]:
    """The cases the report covers: the user's jurisdiction, narrowed by the chosen place.

    A handler sees cases assigned to it or returned by it; its reports count the cases currently
    assigned to it (`Jurisdiction.over` with the current organisation), as the rollups do.
    """
    conds = [access.jurisdiction_of(user).over(community=Case.community_id, grid=Case.grid_id,
                                               building=Case.building_id, org=Case.assigned_org_id)]
    if scope.community_id is not None:
        conds.append(Case.community_id == scope.community_id)
    if scope.grid_id is not None:
        conds.append(Case.grid_id == scope.grid_id)
    return and_(*conds)


def _tally_where(user: access.Who, scope: Scope) -> ColumnElement[bool]:
    """The same cases, as rollup rows (the rollup keeps each case's place and current organisation)."""
    t = ReportTally
    conds = [access.jurisdiction_of(user).over(community=t.community_id, grid=t.grid_id,
                                               building=t.building_id, org=t.org_id)]
    if scope.community_id is not None:
        conds.append(t.community_id == scope.community_id)
    if scope.grid_id is not None:
        conds.append(t.grid_id == scope.grid_id)
    return and_(true(), *conds)


def _slices(period: Period, span, slice_) -> ColumnElement[bool]:
    """Rollup rows covering the period exactly: whole ISO weeks, plus the single days at either end."""
    first = period.start + dt.timedelta(days=-period.start.weekday() % 7)  # first Monday on or after start
    after = period.end + dt.timedelta(days=1)
    stop = after - dt.timedelta(days=after.weekday())                      # Monday after the last whole week
    if first >= stop:
        return and_(span == tallies.DAY, slice_ >= period.start, slice_ <= period.end)
    return or_(and_(span == tallies.WEEK, slice_ >= first, slice_ < stop),
               and_(span == tallies.DAY, or_(and_(slice_ >= period.start, slice_ < first),
                                            and_(slice_ >= stop, slice_ <= period.end))))


def _leaders():
    """building → its building leader(s)."""
    return (select(user_buildings.c.building_id, user_buildings.c.user_id.label("leader_id"))
            .join(User, User.id == user_buildings.c.user_id)
            .where(User.role == "building_leader").subquery("leaders"))


def _leaders_of_buildings() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    leaders = _leaders()
    for building_id, leader_id in db.session.execute(select(leaders.c.building_id, leaders.c.leader_id)):
        out.setdefault(building_id, []).append(leader_id)
    return out


class _Grouping:
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
            leaders = _leaders()
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
        leaders = _leaders_of_buildings()
        out: dict = {}
        for building, figures in per_base.items():
            for leader in leaders.get(building, [None]):
                out[leader] = out.get(leader, Figures()) + figures
        return out


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
        self.on_time_late = and_(self.due_in, or_(completion > Case.due_at,
                                                  and_(completion.is_(None), Case.due_at < at)))
        self.overdue = and_(Case.status != "closed", Case.stage_due_at < at)


def _in_period(column, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.lo, column < period.hi)


# --- the figures ----------------------------------------------------------------------------

def _tally_figures(user, scope, period, grouping: _Grouping) -> dict:
    """Everything the rollup holds, per group: one indexed range of whole weeks and edge days."""
    t = ReportTally
    key = grouping.tally_key().label("k")
    sums = [func.coalesce(func.sum(getattr(t, c)), 0) for c in (
        "received", "resp_judged", "resp_ok", "due_judged", "due_ok", "closes", "reopens", "rated", "good",
        "returns", "extensions")]
    query = select(key, *sums).where(_slices(period, t.span, t.slice), _tally_where(user, scope))
    if grouping.dim is not None:
        query = query.group_by(key)
    out = {}
    for k, received, r_den, r_num, o_den, o_num, closes, reopens, rated, good, returns, extensions in (
            db.session.execute(query)):
        out[k] = Figures(received=received, response=Rate(r_num, r_den), on_time=Rate(o_num, o_den),
                         resolution=Rate(closes, closes + reopens), satisfaction=Rate(good, rated),
                         returns=returns, extensions=extensions)
    return out


def _live_figures(user, scope, period, at, grouping: _Grouping) -> dict:
    """What depends on "now", per group: counted on the few cases not answered / not completed yet."""
    key = grouping.case_key().label("k")
    where = _where(user, scope)

    def grouped(query):
        return query if grouping.dim is None else query.group_by(key)

    out: dict = {}
    # Still waiting to be signed for, and the sign-for due time has passed: judged, late.
    unanswered = grouped(select(key, func.count()).where(
        where, Case.status == "reported", _in_period(Case.created_at, period), Case.stage_due_at < at))
    for k, n in db.session.execute(unanswered):
        out[k] = out.get(k, Figures()) + Figures(response=Rate(0, n))
    # Not completed, and the whole-case due time (in the period) has passed: judged, late.
    overdue = grouped(select(key, func.count()).where(
        where, Case.resolved_at.is_(None), Case.closed_at.is_(None), _in_period(Case.due_at, period),
        Case.due_at < at))
    for k, n in db.session.execute(overdue):
        out[k] = out.get(k, Figures()) + Figures(on_time=Rate(0, n))
    return out


def _base_figures(user, scope, period, at, grouping: _Grouping) -> dict:
    per_base = _tally_figures(user, scope, period, grouping)
    for k, figures in _live_figures(user, scope, period, at, grouping).items():
        k = k or 0 if grouping.base == "organisation" else k  # rollup: org 0; cases: NULL
        per_base[k] = per_base.get(k, Figures()) + figures
    # A group left with nothing (its cases moved to another organisation) is not shown.
    return {k: f for k, f in per_base.items() if f != Figures() or grouping.dim is None}


def _figures(user, scope, period, at, dim: str | None) -> dict:
    """All figures per group key (a single key 0 when dim is None)."""
    grouping = _Grouping(dim)
    return grouping.fold(_base_figures(user, scope, period, at, grouping))


def _stage_scope(user: access.Who, scope: Scope) -> ColumnElement[bool]:
    """StageTally rows for the report's cases: one organisation's, some grids', or the whole subdistrict's."""
    t = StageTally
    j = access.jurisdiction_of(user)
    if j.role == "handler":
        return and_(t.scope == "o", t.scope_id == j.organisation_id) if j.organisation_id else false()
    if j.role == "building_leader":
        return false()  # the rollup is kept per grid, not per building
    if scope.grid_id is not None:
        return and_(t.scope == "g", t.scope_id == scope.grid_id)
    if j.sees_all and scope.community_id is None:
        return and_(t.scope == "a", t.scope_id == 0)
    # The grid ids as literals (not a subquery), so each grid's rows are one index range.
    in_community = [Grid.community_id == scope.community_id] if scope.community_id is not None else []
    grids = list(db.session.scalars(select(Grid.id).where(j.grids(), *in_community)))
    return and_(t.scope == "g", t.scope_id.in_(grids))


def _percentiles(histogram) -> Select:
    """Nearest-rank median and p90 per stage from (stage, bucket, n) rows, with window sums."""
    # PostgreSQL sums bigints as numeric: cast back, so that // below stays integer division.
    cum = select(histogram.c.stage, histogram.c.bucket,
                 cast(func.sum(histogram.c.n).over(partition_by=histogram.c.stage, order_by=histogram.c.bucket,
                                                   rows=(None, 0)), BigInteger).label("cum"),
                 cast(func.sum(histogram.c.n).over(partition_by=histogram.c.stage), BigInteger).label("total"),
                 ).subquery("cum")
    # ceil(n * p / 100) in integer arithmetic (// is integer division on both databases).
    median_rank = (cum.c.total * 50 + 99) // 100
    p90_rank = (cum.c.total * 90 + 99) // 100
    return (select(cum.c.stage, func.max(cum.c.total),
                   func.min(case_when((cum.c.cum >= median_rank, cum.c.bucket))),
                   func.min(case_when((cum.c.cum >= p90_rank, cum.c.bucket))))
            .group_by(cum.c.stage))


def stage_times_rollup(user, scope, period) -> list[tuple]:
    """(stage, count, median, p90) from the StageTally histogram."""
    t = StageTally
    histogram = (select(t.stage.label("stage"), t.bucket.label("bucket"), func.sum(t.n).label("n"))
                 .where(_slices(period, t.span, t.slice), _stage_scope(user, scope))
                 .group_by(t.stage, t.bucket).having(func.sum(t.n) > 0).subquery("histogram"))
    return [tuple(row) for row in db.session.execute(_percentiles(histogram))]


def _bucket_sql(seconds):
    """tallies.bucket in SQL: round up to 0.1 h / 1 h / 10 h / 100 h steps (integer arithmetic)."""
    whens = [(seconds <= 0, literal(0))]
    whens += [(seconds <= limit, (seconds + (step - 1)) // step * step) for limit, step in tallies._STEPS]
    return case_when(*whens, else_=(seconds + 359_999) // 360_000 * 360_000)


def stage_times_live(user, scope, period) -> list[tuple]:
    """The same from the timeline rows themselves (the reference the rollup must agree with)."""
    seconds = CaseEvent.stage_seconds
    rows = (select(CaseEvent.from_status.label("stage"), _bucket_sql(seconds).label("bucket"))
            .select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
            .where(_where(user, scope), CaseEvent.kind == "transition", _in_period(CaseEvent.created_at, period),
                   seconds.is_not(None), CaseEvent.from_status != CaseEvent.to_status,
                   CaseEvent.from_status.in_(STAGES)).subquery("rows"))
    histogram = (select(rows.c.stage, rows.c.bucket, func.count().label("n"))
                 .group_by(rows.c.stage, rows.c.bucket).subquery("histogram"))
    return [tuple(row) for row in db.session.execute(_percentiles(histogram))]


def stage_times(user, scope, period) -> list[StageTime]:
    """Median and 90th percentile of working time per stage (bucketed, docs/metrics.md), in workflow order."""
    found = {status: StageTime(status, int(n), int(med), int(p90))
             for status, n, med, p90 in stage_times_rollup(user, scope, period)}
    return [found[s] for s in STAGES if s in found]


def weekly_trend(user, scope, period) -> list[Week]:
    """Cases received and completed per ISO week of the period (empty weeks included)."""
    t = ReportTally
    query = (select(t.span, t.slice, func.sum(t.received), func.sum(t.completed))
             .where(_slices(period, t.span, t.slice), _tally_where(user, scope)).group_by(t.span, t.slice))
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


def build_report(user: access.Who, period: Period, scope: Scope, dim: str, *, at: dt.datetime | None = None,
                 english: bool = False) -> Report:
    """Everything the dashboard shows, for one user, period, place and grouping."""
    at = at or clock_now()
    user = access.jurisdiction_of(user)
    grouping = _Grouping(dim)
    per_base = _base_figures(user, scope, period, at, grouping)
    # The base groups (buildings for the leader dimension) partition the cases: they sum to the totals.
    totals = sum(per_base.values(), Figures())
    overdue, overdue_total = overdue_cases(user, scope, at)
    return Report(period=period, scope=scope, dim=dim, now=at, totals=totals,
                  stages=stage_times(user, scope, period),
                  ranking=ranking(user, scope, period, at, dim, english, grouping.fold(per_base)),
                  weeks=weekly_trend(user, scope, period), overdue=overdue, overdue_total=overdue_total)


# --- the case list behind a figure ----------------------------------------------------------

def _events_in(period: Period, *conds) -> Select:
    return select(CaseEvent.case_id).where(CaseEvent.kind == "transition",
                                           _in_period(CaseEvent.created_at, period), *conds)


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
    return (query.join(Category, Category.id == Case.category_id).join(Community, Community.id == Case.community_id)
            .join(Grid, Grid.id == Case.grid_id).join(Building, Building.id == Case.building_id)
            .outerjoin(org, org.id == Case.assigned_org_id)
            .where(*where).order_by(Case.created_at, Case.id))


__all__ = [
    "DIMENSIONS", "FIGURES", "Period", "Scope", "Report", "Figures", "Rate", "build_report",
    "figure_cases", "check_scope", "stage_times",
]

"""Hotspots (未诉先办): where problems repeat or come back, so supervisors act before the next call.

Definitions (docs/metrics.md, "Hotspots"), all inside the supervisor's jurisdiction and over a
rolling window of WINDOW_DAYS ending now:
- repeated: a building × category with at least REPEAT_MIN cases created in the window
  (merged duplicates not counted);
- came back: a case created in the window whose building × category had a case closed as solved
  within COMEBACK_DAYS before it, or a case reopened (回访不满意重办) in the window;
- property companies with repeat complaints: property companies whose solved cases came back
  (as above) at least COMPANY_MIN times in the window.
The repeated list is one GROUP BY over an index range (ix_case_created); the came-back list and the
companies are one statement of window passes (`_came_back`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from collections import namedtuple

from sqlalchemy import ColumnElement, and_, case, func, literal, literal_column, null, select, union, union_all

from casework import access
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, CaseLink, Category, Organisation, User
from casework.services import intake, transitions
from casework.services.errors import Invalid, NotFound
from casework.timekeeping import now as clock_now

WINDOW_DAYS = 30
REPEAT_MIN = 3
COMEBACK_DAYS = 30
COMPANY_MIN = 2
MAX_ROWS = 50
# A proactive case links to at most this many of the cases that formed its hotspot.
MAX_LINKS = 50


@dataclass(frozen=True)
class Hotspot:
    building_id: int
    building: str
    category_id: int
    category: str
    cases: int          # cases in the window (repeated) or cases that came back (came back)
    open_cases: int
    last_at: dt.datetime


@dataclass(frozen=True)
class CompanyHotspot:
    organisation_id: int
    organisation: str
    came_back: int


@dataclass(frozen=True)
class Hotspots:
    since: dt.datetime
    repeated: list[Hotspot]
    came_back: list[Hotspot]
    companies: list[CompanyHotspot]


def _minus_days(column, days: int) -> ColumnElement:
    """column − days, in the database's own date arithmetic."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column - literal_column(f"interval '{int(days)} days'")
    return func.datetime(column, f"-{int(days)} days")


def _named(rows, english: bool) -> list[Hotspot]:
    rows = list(rows)
    buildings = dict(db.session.execute(select(Building.id, Building.name).where(
        Building.id.in_({r.building_id for r in rows}))).all()) if rows else {}
    name = Category.name_en if english else Category.name_zh
    categories = dict(db.session.execute(select(Category.id, name).where(
        Category.id.in_({r.category_id for r in rows}))).all()) if rows else {}
    return [Hotspot(r.building_id, buildings.get(r.building_id, "?"), r.category_id,
                    categories.get(r.category_id, "?"), r.n, r.open_n or 0, r.last_at) for r in rows]


def _not_duplicate():
    return Case.duplicate_of_id.is_(None)


def find(user: access.Who, *, at: dt.datetime | None = None, english: bool = False) -> Hotspots:
    """The three hotspot lists for this supervisor's jurisdiction, worst first."""
    at = at or clock_now()
    since = at - dt.timedelta(days=WINDOW_DAYS)
    scope = access.jurisdiction_of(user).clause()
    open_n = func.sum(func.cast(Case.status != "closed", db.Integer))

    repeated = db.session.execute(
        select(Case.building_id, Case.category_id, func.count().label("n"), open_n.label("open_n"),
               func.max(Case.created_at).label("last_at"))
        .where(scope, _not_duplicate(), Case.created_at >= since, Case.created_at <= at)
        .group_by(Case.building_id, Case.category_id)
        .having(func.count() >= REPEAT_MIN)
        .order_by(func.count().desc(), func.max(Case.created_at).desc()).limit(MAX_ROWS)
    )

    reopened = select(CaseEvent.case_id).where(CaseEvent.event == "reopen", CaseEvent.created_at >= since,
                                               CaseEvent.created_at <= at)
    came_back, companies = _came_back(scope, since, at, select(reopened.cte("reopened")))
    return Hotspots(since=since, repeated=_named(repeated, english), came_back=_named(came_back, english),
                    companies=companies)


def _came_back(scope, since: dt.datetime, at: dt.datetime, reopened):
    """The came-back pairs and the companies with repeat complaints, in ONE statement.

    Per building × category, the cases created in the window and the solved closures of the
    COMEBACK_DAYS before it are put in time order (a closure at the very instant of a creation after
    it); a running count of closures splits each pair into runs that begin with a closure, so every
    creation sees the latest solved closure before it (and, counting only closures with a handler
    organisation, the latest such closure and its company) with two window passes — one sort of the
    window's rows instead of one index probe per case (a million-case table: seconds → a sort).
    What must stay equal: the definitions in the module docstring and docs/metrics.md ("Hotspots"):
    came back = a solved closure of the same pair within COMEBACK_DAYS before the case was created
    (and before `at`), or a reopen in the window; the company is that of the latest such closure
    with a company; a reopened case counts against its own company.
    """
    created = (select(Case.building_id.label("b"), Case.category_id.label("c"), Case.created_at.label("t"),
                      literal(0).label("kind"), Case.id.label("case_id"), Case.status.label("status"),
                      null().label("org"))
               .where(scope, _not_duplicate(), Case.created_at >= since, Case.created_at <= at))
    closed = (select(Case.building_id, Case.category_id, Case.closed_at, literal(1), null(), null(),
                     Case.assigned_org_id)
              .where(Case.resolution == "solved", Case.closed_at >= since - dt.timedelta(days=COMEBACK_DAYS),
                     Case.closed_at < at))
    rows = union_all(created, closed).subquery("rows")
    pair = (rows.c.b, rows.c.c)
    ordered = {"partition_by": pair, "order_by": (rows.c.t, rows.c.kind), "rows": (None, 0)}
    runs = select(
        rows, func.sum(rows.c.kind).over(**ordered).label("run"),
        func.sum(case((rows.c.org.is_not(None), 1), else_=0)).over(**ordered).label("org_run"),
    ).subquery("runs")
    closure_t = case((runs.c.kind == 1, runs.c.t))
    org_closure_t = case((and_(runs.c.kind == 1, runs.c.org.is_not(None)), runs.c.t))
    seen = select(
        runs.c.b, runs.c.c, runs.c.t, runs.c.kind, runs.c.case_id, runs.c.status,
        func.max(closure_t).over(partition_by=(runs.c.b, runs.c.c, runs.c.run)).label("last_close"),
        func.max(org_closure_t).over(partition_by=(runs.c.b, runs.c.c, runs.c.org_run)).label("last_org_close"),
        func.max(runs.c.org).over(partition_by=(runs.c.b, runs.c.c, runs.c.org_run)).label("last_org"),
    ).cte("seen")
    back_from = _minus_days(seen.c.t, COMEBACK_DAYS)
    again = select(Case.building_id, Case.category_id, Case.id, Case.status, Case.created_at).where(
        scope, _not_duplicate(), Case.id.in_(reopened))
    back_cases = union(
        select(seen.c.b, seen.c.c, seen.c.case_id, seen.c.status, seen.c.t)
        .where(seen.c.kind == 0, seen.c.last_close >= back_from),
        again,
    ).subquery("back")
    company_cases = union(
        select(seen.c.last_org.label("org"), seen.c.case_id)
        .where(seen.c.kind == 0, seen.c.last_org_close >= back_from),
        select(Case.assigned_org_id, Case.id).where(scope, Case.id.in_(reopened), Case.assigned_org_id.is_not(None)),
    ).subquery("companies")
    open_n = func.sum(case((back_cases.c.status != "closed", 1), else_=0))
    per_pair = select(literal("pair").label("tag"), back_cases.c.b, back_cases.c.c, func.count().label("n"),
                      open_n.label("open_n"), func.max(back_cases.c.t).label("last_at"), null().label("org"),
                      null().label("name")).group_by(back_cases.c.b, back_cases.c.c)
    per_company = (select(literal("org"), null(), null(), func.count(func.distinct(company_cases.c.case_id)),
                          null(), null(), Organisation.id, Organisation.name)
                   .join(Organisation, Organisation.id == company_cases.c.org)
                   .where(Organisation.kind == "property").group_by(Organisation.id, Organisation.name))
    pairs, companies = [], []
    for row in db.session.execute(union_all(per_pair, per_company)):
        (pairs if row[0] == "pair" else companies).append(row)
    pairs.sort(key=lambda r: (-r[3], -_ts(r[5]), r[1], r[2]))
    Pair = namedtuple("Pair", "building_id category_id n open_n last_at")
    came_back = [Pair(r[1], r[2], r[3], r[4], _as_datetime(r[5])) for r in pairs[:MAX_ROWS]]
    companies = sorted((r for r in companies if r[3] >= COMPANY_MIN), key=lambda r: (-r[3], r[6]))[:MAX_ROWS]
    return came_back, [CompanyHotspot(r[6], r[7], r[3]) for r in companies]


def _as_datetime(value) -> dt.datetime:
    """A MAX() over a UNION comes back as text on SQLite."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _ts(value) -> float:
    return _as_datetime(value).timestamp() if value is not None else 0.0


def forming_cases(user: access.Who, building_id: int, category_id: int, *, at: dt.datetime | None = None) -> list[Case]:
    """The cases in the window that make this building × category a hotspot (newest first)."""
    at = at or clock_now()
    since = at - dt.timedelta(days=WINDOW_DAYS)
    return list(db.session.scalars(
        select(Case).where(access.jurisdiction_of(user).clause(), _not_duplicate(), Case.building_id == building_id,
                           Case.category_id == category_id, Case.created_at >= since, Case.created_at <= at)
        .order_by(Case.created_at.desc(), Case.id.desc()).limit(MAX_LINKS)
    ))


TITLE = _l("【未诉先办】%(building)s %(category)s 近 %(days)d 天反复出现")
NOTE = _l("由热点主动立案，关联 %(n)d 件案件：%(numbers)s")
LINKED_NOTE = _l("已据此热点主动立案 %(number)s")


def open_proactive_case(user: User, building_id: int, category_id: int, description: str = "") -> Case:
    """A supervisor opens a proactive case (channel patrol) for a hotspot, linked to the cases that formed it."""
    if not access.may_open_proactive_case(user):
        raise NotFound(_l("找不到该热点。"))
    building = db.session.get(Building, building_id)
    category = db.session.get(Category, category_id)
    formed = forming_cases(user, building_id, category_id) if building and category else []
    if not formed:
        raise NotFound(_l("找不到该热点。"))
    description = (description or "").strip()
    if len(description) > 2000:
        raise Invalid(_l("请检查填写的内容。"), {"description": _l("说明不能超过 2000 字。")})
    case = intake.create_case(
        user, title=str(TITLE % {"building": building.name, "category": category.name_zh, "days": WINDOW_DAYS}),
        description=description, category_id=category.id, building_id=building.id, channel="patrol",
    )
    for other in formed:
        db.session.add(CaseLink(case_id=case.id, linked_case_id=other.id, kind="hotspot"))
        transitions.add_event(user, other, "comment", "hotspot_linked",
                              str(LINKED_NOTE % {"number": case.number}), public=False)
    transitions.add_event(user, case, "comment", "hotspot_opened",
                          str(NOTE % {"n": len(formed), "numbers": "、".join(c.number for c in formed)}),
                          public=False)
    return case


def linked_cases(case: Case) -> list[Case]:
    """Cases linked to this one, either way (the hotspot's cases, or the proactive case opened from them)."""
    ids = select(CaseLink.linked_case_id).where(CaseLink.case_id == case.id).union(
        select(CaseLink.case_id).where(CaseLink.linked_case_id == case.id))
    return list(db.session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)))

"""Hotspots (未诉先办): where problems repeat or come back, so supervisors act before the next call.

Definitions (docs/metrics.md, "Hotspots"), all inside the supervisor's jurisdiction and over a
rolling window of WINDOW_DAYS ending now:
- repeated: a building × category with at least REPEAT_MIN cases created in the window
  (merged duplicates not counted);
- came back: a case created in the window whose building × category had a case closed as solved
  within COMEBACK_DAYS before it, or a case reopened (回访不满意重办) in the window;
- property companies with repeat complaints: property companies whose solved cases came back
  (as above) at least COMPANY_MIN times in the window.
Each list is one GROUP BY over an index range (ix_case_building_category_created / _closed).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, exists, func, literal_column, select
from sqlalchemy.orm import aliased

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


def _came_back_clause(later, since: dt.datetime, at: dt.datetime) -> ColumnElement[bool]:
    """`later` (a Case created in [since, at]) follows a solved closure of the same building ×
    category within COMEBACK_DAYS. The constant bounds on closed_at let the database read one range
    of ix_case_building_category_closed per case instead of every closure of the pair."""
    earlier = aliased(Case)
    return exists().where(
        earlier.building_id == later.building_id, earlier.category_id == later.category_id,
        earlier.id != later.id, earlier.resolution == "solved",
        earlier.closed_at >= since - dt.timedelta(days=COMEBACK_DAYS), earlier.closed_at < at,
        earlier.closed_at < later.created_at, earlier.closed_at >= _minus_days(later.created_at, COMEBACK_DAYS),
    )


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
    # Two index-friendly halves instead of one OR (which would read every case).
    back = Case.id.in_(
        select(Case.id).where(Case.created_at >= since, Case.created_at <= at, _came_back_clause(Case, since, at))
        .union(reopened)
    )
    came_back = db.session.execute(
        select(Case.building_id, Case.category_id, func.count().label("n"), open_n.label("open_n"),
               func.max(Case.created_at).label("last_at"))
        .where(scope, _not_duplicate(), back)
        .group_by(Case.building_id, Case.category_id)
        .order_by(func.count().desc(), func.max(Case.created_at).desc()).limit(MAX_ROWS)
    )

    # The company that closed the latest earlier case answers for its coming back (one index read
    # per case in the window, not a join of every closure of the pair); a reopened case counts
    # against the company it was assigned to.
    earlier = aliased(Case)
    company_of = (
        select(earlier.assigned_org_id)
        .where(earlier.building_id == Case.building_id, earlier.category_id == Case.category_id,
               earlier.id != Case.id, earlier.resolution == "solved", earlier.assigned_org_id.is_not(None),
               earlier.closed_at >= since - dt.timedelta(days=COMEBACK_DAYS), earlier.closed_at < at,
               earlier.closed_at < Case.created_at,
               earlier.closed_at >= _minus_days(Case.created_at, COMEBACK_DAYS))
        .order_by(earlier.closed_at.desc()).limit(1)
        .correlate(Case).scalar_subquery()
    )
    closed_then_back = (select(company_of.label("org"), Case.id.label("case_id"))
                        .where(scope, _not_duplicate(), Case.created_at >= since, Case.created_at <= at))
    reopened_at = (select(Case.assigned_org_id.label("org"), Case.id.label("case_id"))
                   .where(scope, Case.id.in_(reopened), Case.assigned_org_id.is_not(None)))
    both = closed_then_back.union(reopened_at).subquery()
    companies = db.session.execute(
        select(Organisation.id, Organisation.name, func.count(func.distinct(both.c.case_id)).label("n"))
        .join(both, both.c.org == Organisation.id)  # a case that came back after no company's closure drops out
        .where(Organisation.kind == "property")
        .group_by(Organisation.id, Organisation.name)
        .having(func.count(func.distinct(both.c.case_id)) >= COMPANY_MIN)
        .order_by(func.count(func.distinct(both.c.case_id)).desc(), Organisation.id).limit(MAX_ROWS)
    )
    return Hotspots(since=since, repeated=_named(repeated, english), came_back=_named(came_back, english),
                    companies=[CompanyHotspot(r.id, r.name, r.n) for r in companies])


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

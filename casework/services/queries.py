"""Read-side queries: case lists with filters, always inside the user's scope."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from casework import access
from casework.numbers import as_id
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Organisation, User
from casework.workflow import PRIORITIES, STATUSES


@dataclass
class CaseFilters:
    """Filters as they appear in the URL, so a filtered list can be bookmarked and shared."""

    status: str = ""
    category: int | None = None
    priority: str = ""
    grid: int | None = None
    building: int | None = None
    organisation: int | None = None
    q: str = ""
    overdue: bool = False
    # "" = the board's own order (boards/layout: soonest due first for handlers and building leaders,
    # else the longest waiting first); "due" = soonest stage due time first; "waited" = longest waiting first
    sort: str = ""
    page: int = 1
    # Set only by `allow_phone_search` for a user who may reveal phones: matches the full number.
    phone: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> CaseFilters:
        """Read filters from request args, ignoring values that do not parse."""
        def as_int(name):
            return as_id(args.get(name))
        status = args.get("status", "")
        priority = args.get("priority", "")
        return cls(
            status=status if status in STATUSES else "",
            category=as_int("category"), priority=priority if priority in PRIORITIES else "",
            grid=as_int("grid"), building=as_int("building"), organisation=as_int("organisation"),
            q=(args.get("q") or "").strip()[:60], overdue=args.get("overdue") in ("1", "on", "true"),
            sort=args.get("sort") if args.get("sort") in ("due", "waited") else "",
            page=max(1, as_int("page") or 1),
        )

    def as_args(self, **override) -> dict:
        """The non-empty filters as URL arguments (for links that keep the filter)."""
        values = {
            "status": self.status, "category": self.category, "priority": self.priority,
            "grid": self.grid, "building": self.building, "organisation": self.organisation,
            "q": self.q, "overdue": "1" if self.overdue else None, "sort": self.sort,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "", False)}


def apply_filters(query: Select, f: CaseFilters, *, with_status: bool = True) -> Select:
    """Narrow a Case query by the filters (scope is applied separately)."""
    from casework.timekeeping import now
    if with_status and f.status:
        query = query.where(Case.status == f.status)
    if f.category:
        query = query.where(Case.category_id == f.category)
    if f.priority:
        query = query.where(Case.priority == f.priority)
    if f.grid:
        query = query.where(Case.grid_id == f.grid)
    if f.building:
        query = query.where(Case.building_id == f.building)
    if f.organisation:
        query = query.where(Case.assigned_org_id == f.organisation)
    if f.overdue:
        from casework.services.clock import late_clause
        query = query.where(late_clause(now()))  # the one lateness rule (docs/metrics.md, "overdue")
    if f.phone:
        query = query.where(Case.reporter_phone == f.phone)
    elif f.q:
        like = f"%{f.q.replace('%', '').replace('_', '')}%"
        query = query.where(or_(
            Case.number.ilike(like), Case.title.ilike(like), Case.unit.ilike(like),
            Case.reporter_name.ilike(like), Case.tracking_code == f.q.upper(),
            Case.building_id.in_(select(Building.id).where(Building.name.ilike(like))),
        ))
    return query


# A whole mobile (11 digits) or landline (area code + 7–8 digits) number, spaces and dashes allowed.
FULL_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}\d{7,8})$")


def full_phone(q: str) -> str:
    """The query as a bare phone number if it is a whole one, else ""."""
    digits = re.sub(r"[\s-]", "", q or "")
    return digits if FULL_PHONE.match(digits) else ""


def allow_phone_search(user: User, f: CaseFilters) -> CaseFilters:
    """Search by the resident's full phone number, for those who may reveal phones (the view records
    such a search in the audit: `cases.views._filters`).

    For anyone else a number typed into the search box is an ordinary text search (it matches case
    numbers, titles and units, never the stored phone).
    """
    phone = full_phone(f.q)
    if phone and access.may_search_by_phone(user):
        f.phone = phone
    return f


def card_options():
    """Eager loads for a list of cards: a fixed number of queries however many cards."""
    return (selectinload(Case.category), selectinload(Case.building), selectinload(Case.assigned_org))


def list_cases(who: access.Who, f: CaseFilters, per_page: int = 50) -> tuple[list[Case], int]:
    """One page of the cases this user may see, newest first, and the total count."""
    base = apply_filters(select(Case).where(access.scope_clause(who)), f)
    total = db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
    rows = db.session.scalars(
        base.options(*card_options()).order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(per_page).offset((f.page - 1) * per_page)
    ).all()
    return list(rows), total or 0


def timeline(case: Case) -> list[CaseEvent]:
    """The case's events, oldest first, with actors loaded."""
    return list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id)
        .options(selectinload(CaseEvent.actor), selectinload(CaseEvent.organisation),
                 selectinload(CaseEvent.from_grid), selectinload(CaseEvent.to_grid))
        .order_by(CaseEvent.id)
    ))


def handler_choices(case: Case, building=None) -> list[Organisation]:
    """Organisations a case can be handed to: the building's property company first, then partners.

    `building`: another building the case is being moved to (an arbitration), whose company counts.
    """
    prop = (building or case.building).property_company_id
    orgs = db.session.scalars(select(Organisation).where(
        Organisation.active.is_(True), or_(Organisation.kind != "property", Organisation.id == prop)
    ).order_by(Organisation.id))
    return sorted(orgs, key=lambda o: (o.id != prop, o.id))

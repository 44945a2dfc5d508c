"""Test helpers: put a fresh case into a given state through the real service, and read pages.

Imported by the HTTP and access tests (`from case_steps import ...`); the fixtures stay in conftest.
"""
from __future__ import annotations

import re

from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Category, Organisation, User
from casework.services import intake, transitions

def browser(app, username: str | None = None):
    """A conftest Client whose requests do not share `g`, logged in as `username` if given."""
    from conftest import Client
    client = Client(app)  # the app's test client gives every request its own app context
    if username:
        client.login_as(username)
    return client


VERSION_RE = re.compile(r'<article id="case-(\d+)"[^>]*data-version="(\d+)"')


def user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def org_of(username: str) -> Organisation:
    return user(username).organisation


def staff_of(building: Building) -> User:
    """The grid staff member looking after the building's grid."""
    return next(u for u in db.session.scalars(select(User).where(User.role == "grid_staff").order_by(User.id))
                if building.grid in u.grids)


def leader_of(building: Building) -> User:
    return next(u for u in db.session.scalars(select(User).where(User.role == "building_leader").order_by(User.id))
                if building in u.buildings)


def handler_of(organisation: Organisation) -> User:
    return db.session.scalars(select(User).where(User.role == "handler", User.organisation_id == organisation.id)
                              .order_by(User.id)).first()


# How to reach each state from `reported`, and who fires each step.
ROUTES = {
    "reported": [],
    "triage": ["sign"],
    "building_leader": ["sign", "dispatch"],
    "handling": ["sign", "dispatch", "hand_on"],
    "resolved": ["sign", "dispatch", "hand_on", "accept", "report_done"],
    "closed": ["sign", "dispatch", "hand_on", "accept", "report_done", "close"],
}


def new_case(building: Building, *, title: str = "楼道灯不亮", phone: str = "13812341234") -> Case:
    """A new case in `reported`, taken by the grid staff of the building."""
    category = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
    case = intake.create_case(staff_of(building), title=title, description="测试描述",
                              category_id=category.id, building_id=building.id, unit="1单元101",
                              channel="phone", reporter_name="王女士", reporter_phone=phone)
    db.session.commit()
    return case


def case_in(state: str, building: Building, *, organisation: Organisation | None = None,
            accepted: bool = False) -> Case:
    """A fresh case in `state` in `building`, each step fired by the person whose step it is."""
    case = new_case(building)
    organisation = organisation or building.property_company
    steps = list(ROUTES[state])
    if state == "handling" and accepted:
        steps.append("accept")
    for event in steps:
        actor = {"hand_on": leader_of(building), "accept": handler_of(organisation),
                 "report_done": handler_of(organisation)}.get(event, staff_of(building))
        data = {"organisation": str(organisation.id), "note": "测试说明", "satisfaction": "satisfied"}
        transitions.fire(actor, case, event, data, version=case.version)
        db.session.commit()
    assert case.status == state
    return case


def snapshot(case_id: int) -> tuple:
    """What must not change when an action is refused: status, version, and the number of events."""
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    events = db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id))
    return case.status, case.version, case.assigned_org_id, events


def seen_version(html: str, case_id: int) -> int:
    """The version the user's page carries for the case (what the browser sends back)."""
    for cid, version in VERSION_RE.findall(html):
        if int(cid) == case_id:
            return int(version)
    raise AssertionError(f"case {case_id} not on the page")

"""Test helpers: put a fresh case into a given state through the real service, and read pages.

Imported by the tests (`from case_steps import ...`); the fixtures stay in conftest, where
`login_as("wangge01")` is the one way to get a logged-in client (`login_as()`: nobody logged in).
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import NamedTuple

from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Category, Organisation, User
from casework.services import intake, transitions

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


class Snapshot(NamedTuple):
    """What must not change when an action is refused."""

    status: str
    version: int
    assigned_org_id: int | None
    handler_accepted_at: object
    events: int


def snapshot(case_id: int) -> Snapshot:
    """The case's state as the database holds it now (re-read, not the session's copy)."""
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    events = db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id))
    return Snapshot(case.status, case.version, case.assigned_org_id, case.handler_accepted_at, events)


def seen_version(html: str, case_id: int) -> int:
    """The version the user's page carries for the case (what the browser sends back)."""
    article = parse(html).find("article", id=f"case-{case_id}")
    if article is None or article.get("data-version") is None:
        raise AssertionError(f"case {case_id} not on the page")
    return int(article.get("data-version"))


# ---- reading pages: a parser, not regular expressions ------------------------------------------------

class Element:
    """One element of a parsed page: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Element | None = None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        self.parts: list[str | Element] = []

    def get(self, name: str, default=None):
        return self.attrs.get(name, default)

    @property
    def text(self) -> str:
        """The element's text with its descendants', whitespace folded."""
        return " ".join("".join(p if isinstance(p, str) else p.text for p in self.parts).split())

    def iter(self):
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs) -> list[Element]:
        """Descendants with this tag (any when None) and these attribute values (`class_` for class;
        a value of True means the attribute is present)."""
        want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter() if (tag is None or e.tag == tag) and all(
            (k in e.attrs) if v is True else e.attrs.get(k) == v for k, v in want.items())]

    def find(self, tag: str | None = None, **attrs) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {})

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        self.current.parts.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        self.current.parts.append(element)

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:  # close what the page left open
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def parse(html: str) -> Element:
    """The page as a tree of Elements (stdlib html.parser; lenient like a browser about unclosed tags)."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def csrf_token(html: str) -> str | None:
    """The CSRF token of the page's first form (or its <meta>), as the browser would send it."""
    page = parse(html)
    field = page.find("input", name="csrf_token")
    return field.get("value") if field is not None else None


def field(html: str, name: str) -> Element | None:
    """The form field block (`div.field`) whose label is for `name`: its input, value and error."""
    for block in parse(html).find_all("div"):
        if "field" in (block.get("class") or "").split() and block.find("label", for_=name) is not None:
            return block
    return None


def selected(html: str, name: str) -> list[str]:
    """The values of the selected options of the <select name=...>."""
    select = parse(html).find("select", name=name)
    return [] if select is None else [o.get("value") for o in select.find_all("option", selected=True)]

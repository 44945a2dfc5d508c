"""Intake: a resident's request becomes a case in `reported`."""
from __future__ import annotations

import logging
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import access
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Category, User
from casework.services.clock import start_stage
from casework.services import tallies
from casework.services.errors import Invalid
from casework.services.numbering import new_tracking_code, next_case_number, tracking_code_taken
from casework.timekeeping import now
from casework.workflow import CHANNELS, PRIORITIES

log = logging.getLogger(__name__)
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalise_mobile(raw: str | None) -> str:
    """Strip spaces, dashes and a +86 prefix from a mainland mobile number."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def buildings_for(actor: access.Who) -> list[Building]:
    """The active buildings this user may take a case for: those of their jurisdiction, for the roles
    that take cases (grid staff, supervisors)."""
    j = access.jurisdiction_of(actor)
    if j.role not in access.INTAKE_ROLES and not j.sees_all:
        return []
    return list(db.session.scalars(select(Building).where(j.buildings(), Building.active.is_(True))
                                   .order_by(Building.grid_id, Building.id)))


def create_case(actor: User | None, *, title: str, description: str, category_id: int,
                building_id: int, unit: str = "", priority: str | None = None, channel: str = "phone",
                reporter_name: str = "", reporter_phone: str = "", actor_label: str | None = None) -> Case:
    """Record a new case in `reported`, with its number, tracking code and first timeline row."""
    errors = {}
    category = db.session.get(Category, category_id) if category_id else None
    if category is None or not category.active:
        errors["category_id"] = _l("请选择类别。")
    building = db.session.get(Building, building_id) if building_id else None
    if building is None:
        errors["building_id"] = _l("请选择楼栋。")
    elif actor is not None and building.id not in {b.id for b in buildings_for(actor)}:
        errors["building_id"] = _l("该楼栋不在您的辖区内。")
    if priority is not None and priority not in PRIORITIES:
        errors["priority"] = _l("请选择紧急程度。")
    if channel not in CHANNELS:
        errors["channel"] = _l("请选择来源渠道。")
    phone = normalise_mobile(reporter_phone)
    if phone and not MOBILE_RE.match(phone):
        errors["reporter_phone"] = _l("请输入 11 位手机号码。")
    if not (title or "").strip():
        errors["title"] = _l("请填写标题。")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    at = now()
    code = new_tracking_code()
    while tracking_code_taken(code):  # astronomically rare, but cheap to rule out
        code = new_tracking_code()
    case = Case(
        number=next_case_number(at.year), tracking_code=code, title=title.strip(),
        description=(description or "").strip(), category_id=category.id,
        priority=priority or category.default_priority, channel=channel,
        building_id=building.id, grid_id=building.grid_id, community_id=building.grid.community_id,
        unit=(unit or "").strip(), reporter_name=(reporter_name or "").strip() or None,
        reporter_phone=phone or None, status="reported", created_by=actor,
        created_at=at, updated_at=at,
    )
    start_stage(case, at)
    db.session.add(case)
    db.session.add(CaseEvent(case=case, kind="transition", event="report", actor=actor,
                             actor_label=actor_label, from_status=None, to_status="reported",
                             note="", public=True, created_at=at))
    db.session.flush()
    tallies.record(case, None, None)  # received: the dashboard's rollup counts the new case
    from casework.services.notices import routing
    routing.new_case(case)  # the grid's group robots hear of it (outbox, same transaction)
    log.info("case %s reported via %s by %s", case.number, channel,
             actor.username if actor else actor_label)
    return case

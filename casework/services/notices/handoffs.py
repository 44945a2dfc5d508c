"""Hand-offs notify the receiver: when a transition puts a case in someone's hands, they (and their
organisation's group) hear of it, in-app and on their channels, in the transition's transaction."""
from __future__ import annotations

from sqlalchemy import select

from casework.extensions import db
from casework.models import Case, CaseEvent, User, user_buildings
from casework.services import escalation
from casework.services.notices import routing


def building_leaders(case: Case) -> list[int]:
    return list(db.session.scalars(
        select(User.id).join(user_buildings, user_buildings.c.user_id == User.id)
        .where(user_buildings.c.building_id == case.building_id, User.active.is_(True)).order_by(User.id)))


def handlers(org_id: int | None) -> list[int]:
    if org_id is None:
        return []
    return list(db.session.scalars(select(User.id).where(
        User.organisation_id == org_id, User.role == "handler", User.active.is_(True)).order_by(User.id)))


def community_supervisors(case: Case) -> list[int]:
    """The active supervisors of the case's community: they arbitrate (仲裁) its returns."""
    return list(db.session.scalars(select(User.id).where(
        User.role == "community_supervisor", User.community_id == case.community_id,
        User.active.is_(True)).order_by(User.id)))


def _holder(case: Case, target: str) -> tuple[list[int], bool]:
    """The people now holding a case that entered `target`, and whether an organisation's group hears."""
    if target == "handling":
        return handlers(case.assigned_org_id), True
    if target == "building_leader":
        return building_leaders(case), False
    return escalation.grid_staff_of(case), False


def receivers(case: Case, row: CaseEvent) -> tuple[str, list[int], bool]:
    """(kind, users, whether the organisation's group hears of it) for the case's new holder."""
    event, target = row.event, row.to_status
    if event == "dispatch":
        return "handoff", building_leaders(case), False
    if event in ("dispatch_handler", "hand_on", "reassign"):
        return "handoff_org", handlers(case.assigned_org_id), True
    if event == "reroute":
        return "rerouted", escalation.grid_staff_of(case), False
    if event == "arbitrate":
        return ("arbitrated", *_holder(case, target))
    if event == "return_case" and target == "arbitration":
        return "arbitration", community_supervisors(case), False
    if event == "return_case":
        users = building_leaders(case) if target == "building_leader" else escalation.grid_staff_of(case)
        return "returned", users, False
    if event == "reopen":
        if target == "handling":
            return "reopened", handlers(case.assigned_org_id), True
        return "reopened", escalation.grid_staff_of(case), False
    if event in ("report_done", "resolve"):
        return "callback", escalation.grid_staff_of(case), False
    return "", [], False


def after_transition(actor: User | None, case: Case, row: CaseEvent) -> None:
    """Tell whoever the transition handed the case to (never the actor themself)."""
    kind, users, org_group = receivers(case, row)
    if not kind:
        return
    key = f"ev{row.id}"
    users = [u for u in users if actor is None or u != actor.id]
    if users:
        escalation.notify(users, case, kind, key)
    if org_group:
        routing.to_groups(case, kind, key, ("organisation",))

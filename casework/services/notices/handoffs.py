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


def receivers(case: Case, row: CaseEvent) -> tuple[str, str, int | None, bool]:
    """(kind, who receives, whose (their building, organisation or grid), whether the organisation's
    group hears of it) for the case's new holder; `who` names a statement of routing.PEOPLE."""
    event, target = row.event, row.to_status
    if event == "dispatch":
        return "handoff", "building_leaders", case.building_id, False
    if event in ("dispatch_handler", "hand_on"):
        return "handoff_org", "handlers", case.assigned_org_id, True
    if event == "return_case":
        if target == "building_leader":
            return "returned", "building_leaders", case.building_id, False
        return "returned", "grid_staff", case.grid_id, False
    if event == "reopen":
        if target == "handling":
            return "reopened", "handlers", case.assigned_org_id, True
        return "reopened", "grid_staff", case.grid_id, False
    if event in ("report_done", "resolve"):
        return "callback", "grid_staff", case.grid_id, False
    return "", "", None, False


def after_transition(actor: User | None, case: Case, row: CaseEvent) -> None:
    """Tell whoever the transition handed the case to (never the actor themself).

    Two reads at most: the receivers with their channels and settings (one statement), and the
    case's names with its organisation's robots (one statement; or the names alone when needed)."""
    kind, who, ref_id, org_group = receivers(case, row)
    if not kind:
        return
    key = f"ev{row.id}"
    people = routing.recipients(who, ref_id)
    if org_group:
        routing.to_groups(case, kind, key, ("organisation",))
    users = sorted({r.user_id for r in people if actor is None or r.user_id != actor.id})
    if users:
        escalation.notify(users, case, kind, key, recipients=people)

"""The access policy, in one place: which cases a user sees and which events they may fire.

Views, services and templates all ask this module; none of them re-implements a rule.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from casework.models import Case, User, user_buildings, user_grids
from casework.workflow import EVENT_ORDER, enabled_events

# Which role fires which event, per source state. A state missing from an event's map means
# the event is not the role's to fire there even if the workflow allows it.
EVENT_ROLES: dict[str, dict[str, str]] = {
    "sign": {"reported": "grid_staff"},
    "merge": {"reported": "grid_staff", "triage": "grid_staff"},
    "reject": {"reported": "grid_staff", "triage": "grid_staff"},
    "withdraw": {"reported": "grid_staff", "triage": "grid_staff"},
    "dispatch": {"triage": "grid_staff"},
    "dispatch_handler": {"triage": "grid_staff"},
    "resolve": {"triage": "grid_staff", "building_leader": "building_leader"},
    "hand_on": {"building_leader": "building_leader"},
    "accept": {"handling": "handler"},
    "report_done": {"handling": "handler"},
    "return_case": {"building_leader": "building_leader", "handling": "handler"},
    "close": {"resolved": "grid_staff"},
    "reopen": {"resolved": "grid_staff"},
}
SUPERVISORS = ("community_supervisor", "subdistrict_supervisor")
INTAKE_ROLES = ("grid_staff",) + SUPERVISORS
SEE_ALL = ("subdistrict_supervisor", "admin")


def scope_clause(user: User) -> ColumnElement[bool]:
    """A WHERE clause selecting exactly the cases this user may see."""
    role = user.role
    if role in SEE_ALL:
        return true()
    if role == "community_supervisor":
        return Case.community_id == user.community_id if user.community_id else false()
    if role == "grid_staff":
        return Case.grid_id.in_(select(user_grids.c.grid_id).where(user_grids.c.user_id == user.id))
    if role == "building_leader":
        return Case.building_id.in_(
            select(user_buildings.c.building_id).where(user_buildings.c.user_id == user.id)
        )
    if role == "handler" and user.organisation_id:
        return or_(
            Case.assigned_org_id == user.organisation_id, Case.returned_org_id == user.organisation_id
        )
    return false()


def scope_parts(user: User) -> list[ColumnElement[bool]]:
    """`scope_clause` as disjoint clauses whose union is exactly the scope (counts add up).

    A handler's scope is an OR over two columns (assigned to its organisation, or returned by it);
    counting over the OR makes the database merge two indexes and read every row, while each part
    alone reads one (org, status, time) index. Every other scope is one part.
    """
    if user.role == "handler" and user.organisation_id:
        org = user.organisation_id
        return [Case.assigned_org_id == org,
                and_(Case.returned_org_id == org, or_(Case.assigned_org_id.is_(None), Case.assigned_org_id != org))]
    return [scope_clause(user)]


def _grid_ids(user: User) -> frozenset[int]:
    # Kept on the (per-request) user object: a board asks for every card and every event.
    ids = user.__dict__.get("_grid_ids")
    if ids is None:
        ids = user.__dict__["_grid_ids"] = frozenset(g.id for g in user.grids)
    return ids


def _building_ids(user: User) -> frozenset[int]:
    ids = user.__dict__.get("_building_ids")
    if ids is None:
        ids = user.__dict__["_building_ids"] = frozenset(b.id for b in user.buildings)
    return ids


def can_view(user: User, case: Case) -> bool:
    """Whether the case is inside the user's jurisdiction."""
    role = user.role
    if role in SEE_ALL:
        return True
    if role == "community_supervisor":
        return user.community_id is not None and case.community_id == user.community_id
    if role == "grid_staff":
        return case.grid_id in _grid_ids(user)
    if role == "building_leader":
        return case.building_id in _building_ids(user)
    if role == "handler":
        return user.organisation_id is not None and user.organisation_id in (
            case.assigned_org_id, case.returned_org_id
        )
    return False


def _acts_for(user: User, case: Case, role: str) -> bool:
    """Whether the user holds `role` for this case (not merely sees it)."""
    if user.role != role:
        return False
    if role == "grid_staff":
        return case.grid_id in _grid_ids(user)
    if role == "building_leader":
        return case.building_id in _building_ids(user)
    if role == "handler":
        return user.organisation_id is not None and case.assigned_org_id == user.organisation_id
    return False


def may_fire(user: User, case: Case, event: str) -> bool:
    """Whether this user may fire this event on this case in its current state (ignoring guards)."""
    role = EVENT_ROLES.get(event, {}).get(case.status)
    return role is not None and _acts_for(user, case, role)


def events_for(user: User, case: Case) -> list[str]:
    """The events this user may fire now: the workflow's enabled events filtered by the policy."""
    if not case.is_open:
        return []
    allowed = {e for e in enabled_events(case) if may_fire(user, case, e)}
    return [e for e in EVENT_ORDER if e in allowed]


def may_urge(user: User, case: Case) -> bool:
    """Supervisors urge (催办) open cases in their scope."""
    return user.role in SUPERVISORS and case.is_open and can_view(user, case)


def may_reveal_phone(user: User, case: Case) -> bool:
    """Grid staff of the case and its supervisors may see the full number, on a recorded action."""
    if not case.reporter_phone:
        return False
    return (user.role == "grid_staff" and _acts_for(user, case, "grid_staff")) or (
        user.role in SUPERVISORS and can_view(user, case)
    )


def may_search_by_phone(user: User) -> bool:
    """Those who may reveal a resident's phone may look cases up by it (in their own scope)."""
    return user.role == "grid_staff" or user.role in SUPERVISORS


def may_record_callback(user: User, case: Case) -> bool:
    return may_fire(user, case, "close")


def may_request_extension(user: User, case: Case) -> bool:
    """Whoever holds the case may ask for more time (延期) or to park it (挂账): the handler while
    handling it, the building leader while mediating it."""
    return (case.status == "handling" and _acts_for(user, case, "handler")) or (
        case.status == "building_leader" and _acts_for(user, case, "building_leader"))


def may_decide_extension(user: User, case: Case) -> bool:
    """Community supervisors (and the subdistrict) approve or refuse extensions in their scope."""
    return user.role in SUPERVISORS and can_view(user, case)


def may_resume(user: User, case: Case) -> bool:
    """A parked case is resumed by its handler or a supervisor."""
    return case.parked_at is not None and (may_request_extension(user, case) or may_decide_extension(user, case))


def may_add_after_photo(user: User, case: Case) -> bool:
    """The handler organisation working the case adds "after" photos while handling or awaiting call-back."""
    return case.status in ("handling", "resolved") and _acts_for(user, case, "handler")


# Page-level permissions: which areas a role opens at all (the case-level rules are above).
def may_take_intake(user: User) -> bool:
    """Grid staff and supervisors record cases taken by phone, at the counter or on patrol."""
    return user.role in INTAKE_ROLES


def may_use_board(user: User) -> bool:
    """Everyone who works cases has a board; the admin configures and has none."""
    return user.role != "admin"


def may_view_reports(user: User) -> bool:
    """Supervisors see their area's timeliness; a handler sees its own organisation's."""
    if user.role == "handler":
        return user.organisation_id is not None
    if user.role == "community_supervisor":
        return user.community_id is not None
    return user.role == "subdistrict_supervisor"


def may_see_hotspots(user: User) -> bool:
    """Supervisors see where problems repeat in their area (未诉先办) and open proactive cases."""
    return user.role in SUPERVISORS and (user.role != "community_supervisor" or user.community_id is not None)


may_open_proactive_case = may_see_hotspots


def may_administer(user: User) -> bool:
    return user.role == "admin"


def may_bulk_sign(user: User) -> bool:
    return user.role == "grid_staff"


def may_bulk_urge(user: User) -> bool:
    return user.role in SUPERVISORS

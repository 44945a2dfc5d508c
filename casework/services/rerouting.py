"""Jurisdiction moves (各级联动): where a case may be re-routed or arbitrated to, and who received it first.

The transitions service validates against these lists and the forms offer the same lists, so the
server's rule is the one the user sees (as `queries.handler_choices` is for organisations).
"""
from __future__ import annotations

from sqlalchemy import select

from casework import access
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Grid

# Events whose form asks for a building (and so a grid).
MOVES_PLACE = ("reroute", "arbitrate")


def building_choices(who: access.Who, case: Case, event: str) -> list[Building]:
    """The buildings `who` may send `case` to with `event`.

    Grid staff re-route to another grid of the case's community (a case of another community goes
    up with a `wrong_jurisdiction` return: only the subdistrict moves cases across communities);
    supervisors choose inside their jurisdiction. A re-route must leave the case's grid; an
    arbitration may keep the case where it is.
    """
    if event not in MOVES_PLACE:
        return []
    j = access.jurisdiction_of(who)
    if j.role == "grid_staff":
        where = Building.grid_id.in_(select(Grid.id).where(Grid.community_id == case.community_id))
    elif j.role in access.SUPERVISORS:
        where = j.buildings()
    else:
        return []
    query = select(Building).join(Grid, Grid.id == Building.grid_id).where(Building.active.is_(True), where)
    if event == "reroute":
        query = query.where(Building.grid_id != case.grid_id)
    return list(db.session.scalars(query.order_by(Grid.community_id, Grid.id, Building.name, Building.id)))


def first_receiver(case: Case) -> tuple[str, int | None]:
    """首接负责: who received the case first below the grid — (holder, organisation id).

    The receiver of the case's first hand-off down (the building leader for a dispatch, the
    organisation for a direct dispatch or a hand-on), else the grid. The arbitration form
    proposes it; the supervisor decides.
    """
    first = db.session.execute(
        select(CaseEvent.event, CaseEvent.organisation_id).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == "transition",
            CaseEvent.event.in_(("dispatch", "dispatch_handler", "hand_on")))
        .order_by(CaseEvent.id).limit(1)).first()
    if first is None:
        return "grid", None
    if first.event == "dispatch":
        return "leader", None
    return "organisation", first.organisation_id


def form_choices(who: access.Who, case: Case, event: str | None) -> dict:
    """What an event's form offers besides organisations: the buildings and the proposed defaults
    (an arbitration proposes the first receiver, 首接负责, and the case's own building)."""
    if event not in MOVES_PLACE:
        return {"buildings": [], "defaults": {}}
    defaults = {"building": str(case.building_id)} if event == "arbitrate" else {}
    if event == "arbitrate":
        holder, org = first_receiver(case)
        defaults["holder"] = holder
        if org is not None:
            defaults["organisation"] = str(org)
    return {"buildings": building_choices(who, case, event), "defaults": defaults}

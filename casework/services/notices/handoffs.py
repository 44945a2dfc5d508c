"""Hand-offs notify the receiver: when a transition puts a case in someone's hands, they (and their
organisation's group) hear of it, in-app and on their channels, in the transition's transaction."""
from __future__ import annotations

from casework.models import Case, CaseEvent, User
from casework.services import escalation
from casework.services.notices import routing


# The notice each hand-off sends to the case's new holder (escalation.holder_role: one routing rule).
KIND = {"dispatch": "handoff", "dispatch_handler": "handoff_org", "hand_on": "handoff_org",
        "return_case": "returned", "reopen": "reopened", "report_done": "callback", "resolve": "callback"}


# escalation.holder_role says whose stage a status is; routing.PEOPLE reads that kind of user in one statement.
_PEOPLE_OF = {"building_leader": ("building_leaders", "building_id"), "handler": ("handlers", "assigned_org_id"),
              "grid_staff": ("grid_staff", "grid_id"),
              "community_supervisor": ("community_supervisors", "community_id")}


# Events whose notice is not the plain hand-off kind above: (event, status entered) → kind.
_KIND_AT = {("return_case", "arbitration"): "arbitration"}
_KIND_OF = {"reroute": "rerouted", "arbitrate": "arbitrated", "reassign": "handoff_org"}


def receivers(case: Case, row: CaseEvent) -> tuple[str, str, int | None, bool]:
    """(kind, who receives, whose (their building, organisation, grid or community), whether the
    organisation's group hears of it) for the case's new holder; `who` names a statement of routing.PEOPLE."""
    kind = _KIND_AT.get((row.event, row.to_status)) or _KIND_OF.get(row.event) or KIND.get(row.event, "")
    if not kind:
        return "", "", None, False
    role = escalation.holder_role(row.to_status)
    who, attribute = _PEOPLE_OF[role]
    return kind, who, getattr(case, attribute), role == "handler"


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

"""Hand-offs notify the receiver: when a transition puts a case in someone's hands, they (and their
organisation's group) hear of it, in-app and on their channels, in the transition's transaction."""
from __future__ import annotations

from casework.models import Case, CaseEvent, User
from casework.services import escalation
from casework.services.notices import routing


# The notice each hand-off sends to the case's new holder (escalation.holders: one routing rule).
KIND = {"dispatch": "handoff", "dispatch_handler": "handoff_org", "hand_on": "handoff_org",
        "return_case": "returned", "reopen": "reopened", "report_done": "callback", "resolve": "callback"}


def receivers(case: Case, row: CaseEvent) -> tuple[str, list[int], bool]:
    """(kind, users, whether the organisation's group hears of it) for the case's new holder."""
    kind = KIND.get(row.event, "")
    if not kind:
        return "", [], False
    return kind, escalation.holders(case, row.to_status), escalation.holder_role(row.to_status) == "handler"


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

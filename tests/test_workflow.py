"""The workflow alone, without an app: every allowed path and every refused event."""
from __future__ import annotations

import pytest

from casework.workflow import EVENTS, STATUSES, CaseWorkflow, TransitionNotAllowed


class Row:
    def __init__(self, status="reported", via_leader=False, assigned_org_id=None, accepted=None, return_count=0):
        self.status = status
        self.via_leader = via_leader
        self.assigned_org_id = assigned_org_id
        self.handler_accepted_at = accepted
        self.return_count = return_count


def machine(row: Row) -> CaseWorkflow:
    return CaseWorkflow(model=row, state_field="status")


# (start state, row attributes, event) -> expected target; "send" holds the event's own inputs
# that its guards read (a return's reason, an arbitration's holder).
ALLOWED = [
    ("reported", {}, "sign", "triage"),
    ("reported", {}, "merge", "closed"),
    ("reported", {}, "reject", "closed"),
    ("reported", {}, "withdraw", "closed"),
    ("triage", {}, "merge", "closed"),
    ("triage", {}, "reject", "closed"),
    ("triage", {}, "withdraw", "closed"),
    ("triage", {}, "dispatch", "building_leader"),
    ("triage", {}, "dispatch_handler", "handling"),
    ("triage", {}, "resolve", "resolved"),
    ("building_leader", {}, "resolve", "resolved"),
    ("building_leader", {}, "hand_on", "handling"),
    ("building_leader", {}, "return_case", "triage"),
    ("handling", {}, "accept", "handling"),
    ("handling", {}, "report_done", "resolved"),
    ("handling", {"via_leader": True}, "return_case", "building_leader"),
    ("handling", {"via_leader": False}, "return_case", "triage"),
    ("resolved", {}, "close", "closed"),
    ("resolved", {"assigned_org_id": 5}, "reopen", "handling"),
    ("resolved", {"assigned_org_id": None}, "reopen", "triage"),
    # Working across levels: re-route, returns going up to arbitration, arbitration, 督办改派.
    ("triage", {}, "reroute", "triage"),
    ("building_leader", {"send": {"reason": "wrong_jurisdiction"}}, "return_case", "arbitration"),
    ("building_leader", {"return_count": 1, "send": {"reason": "other"}}, "return_case", "arbitration"),
    ("handling", {"via_leader": True, "send": {"reason": "wrong_jurisdiction"}}, "return_case", "arbitration"),
    ("handling", {"via_leader": False, "return_count": 1}, "return_case", "arbitration"),
    ("arbitration", {"send": {"holder": "grid"}}, "arbitrate", "triage"),
    ("arbitration", {"send": {"holder": "leader"}}, "arbitrate", "building_leader"),
    ("arbitration", {"send": {"holder": "organisation"}}, "arbitrate", "handling"),
    ("triage", {}, "reassign", "handling"),
    ("building_leader", {}, "reassign", "handling"),
    ("handling", {}, "reassign", "handling"),
]


def _row(start, attrs):
    return Row(status=start, via_leader=attrs.get("via_leader", False),
               assigned_org_id=attrs.get("assigned_org_id"), accepted=attrs.get("accepted"),
               return_count=attrs.get("return_count", 0))


@pytest.mark.parametrize("start,attrs,event,target", ALLOWED)
def test_allowed_transition(start, attrs, event, target):
    row = _row(start, attrs)
    machine(row).send(event, **attrs.get("send", {}))
    assert row.status == target


ALLOWED_PAIRS = {(s, e) for s, _a, e, _t in ALLOWED}
REFUSED = [(s, e) for s in STATUSES for e in EVENTS if (s, e) not in ALLOWED_PAIRS]


@pytest.mark.parametrize("start,event", REFUSED)
def test_refused_event_changes_nothing(start, event):
    row = Row(status=start)
    with pytest.raises(TransitionNotAllowed):
        machine(row).send(event)
    assert row.status == start
    assert row.return_count == 0


def test_unknown_event_is_refused():
    row = Row()
    with pytest.raises(TransitionNotAllowed):
        machine(row).send("teleport")
    assert row.status == "reported"


def test_accept_only_once():
    row = Row(status="handling", accepted="2026-11-01")
    assert "accept" not in [e.id for e in machine(row).enabled_events()]
    with pytest.raises(TransitionNotAllowed):
        machine(row).send("accept")


def test_dispatch_marks_route_and_return_counts():
    row = Row(status="triage")
    m = machine(row)
    m.send("dispatch")
    assert row.via_leader is True
    m.send("hand_on")
    m.send("return_case")
    assert (row.status, row.return_count) == ("building_leader", 1)
    m.send("return_case")  # a second return goes up to the supervisor, not down to the grid
    assert (row.status, row.return_count) == ("arbitration", 2)


def test_wrong_jurisdiction_goes_up_at_the_first_return_and_other_reasons_do_not():
    row = Row(status="building_leader")
    machine(row).send("return_case", reason="not_our_duty")
    assert row.status == "triage"
    row = Row(status="building_leader")
    machine(row).send("return_case", reason="wrong_jurisdiction")
    assert (row.status, row.return_count) == ("arbitration", 1)


def test_arbitration_marks_the_route_of_a_leader():
    row = Row(status="arbitration", via_leader=False)
    machine(row).send("arbitrate", holder="leader")
    assert (row.status, row.via_leader) == ("building_leader", True)
    row = Row(status="arbitration", via_leader=True)
    machine(row).send("arbitrate", holder="organisation")
    assert (row.status, row.via_leader) == ("handling", False)


def test_full_happy_path():
    row = Row()
    m = machine(row)
    for event in ["sign", "dispatch", "hand_on"]:
        m.send(event)
    row.assigned_org_id = 1
    for event in ["accept", "report_done", "reopen", "report_done", "close"]:
        m.send(event)
    assert row.status == "closed"
    assert list(m.enabled_events()) == []


def test_loading_a_stored_status_does_not_reenter_initial_state():
    row = Row(status="resolved")
    machine(row)
    assert row.status == "resolved"


def test_diagram_in_docs_is_current():
    """docs/workflow.md embeds the mermaid diagram generated from the class; regenerate when it fails."""
    from pathlib import Path

    from casework.workflow import mermaid_diagram
    text = (Path(__file__).resolve().parent.parent / "docs" / "workflow.md").read_text(encoding="utf-8")
    assert mermaid_diagram() in text, "docs/workflow.md is stale: run `python -m casework.workflow > ...`"


def test_every_event_has_a_button_position():
    from casework.events import EVENT_ORDER
    assert sorted(EVENT_ORDER) == sorted(EVENTS)


def test_memoised_enabled_events_match_the_machine():
    """enabled_events() answers per (status, guard facts); it must equal a machine built for the row."""
    from itertools import product

    from casework.workflow import enabled_events
    for status, via, org, accepted, returned in product(STATUSES, (False, True), (None, 7), (None, "2026-11-01"),
                                                        (0, 2)):
        row = Row(status=status, via_leader=via, assigned_org_id=org, accepted=accepted, return_count=returned)
        assert list(enabled_events(row)) == [e.id for e in machine(row).enabled_events()], (
            status, via, org, accepted, returned)

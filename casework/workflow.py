"""The case workflow: states, then events, then guards by name. No Flask, no SQLAlchemy.

The machine binds to any object with the attributes it reads (``status``, ``via_leader``,
``assigned_org_id``, ``handler_accepted_at``, ``return_count``), so the same class drives a
database row and a plain object in tests. Who may fire an event is not decided here but in
``casework.access``; what an event needs from the user, its words, roles, board moves and side
effects are in ``casework.events``, one spec per event.
"""
from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

__all__ = [
    "CaseWorkflow", "TransitionNotAllowed", "STATUSES", "OPEN_STATUSES", "PRIORITIES", "CHANNELS",
    "RESOLUTIONS", "SATISFACTIONS", "RETURN_REASONS", "REJECT_REASONS", "REROUTE_REASONS", "ARBITRATION_HOLDERS",
    "EVENTS", "enabled_events",
]

STATUSES = ("reported", "triage", "building_leader", "handling", "resolved", "arbitration", "closed")
OPEN_STATUSES = STATUSES[:-1]
PRIORITIES = ("normal", "urgent", "emergency")
CHANNELS = ("walk_in", "phone", "web", "patrol", "api")
RESOLUTIONS = ("solved", "duplicate", "rejected", "withdrawn")
SATISFACTIONS = ("satisfied", "basically_satisfied", "dissatisfied")
# Coded reasons make returns countable by cause on the dashboard.
RETURN_REASONS = (
    "wrong_jurisdiction", "not_our_duty", "insufficient_info", "wrong_category",
    "needs_higher_level", "other",
)
REJECT_REASONS = ("not_in_scope", "invalid_report", "already_solved", "other")
# Why grid staff send a case in triage to another grid (不属于本网格): countable like returns.
REROUTE_REASONS = ("wrong_grid", "wrong_building", "other")
# Whom a supervisor's arbitration (仲裁) hands the case to: the grid, the building leader, an organisation.
ARBITRATION_HOLDERS = ("grid", "leader", "organisation")


class CaseWorkflow(StateMachine):
    """reported → triage → building_leader → handling → resolved → closed, with the side roads."""

    # States
    reported = State("新上报", initial=True, value="reported")
    triage = State("网格研判", value="triage")
    building_leader = State("楼栋长处理", value="building_leader")
    handling = State("物业/合伙人办理", value="handling")
    resolved = State("待回访", value="resolved")
    # A case returned twice, or returned as "not our jurisdiction", waits for the community
    # supervisor (or the subdistrict, across communities) to decide who handles it.
    arbitration = State("待仲裁", value="arbitration")
    closed = State("已办结", final=True, value="closed")

    # Events
    sign = reported.to(triage)
    merge = reported.to(closed) | triage.to(closed)
    reject = reported.to(closed) | triage.to(closed)
    withdraw = reported.to(closed) | triage.to(closed)
    dispatch = triage.to(building_leader)
    dispatch_handler = triage.to(handling)
    resolve = triage.to(resolved) | building_leader.to(resolved)
    hand_on = building_leader.to(handling)
    accept = handling.to.itself(cond="awaiting_acceptance", internal=True)
    report_done = handling.to(resolved)
    return_case = (
        building_leader.to(arbitration, cond="goes_to_arbitration")
        | building_leader.to(triage, unless="goes_to_arbitration")
        | handling.to(arbitration, cond="goes_to_arbitration")
        | handling.to(building_leader, cond="via_leader", unless="goes_to_arbitration")
        | handling.to(triage, unless=["via_leader", "goes_to_arbitration"])
    )
    # Jurisdiction moves (各级联动): to the right grid, a supervisor's binding decision, 督办改派.
    # A re-route starts the new grid's triage afresh (an external self-transition).
    reroute = triage.to.itself(internal=False)
    arbitrate = (
        arbitration.to(handling, cond="for_organisation")
        | arbitration.to(building_leader, cond="for_leader")
        | arbitration.to(triage, unless=["for_organisation", "for_leader"])
    )
    reassign = triage.to(handling) | building_leader.to(handling) | handling.to.itself(internal=False)
    close = resolved.to(closed)
    reopen = resolved.to(handling, cond="has_handler") | resolved.to(triage, unless="has_handler")

    # Guards, by name
    def via_leader(self) -> bool:
        """The case reached the handler through a building leader, so a return goes back there."""
        return bool(getattr(self.model, "via_leader", False))

    def has_handler(self) -> bool:
        """A handler organisation did the work, so a 'not solved' call-back goes back to it."""
        return getattr(self.model, "assigned_org_id", None) is not None

    def awaiting_acceptance(self) -> bool:
        """The handler has not signed for the case yet."""
        return getattr(self.model, "handler_accepted_at", None) is None

    def goes_to_arbitration(self, reason: str | None = None) -> bool:
        """A return goes up to the supervisor, not back down: the case is not this grid's or
        building's at all (wrong_jurisdiction), or it has been returned before (a second return)."""
        return reason == "wrong_jurisdiction" or (getattr(self.model, "return_count", 0) or 0) >= 1

    def for_organisation(self, holder: str | None = None) -> bool:
        """The supervisor's arbitration names a handler organisation."""
        return holder == "organisation"

    def for_leader(self, holder: str | None = None) -> bool:
        """The supervisor's arbitration names the building leader."""
        return holder == "leader"

    # Actions that only touch the bound object's plain attributes
    def on_dispatch(self) -> None:
        self.model.via_leader = True

    def on_dispatch_handler(self) -> None:
        self.model.via_leader = False

    def on_reassign(self) -> None:
        self.model.via_leader = False

    def on_arbitrate(self, holder: str | None = None) -> None:
        self.model.via_leader = holder == "leader"

    def on_return_case(self) -> None:
        self.model.return_count = (self.model.return_count or 0) + 1


EVENTS = tuple(e.id for e in CaseWorkflow.events)


@cache
def _enabled(status: str, via_leader: bool, has_handler: bool, awaiting: bool,
             returned: bool) -> tuple[str, ...]:
    row = SimpleNamespace(status=status, via_leader=via_leader, assigned_org_id=1 if has_handler else None,
                          handler_accepted_at=None if awaiting else 1, return_count=1 if returned else 0)
    return tuple(e.id for e in CaseWorkflow(model=row, state_field="status").enabled_events())


def enabled_events(model) -> tuple[str, ...]:
    """The events the machine allows for `model` now, guards included.

    The guards read only the status and four facts of the case (via_leader, has a handler,
    awaiting the handler's sign-for, returned before), so the answer is computed once per
    combination: boards ask for hundreds of cards, and building a machine per card is the slow
    part. (Guards that read the event's own inputs — a return's reason, an arbitration's holder —
    come in pairs with `cond`/`unless`, so the event is enabled whatever the input will be.)
    """
    return _enabled(model.status, bool(model.via_leader), model.assigned_org_id is not None,
                    model.handler_accepted_at is None, bool(getattr(model, "return_count", 0)))


def mermaid_diagram() -> str:
    """The state diagram in mermaid, as embedded in docs/workflow.md."""
    return format(CaseWorkflow, "mermaid").strip()


if __name__ == "__main__":  # python -m casework.workflow: print the diagram for docs/workflow.md
    print(mermaid_diagram())

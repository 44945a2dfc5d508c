"""The activity workflow: planned → open → under_way → hours_to_confirm → done. No Flask, no SQLAlchemy.

A `StateMachine` (not a `StateChart`, which would ignore a disallowed event silently), bound to the
activity row on demand: `ActivityFlow(model=activity, state_field="status")`.
"""
from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

__all__ = ["ActivityFlow", "TransitionNotAllowed", "ACTIVITY_EVENTS", "enabled_events"]


class ActivityFlow(StateMachine):
    """An activity is planned, opened for sign-up, held, its hours confirmed by the leader, done."""

    # States
    planned = State("计划中", initial=True, value="planned")
    open = State("报名中", value="open")
    under_way = State("进行中", value="under_way")
    hours_to_confirm = State("待确认时长", value="hours_to_confirm")
    done = State("已完成", final=True, value="done")

    # Events
    open_signup = planned.to(open)
    start = open.to(under_way)
    finish = under_way.to(hours_to_confirm)
    confirm_hours = hours_to_confirm.to(done)


ACTIVITY_EVENTS = tuple(e.id for e in ActivityFlow.events)


@cache
def _enabled(status: str) -> tuple[str, ...]:
    return tuple(e.id for e in ActivityFlow(model=SimpleNamespace(status=status), state_field="status")
                 .enabled_events())


def enabled_events(activity) -> tuple[str, ...]:
    """The events the machine allows for the activity now (no guards: the status decides)."""
    return _enabled(activity.status)


def fire(activity, event: str) -> None:
    """Move the activity by `event`; TransitionNotAllowed when the state does not allow it."""
    ActivityFlow(model=activity, state_field="status").send(event)

"""The columns each role's board has (a key, a label, a WHERE clause) and the moves between them.

Columns are data; the moves between columns are data too (which event leads from one column to
another), filtered per card by ``access.events_for`` so a card never offers what the policy refuses.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, DateTime, and_, bindparam, or_

from casework.access import Jurisdiction, Who, assisted_by
from casework.events import EVENT_INPUTS, SPECS, BoardMove
from casework.models import Case
from casework.workflow import CaseWorkflow

PAGE_SIZE = 50
RECENT_DAYS = 7
# Ages and due badges change with the clock, not only with the data: the ETag moves on at least
# this often so a board left open re-renders them.
ETAG_BUCKET_SECONDS = 300

Clause = Callable[[Jurisdiction, dt.datetime], ColumnElement[bool]]


def _status(*statuses: str) -> Clause:
    return lambda j, at: Case.status.in_(statuses) if len(statuses) > 1 else Case.status == statuses[0]


# Passed as a column clause's `at` by statements built once and kept (services/boards/reading.py,
# `_statement`): the clauses then hold a bound parameter for the window's start instead of its
# value, and the statement is executed with `bound_times(at)`.
BOUND_AT = object()
RECENT_CUTOFF = bindparam("board_recent_cutoff", type_=DateTime)


def recent_cutoff(at) -> dt.datetime:
    """The start of the "recently closed" window (RECENT_DAYS before `at`): boards and the ETag share it.

    `at` may be `BOUND_AT`: the window's start is then the parameter `RECENT_CUTOFF` (see `bound_times`).
    What must stay equal: a column clause reads `at` only through this function."""
    if at is BOUND_AT:
        return RECENT_CUTOFF
    return at - dt.timedelta(days=RECENT_DAYS)


def bound_times(at: dt.datetime) -> dict:
    """The parameters of a statement built with `BOUND_AT`, for the instant `at`."""
    return {RECENT_CUTOFF.key: recent_cutoff(at)}


def _closed_recently(j: Jurisdiction, at: dt.datetime) -> ColumnElement[bool]:
    # Closing is a case's last change, so "closed within 7 days" is "closed and last changed within
    # 7 days": the (scope, status, updated_at) indexes answer it without reading a row.
    return and_(Case.status == "closed", Case.updated_at >= recent_cutoff(at))


def _org(j: Jurisdiction):
    return j.organisation_id if j.organisation_id is not None else -1


def _handler_to_sign(j, at):
    return and_(Case.status == "handling", Case.assigned_org_id == _org(j), Case.handler_accepted_at.is_(None))


def _handler_in_progress(j, at):
    return and_(Case.status == "handling", Case.assigned_org_id == _org(j),
                Case.handler_accepted_at.is_not(None))


def _handler_resolved(j, at):
    return and_(Case.assigned_org_id == _org(j), Case.status == "resolved")


def _handler_closed_recently(j, at):
    return and_(Case.assigned_org_id == _org(j), Case.status == "closed", Case.updated_at >= recent_cutoff(at))


def _handler_returned(j, at):
    cut = recent_cutoff(at)
    return and_(Case.returned_org_id == _org(j),
                or_(Case.assigned_org_id.is_(None), Case.assigned_org_id != _org(j)),
                or_(Case.status != "closed", Case.updated_at >= cut))


def _handler_assisting(j, at):
    """Cases the organisation assists on (协办), not leads nor returned: open, or closed recently."""
    org = _org(j)
    return and_(assisted_by(org),
                or_(Case.assigned_org_id.is_(None), Case.assigned_org_id != org),
                or_(Case.returned_org_id.is_(None), Case.returned_org_id != org),
                or_(Case.status != "closed", Case.updated_at >= recent_cutoff(at)))


@dataclass(frozen=True)
class Column:
    """One column of a board: what it is called and which cases (inside the scope) it holds.

    `parts` are disjoint clauses, each one index range; the column is their union (`where`). A
    page merges the parts' first rows instead of sorting the whole column, and a count adds the
    parts' counts. What must stay equal: the parts never overlap (or counts would add a case twice).
    """

    key: str
    label: object
    parts: tuple[Clause, ...]
    newest_first: bool = False
    # Open work whose default order is the soonest stage due time first (handlers' and building
    # leaders' own work: what is due next must not sit at the bottom of a long column).
    due_first: bool = False

    def where(self, j: Jurisdiction, at: dt.datetime) -> ColumnElement[bool]:
        """The whole column as one clause: the union of its parts."""
        clauses = [part(j, at) for part in self.parts]
        return clauses[0] if len(clauses) == 1 else or_(*clauses)


def _column(key: str, label, *parts: Clause, newest_first: bool = False, due_first: bool = False) -> Column:
    return Column(key, label, parts, newest_first, due_first)


GRID_COLUMNS = (
    _column("new", _l("新上报"), _status("reported")),
    _column("triage", _l("网格研判"), _status("triage")),
    _column("leader", _l("在楼栋长"), _status("building_leader")),
    _column("handler", _l("在承办单位"), _status("handling")),
    _column("callback", _l("待回访"), _status("resolved")),
    _column("closed", _l("近7天办结"), _closed_recently, newest_first=True),
)
# Supervisors see the grid's columns and, first, the cases waiting for their arbitration (仲裁).
SUPERVISOR_COLUMNS = (
    _column("arbitration", _l("待仲裁"), _status("arbitration")),
    *GRID_COLUMNS,
)
LEADER_COLUMNS = (
    _column("mine", _l("待我处理"), _status("building_leader"), due_first=True),
    _column("handed_on", _l("已转交"), _status("handling"), due_first=True),
    _column("callback", _l("待回访"), _status("resolved"), due_first=True),
    _column("closed", _l("近7天办结"), _closed_recently, newest_first=True),
)
HANDLER_COLUMNS = (
    _column("to_sign", _l("待签收"), _handler_to_sign, due_first=True),
    _column("in_progress", _l("办理中"), _handler_in_progress, due_first=True),
    _column("assisting", _l("协办"), _handler_assisting),
    _column("done", _l("已办结反馈"), _handler_resolved, _handler_closed_recently, newest_first=True),
    _column("returned", _l("已退回"), _handler_returned, newest_first=True),
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    "grid_staff": GRID_COLUMNS,
    "building_leader": LEADER_COLUMNS,
    "handler": HANDLER_COLUMNS,
    "community_supervisor": SUPERVISOR_COLUMNS,
    "subdistrict_supervisor": SUPERVISOR_COLUMNS,
    "admin": GRID_COLUMNS,
}
TITLES = {
    "grid_staff": _l("网格看板"), "building_leader": _l("楼栋看板"), "handler": _l("承办看板"),
    "community_supervisor": _l("社区督导看板"), "subdistrict_supervisor": _l("街道督导看板"),
    "admin": _l("全部案件看板"),
}


# A drop between two columns (source, target, event, cond/unless guard): see events.BoardMove. The
# drops each role's board offers are read from the event specs, in button order; a card offers
# those leaving its own column.
Move = BoardMove
MOVES: dict[str, tuple[Move, ...]] = {}
for _spec in SPECS:
    for _m in _spec.board:
        MOVES[_m.role] = MOVES.get(_m.role, ()) + (_m,)


class MoveOption(NamedTuple):
    """A column this card may be dropped on, the event that fires, and whether it needs a form first."""

    target: str
    event: str
    form: bool


def guard(name: str, case) -> bool:
    """Evaluate one of the workflow's guards by name against a case, without building a machine."""
    return bool(getattr(CaseWorkflow, name)(SimpleNamespace(model=case)))


def moves_for(who: Who, column_key: str, case, events: list[str]) -> list[MoveOption]:
    """The columns a card in `column_key` may be dropped on: the role's moves whose event the
    policy allows now (`events`, from access.events_for) and whose guard holds."""
    moves = []
    for m in MOVES.get(who.role, ()):
        if m.source != column_key or m.event not in events:
            continue
        if (m.cond and not guard(m.cond, case)) or (m.unless and guard(m.unless, case)):
            continue
        moves.append(MoveOption(m.target, m.event, bool(EVENT_INPUTS.get(m.event))))
    return moves


def columns_for(who: Who) -> tuple[Column, ...]:
    return COLUMNS.get(who.role, ())


def due_first(who: Who) -> bool:
    """Whether this role's board puts the soonest due first by default (its filter bar says so)."""
    return any(c.due_first for c in columns_for(who))


def column(who: Who, key: str) -> Column | None:
    return next((c for c in columns_for(who) if c.key == key), None)


def column_label(who: Who, key: str):
    col = column(who, key)
    return col.label if col else key

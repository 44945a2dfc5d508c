"""The columns each role's board has (a key, a label, a WHERE clause) and the moves between them.

Columns are data; the moves between columns are data too (which event leads from one column to
another), filtered per card by ``access.events_for`` so a card never offers what the policy refuses.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement, and_, or_,
)

from casework.events import SPECS, BoardMove
from casework.models import Case, User
from casework.workflow import CaseWorkflow

PAGE_SIZE = 50
RECENT_DAYS = 7
# Ages and due badges change with the clock, not only with the data: the ETag moves on at least
# this often so a board left open re-renders them.
ETAG_BUCKET_SECONDS = 300

Clause = Callable[[User, dt.datetime], ColumnElement[bool]]


def _status(*statuses: str) -> Clause:
    return lambda user, at: Case.status.in_(statuses) if len(statuses) > 1 else Case.status == statuses[0]


def _cutoff(at: dt.datetime) -> dt.datetime:
    return at - dt.timedelta(days=RECENT_DAYS)


def _closed_recently(user: User, at: dt.datetime) -> ColumnElement[bool]:
    # Closing is a case's last change, so "closed within 7 days" is "closed and last changed within
    # 7 days": the (scope, status, updated_at) indexes answer it without reading a row.
    return and_(Case.status == "closed", Case.updated_at >= _cutoff(at))


def _org(user: User):
    return user.organisation_id if user.organisation_id is not None else -1


def _handler_to_sign(user, at):
    return and_(Case.status == "handling", Case.assigned_org_id == _org(user), Case.handler_accepted_at.is_(None))


def _handler_in_progress(user, at):
    return and_(Case.status == "handling", Case.assigned_org_id == _org(user),
                Case.handler_accepted_at.is_not(None))


def _handler_resolved(user, at):
    return and_(Case.assigned_org_id == _org(user), Case.status == "resolved")


def _handler_closed_recently(user, at):
    return and_(Case.assigned_org_id == _org(user), Case.status == "closed", Case.updated_at >= _cutoff(at))


def _handler_done(user, at):
    return or_(_handler_resolved(user, at), _handler_closed_recently(user, at))


def _handler_returned(user, at):
    cut = _cutoff(at)
    return and_(Case.returned_org_id == _org(user),
                or_(Case.assigned_org_id.is_(None), Case.assigned_org_id != _org(user)),
                or_(Case.status != "closed", Case.updated_at >= cut))


@dataclass(frozen=True)
class Column:
    """One column of a board: what it is called and which cases (inside the scope) it holds."""

    key: str
    label: object
    where: Clause
    newest_first: bool = False
    # `where` as disjoint clauses, each one index range: a page then merges their first rows
    # instead of sorting the whole column (empty: `where` is one range already).
    parts: tuple[Clause, ...] = ()


GRID_COLUMNS = (
    Column("new", _l("新上报"), _status("reported")),
    Column("triage", _l("网格研判"), _status("triage")),
    Column("leader", _l("在楼栋长"), _status("building_leader")),
    Column("handler", _l("在承办单位"), _status("handling")),
    Column("callback", _l("待回访"), _status("resolved")),
    Column("closed", _l("近7天办结"), _closed_recently, newest_first=True),
)
LEADER_COLUMNS = (
    Column("mine", _l("待我处理"), _status("building_leader")),
    Column("handed_on", _l("已转交"), _status("handling")),
    Column("callback", _l("待回访"), _status("resolved")),
    Column("closed", _l("近7天办结"), _closed_recently, newest_first=True),
)
HANDLER_COLUMNS = (
    Column("to_sign", _l("待签收"), _handler_to_sign),
    Column("in_progress", _l("办理中"), _handler_in_progress),
    Column("done", _l("已办结反馈"), _handler_done, newest_first=True,
           parts=(_handler_resolved, _handler_closed_recently)),
    Column("returned", _l("已退回"), _handler_returned, newest_first=True),
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    "grid_staff": GRID_COLUMNS,
    "building_leader": LEADER_COLUMNS,
    "handler": HANDLER_COLUMNS,
    "community_supervisor": GRID_COLUMNS,
    "subdistrict_supervisor": GRID_COLUMNS,
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


def _guard(name: str, case: Case) -> bool:
    """Evaluate one of the workflow's guards by name against a case, without building a machine."""
    return bool(getattr(CaseWorkflow, name)(SimpleNamespace(model=case)))


def columns_for(user: User) -> tuple[Column, ...]:
    return COLUMNS.get(user.role, ())


def column(user: User, key: str) -> Column | None:
    return next((c for c in columns_for(user) if c.key == key), None)


def column_label(user: User, key: str):
    col = column(user, key)
    return col.label if col else key

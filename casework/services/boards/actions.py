"""Acting from a board: a drop or "move to" as an event, and the bulk sign / urge."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    select,
)

from casework import access
from casework.extensions import db
from casework.numbers import as_id, as_int
from casework.models import Case, User
from casework.services import escalation, transitions
from casework.services.errors import Invalid, Refused, ServiceError
from casework.services.boards.layout import column, column_label
from casework.services.boards.reading import card_view, column_of

log = logging.getLogger(__name__)


def move_event(user: User, case: Case, target: str) -> tuple[str, str]:
    """The event that takes this case from its column to `target`, or Refused saying why."""
    source = column_of(user, case)
    if column(user, target) is None:
        raise Refused(_l("没有这一列。"))
    if source == target:
        raise Refused(_l("案件已经在“%(col)s”列。", col=column_label(user, target)))
    view = card_view(user, case, source or "")
    for m in view.moves:
        if m.target == target:
            return source, m.event
    raise Refused(_l("不能把这件案件移到“%(col)s”：您现在没有这一步的权限，或案件状态已变化。",
                     col=column_label(user, target)))


def fire_to(user: User, case: Case, event: str, data: dict, *, version: int | None, target: str | None = None):
    """Fire `event`; when it came from a drop on `target`, the case must land there or nothing changes."""
    row = transitions.fire(user, case, event, data, version=version)
    if target:
        landed = column_of(user, case)
        if landed != target:
            raise Refused(_l("这一步会让案件进入“%(col)s”，而不是“%(target)s”；请用卡片上的按钮办理。",
                             col=column_label(user, landed) if landed else case.status,
                             target=column_label(user, target)))
    return row


@dataclass
class BulkResult:
    done: list[Case] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (number or id, message)


def parse_picks(values: Iterable[str]) -> list[tuple[int, int | None]]:
    """'id:version' pairs from ticked cards; anything malformed is dropped."""
    picks = []
    for raw in values:
        case_id, _, version = (raw or "").partition(":")
        if as_id(case_id) is not None:
            picks.append((as_id(case_id), as_int(version)))
    return picks


def _scoped_cases(user: User, ids: list[int]) -> dict[int, Case]:
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids), access.scope_clause(user)))}


def sign_many(actor: User, picks: list[tuple[int, int | None]]) -> BulkResult:
    """Sign for several new cases: each gets its own event row; a stale or refused one is reported."""
    result = BulkResult()
    cases = _scoped_cases(actor, [i for i, _ in picks])
    for case_id, version in picks:
        case = cases.get(case_id)
        if case is None:
            result.failed.append((f"#{case_id}", str(_l("找不到该案件，或不在您的辖区内。"))))
            continue
        try:
            with db.session.begin_nested():
                transitions.fire(actor, case, "sign", {}, version=version)
        except ServiceError as exc:
            result.failed.append((case.number, str(exc.message)))
            continue
        result.done.append(case)
    log.info("bulk sign by %s: %d done, %d refused", actor.username, len(result.done), len(result.failed))
    return result


URGE_NOTE_MAX = 500


def urge_many(actor: User, picks: list[tuple[int, int | None]], note: str) -> BulkResult:
    """Urge (催办) several cases: a timeline row and a notice for each case the supervisor may urge."""
    note = (note or "").strip()
    if len(note) > URGE_NOTE_MAX:
        raise Invalid(_l("请检查填写的内容。"), {"note": _l("说明不能超过 %(n)d 字。", n=URGE_NOTE_MAX)})
    result = BulkResult()
    cases = _scoped_cases(actor, [i for i, _ in picks])
    for case_id, _version in picks:
        case = cases.get(case_id)
        if case is None:
            result.failed.append((f"#{case_id}", str(_l("找不到该案件，或不在您的辖区内。"))))
        elif not access.may_urge(actor, case):
            result.failed.append((case.number, str(_l("该案件不能催办（已办结或无权限）。"))))
        else:
            result.done.append(case)
    # One timeline row on each case and a notice to whoever holds it (the same as urging one case).
    escalation.urge(actor, result.done, note or str(_l("请抓紧办理。")))
    log.info("bulk urge by %s: %d urged, %d refused", actor.username, len(result.done), len(result.failed))
    return result

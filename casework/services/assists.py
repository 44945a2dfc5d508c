"""Lead and assisting handlers (主办 / 协办): asking an organisation to assist, its notes and its part done.

The lead is the case's handler organisation (`Case.assigned_org_id`); each assisting organisation
has one `CaseAssist` part. Who may do what is `access.may_request_assist` / `access.may_work_assist`;
what the lead's "report done" needs while a part is open is `check_lead_finish` (called by the
transitions service), and `waive_open_parts` records the lead's reason on each open part. Every
change appends a timeline row (kind "assist") and bumps the part's version (the board's ETag reads
it: `etag_fingerprint`). Definitions of the dashboard's figures: docs/metrics.md.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from casework import access
from casework.extensions import db
from casework.models import Case, CaseAssist, CaseEvent, NoticeChannel, Organisation, User
from casework.models.notices import PERSONAL_KINDS
from casework.numbers import as_id
from casework.services import escalation
from casework.services.errors import Invalid, NotFound, Refused, Stale
from casework.services.notices.content import render
from casework.services.notices.outbox import enqueue
from casework.services.notices.routing import facts_of, recipients
from casework.services.queries import handler_choices
from casework.timekeeping import now

log = logging.getLogger(__name__)
NOTE_MAX = 2000
# The report-done form's field for the lead's reason to finish without an open part ("why not").
REASON_FIELD = "assist_reason"


def parts_of(case: Case) -> list[CaseAssist]:
    """The case's assisting parts, in the order they were asked for, with their organisations."""
    return list(db.session.scalars(
        select(CaseAssist).where(CaseAssist.case_id == case.id)
        .options(selectinload(CaseAssist.organisation)).order_by(CaseAssist.id)))


def open_parts(case_id: int) -> list[CaseAssist]:
    """The parts still open (neither done nor waived)."""
    return list(db.session.scalars(
        select(CaseAssist).where(CaseAssist.case_id == case_id, CaseAssist.done_at.is_(None),
                                 CaseAssist.waived_at.is_(None))
        .options(selectinload(CaseAssist.organisation)).order_by(CaseAssist.id)))


def choices(case: Case) -> list[Organisation]:
    """Organisations that may be asked to assist: those the case could be handed to (the building's
    property company, partners), less the lead and those already assisting."""
    taken = {case.assigned_org_id} | {p.organisation_id for p in parts_of(case)}
    return [o for o in handler_choices(case) if o.id not in taken]


def _text(value: str | None, field: str, errors: dict, *, required: bool, missing) -> str:
    text = (value or "").strip()
    if required and not text:
        errors[field] = missing
    elif len(text) > NOTE_MAX:
        errors[field] = _l("说明不能超过 %(n)d 字。", n=NOTE_MAX)
    return text


def _row(actor: User | None, case: Case, event: str, note: str, org_id: int | None, at: dt.datetime) -> CaseEvent:
    row = CaseEvent(case_id=case.id, kind="assist", event=event, actor=actor, from_status=case.status,
                    to_status=case.status, note=note, organisation_id=org_id, public=False, created_at=at)
    db.session.add(row)
    return row


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError as exc:  # a concurrent commit changed the part; the caller rolls back
        raise Stale(_l("协办情况刚被其他人更新，请刷新后再操作。")) from exc


def request_assist(actor: User, case: Case, organisation: str | None, note: str = "") -> CaseAssist:
    """The lead's case gains an assisting organisation: its handlers are told, the timeline says so."""
    if not access.may_request_assist(actor, case):
        raise Refused(_l("当前不能为本案件添加协办单位。"))
    errors: dict = {}
    org_id = as_id(str(organisation or ""))
    org = db.session.get(Organisation, org_id) if org_id is not None else None
    if org is not None and (org.id == case.assigned_org_id or any(p.organisation_id == org.id for p in parts_of(case))):
        raise Refused(_l("%(name)s 已经在办理本案件，不能重复添加。", name=org.name))
    if org is None or org.id not in {o.id for o in choices(case)}:
        errors["organisation"] = _l("请选择协办单位。")
    clean_note = _text(note, "note", errors, required=False, missing="")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    at = now()
    part = CaseAssist(case_id=case.id, organisation_id=org.id, requested_by_id=actor.id, requested_at=at,
                      note=clean_note, due_at=case.stage_due_at, updated_at=at)
    db.session.add(part)
    row = _row(actor, case, "assist_requested", clean_note, org.id, at)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:  # the same organisation added at the same moment by someone else
        raise Refused(_l("%(name)s 已经在办理本案件，不能重复添加。", name=org.name)) from exc
    _notify(actor, case, "assist_requested", [org.id], f"as{part.id}", row)
    log.info("case %s: %s asked to assist by %s", case.number, org.name, actor.username)
    return part


def get_part(case: Case, part_id: int) -> CaseAssist:
    """One part of this case (another case's part reads as missing)."""
    part = db.session.get(CaseAssist, part_id)
    if part is None or part.case_id != case.id:
        raise NotFound(_l("没有这项协办。"))
    return part


def _check_version(part: CaseAssist, version: int | None) -> None:
    if version is None or int(version) != part.version:
        raise Stale(_l("协办情况已被其他人更新，请刷新后再操作。"))


def add_note(actor: User, case: Case, part: CaseAssist, note: str) -> CaseEvent:
    """The assisting organisation writes down what it did so far (the lead and the grid read it)."""
    if not access.may_work_assist(actor, case, part):
        raise Refused(_l("只有协办单位可以在协办期间填写进展。"))
    errors: dict = {}
    text = _text(note, "note", errors, required=True, missing=_l("请填写进展。"))
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    at = now()
    part.updated_at = at
    flag_modified(part, "updated_at")  # an UPDATE even within the same second: the version (boards' ETag) moves
    row = _row(actor, case, "assist_note", text, part.organisation_id, at)
    _flush()
    log.info("case %s: note by assisting %s", case.number, actor.username)
    return row


def report_part_done(actor: User, case: Case, part: CaseAssist, note: str, version: int | None) -> CaseEvent:
    """The assisting organisation reports its part done: the lead hears of it, the timeline says so."""
    if not access.may_work_assist(actor, case, part):
        raise Refused(_l("这项协办已经结束，或您不是协办单位。"))
    _check_version(part, version)
    errors: dict = {}
    text = _text(note, "done_note", errors, required=True, missing=_l("请说明协办完成的情况。"))
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    at = now()
    part.done_at, part.done_by_id, part.done_note, part.updated_at = at, actor.id, text, at
    row = _row(actor, case, "assist_done", text, part.organisation_id, at)
    _flush()
    _notify(actor, case, "assist_done", [case.assigned_org_id], f"ad{part.id}", row)
    log.info("case %s: assisting part of org %s done by %s", case.number, part.organisation_id, actor.username)
    return row


# ---- the lead's "report done" (called by services/transitions.py) ----------------------------------
def check_lead_finish(case: Case, data: dict, errors: dict) -> tuple[str, list[CaseAssist]]:
    """The lead reports the whole case done only when every assisting part is in, or says why not.

    Returns the reason and the parts it closes (none while no part is open); puts a readable error
    on the reason field when a part is open and no reason was given.
    """
    waiting = _others_open(case)
    reason = (data.get(REASON_FIELD) or "").strip()
    if not waiting:
        return "", []
    if not reason:
        names = "、".join(p.organisation.name for p in waiting)
        errors[REASON_FIELD] = _l("协办单位尚未报告完成：%(names)s。请等协办完成，或写明不等的原因。", names=names)
    elif len(reason) > NOTE_MAX:
        errors[REASON_FIELD] = _l("说明不能超过 %(n)d 字。", n=NOTE_MAX)
    return reason, waiting


def _others_open(case: Case) -> list[CaseAssist]:
    """The open parts of organisations other than the lead (one asked to assist may lead it later, after a
    return and a new hand-on: its own part does not hold up its report)."""
    return [p for p in open_parts(case.id) if p.organisation_id != case.assigned_org_id]


def waive_open_parts(actor: User | None, case: Case, reason: str, parts: list[CaseAssist], at: dt.datetime) -> None:
    """The lead finished without these open parts (read by `check_lead_finish`): each is closed with the
    lead's reason, one timeline row each. No query and no flush here: the transition flushes once."""
    for part in parts:
        part.waived_at, part.waived_reason, part.updated_at = at, reason, at
        _row(actor, case, "assist_waived", reason, part.organisation_id, at)


# ---- who hears of it ---------------------------------------------------------------------------------
def _notify(actor: User | None, case: Case, kind: str, org_ids: list[int | None], key: str, row: CaseEvent) -> None:
    """The organisations' handlers (in-app and their own channels) and the organisations' group robots."""
    org_ids = [o for o in org_ids if o is not None]
    people = [r for o in org_ids for r in recipients("handlers", o) if actor is None or r.user_id != actor.id]
    users = sorted({r.user_id for r in people})
    if users:
        escalation.notify(users, case, kind, key, recipients=people)
    channels = db.session.scalars(select(NoticeChannel).where(
        NoticeChannel.active.is_(True), NoticeChannel.kind.not_in(PERSONAL_KINDS),
        NoticeChannel.organisation_id.in_(org_ids)).order_by(NoticeChannel.id)).all() if org_ids else []
    if channels:
        facts = facts_of(case)
        payload = render(kind, facts, "zh_Hans_CN")
        for ch in channels:
            enqueue(ch, payload, key=f"{kind}:{case.id}:{key}:c{ch.id}", kind=kind, case_id=case.id,
                    emergency=facts.emergency, check_existing=False)


# ---- what boards show --------------------------------------------------------------------------------
class CardAssist(NamedTuple):
    """A card's assisting mark: parts settled (done or waived) of all parts, and the viewer's own part's
    state when the viewer assists ("open" / "done" / "waived"; None otherwise)."""

    settled: int
    total: int
    mine: str | None = None


def card_marks(case_ids: list[int], org_id: int | None) -> dict[int, CardAssist]:
    """The assisting marks of the cards on screen (one query)."""
    if not case_ids:
        return {}
    rows = db.session.execute(select(CaseAssist.case_id, CaseAssist.organisation_id, CaseAssist.done_at,
                                     CaseAssist.waived_at).where(CaseAssist.case_id.in_(case_ids))).all()
    marks: dict[int, CardAssist] = {}
    for case_id, org, done, waived in rows:
        settled, total, mine = marks.get(case_id, CardAssist(0, 0))
        state = "done" if done else ("waived" if waived else "open")
        marks[case_id] = CardAssist(settled + (state != "open"), total + 1,
                                    state if org_id is not None and org == org_id else mine)
    return marks


__all__ = ["CardAssist", "REASON_FIELD", "add_note", "card_marks", "check_lead_finish", "choices",
           "get_part", "open_parts", "parts_of", "report_part_done", "request_assist",
           "waive_open_parts"]


# ---- what the case page shows ------------------------------------------------------------------------
class PartView(NamedTuple):
    """One part on the case page: the row, its progress notes (timeline rows), whether the viewer works it."""

    part: CaseAssist
    notes: list[CaseEvent]
    may_work: bool


class Panel(NamedTuple):
    """The case page's assisting block: the parts, and the organisations the viewer may still ask."""

    parts: list[PartView]
    may_request: bool
    choices: list[Organisation]

    @property
    def open_count(self) -> int:
        return sum(1 for p in self.parts if p.part.is_open)


def panel(who: access.Who, case: Case) -> Panel:
    """What the assisting block shows this user (two or three small queries)."""
    parts = parts_of(case)
    notes: dict[int, list[CaseEvent]] = {}
    if parts:
        for row in db.session.scalars(select(CaseEvent).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == "assist", CaseEvent.event == "assist_note")
                .options(selectinload(CaseEvent.actor)).order_by(CaseEvent.id)):
            notes.setdefault(row.organisation_id, []).append(row)
    may_request = access.may_request_assist(who, case)
    return Panel([PartView(p, notes.get(p.organisation_id, []), access.may_work_assist(who, case, p)) for p in parts],
                 may_request, choices(case) if may_request else [])


def open_names(case_id: int) -> list[str]:
    """The names of the organisations whose part is still open (the report-done form names them)."""
    return [p.organisation.name for p in open_parts(case_id)]

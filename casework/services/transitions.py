"""Moving a case through the workflow: the one place a case's status changes."""
from __future__ import annotations

import datetime as dt
import logging

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from casework import access, events, observability
from casework.extensions import db
from casework.numbers import as_id
from casework.models import Building, Case, CaseEvent, Organisation, User
from casework.services.clock import end_stage, start_stage
from casework.services import assists, photos, rerouting, tallies
from casework.services.notices import handoffs, updates
from casework.services.errors import Invalid, Refused, Stale
from casework.services.queries import handler_choices
from casework.timekeeping import now
from casework.events import EventSpec
from casework.workflow import ARBITRATION_HOLDERS, SATISFACTIONS, TransitionNotAllowed, enabled_events

log = logging.getLogger(__name__)
NOTE_MAX = 2000
DEADLINE_MAX_DAYS = 90  # a supervisor's deadline (督办) further away than this is a typing slip
# Events that move a case between holders across levels: their rows keep the grids (from → to).
JURISDICTION_EVENTS = ("reroute", "arbitrate", "reassign")


def check_version(case: Case, seen_version: int | None) -> None:
    """Refuse an action taken on an out-of-date view of the case, naming who changed it."""
    if seen_version is None or int(seen_version) != case.version:
        last = db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc()).limit(1)
        ).first()
        if last is not None and last.actor is not None:
            who = last.actor.display_name
        else:
            who = _l("居民") if last is not None and last.actor_label == "resident" else _l("其他人")
        raise Stale(_l("该案件已被%(who)s更新，请刷新后再操作。", who=who))


def _check_reason(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    reason = data.get("reason") or ""
    if reason not in spec.reasons:
        errors["reason"] = _l("请选择原因。")
    elif reason == "other" and not clean["note"]:
        errors["note"] = _l("原因为“其他”时请写明。")
    clean["reason"] = reason


def _check_organisation(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    """Only an organisation the form offers (queries.handler_choices: the building's own property
    company or a partner — of the building the case is moving to, if it moves): the server's rule
    is the one the form's choices come from."""
    org = None
    raw = as_id(str(data.get("organisation") or ""))
    if raw is not None:
        org = db.session.get(Organisation, raw)
    choices = handler_choices(case, clean.get("building"))
    if org is None or not org.active or org.id not in {o.id for o in choices}:
        errors["organisation"] = _l("请选择承办单位。")
    clean["organisation"] = org


def _check_building(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    """Only a building the form offers (rerouting.building_choices); the grid follows the building."""
    raw = as_id(str(data.get("building") or ""))
    building = db.session.get(Building, raw) if raw is not None else None
    if (building is None or actor is None
            or building.id not in {b.id for b in rerouting.building_choices(actor, case, spec.name)}):
        errors["building"] = _l("请选择案件所属的楼栋。")
        building = None
    clean["building"] = building


def _check_holder(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    """An arbitration names the grid, the building leader, or an organisation (then which one)."""
    holder = data.get("holder") or ""
    if holder not in ARBITRATION_HOLDERS:
        errors["holder"] = _l("请选择由谁办理。")
    elif holder == "organisation":
        _check_organisation(spec, case, data, clean, errors, actor)
    clean["holder"] = holder


def _check_deadline(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    """The supervisor's deadline for the new handler: a time later than now, within DEADLINE_MAX_DAYS."""
    raw = (data.get("deadline") or "").strip()
    try:
        deadline = dt.datetime.fromisoformat(raw).replace(second=0, microsecond=0, tzinfo=None) if raw else None
    except ValueError:
        deadline = None
    at = now()
    if deadline is None:
        errors["deadline"] = _l("请填写办理期限（日期和时间）。")
    elif deadline <= at:
        errors["deadline"] = _l("办理期限必须晚于现在。")
    elif deadline > at + dt.timedelta(days=DEADLINE_MAX_DAYS):
        errors["deadline"] = _l("办理期限不能超过 %(n)d 天。", n=DEADLINE_MAX_DAYS)
    clean["deadline"] = deadline


def _check_satisfaction(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    sat = data.get("satisfaction") or ""
    if sat not in SATISFACTIONS:
        errors["satisfaction"] = _l("请选择满意度。")
    clean["satisfaction"] = sat


def _check_duplicate_of(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    """A case merged into must lie inside the actor's jurisdiction; one outside it is refused with
    the same words as an unknown number."""
    number = (data.get("duplicate_of") or "").strip().upper()
    target = db.session.scalars(select(Case).where(Case.number == number)).first() if number else None
    if target is not None and actor is not None and not access.can_view(actor, target):
        target = None  # outside the jurisdiction reads exactly like an unknown number
    if target is None or target.id == case.id:
        errors["duplicate_of"] = _l("请填写另一件案件的编号。")
    elif not target.is_open:
        errors["duplicate_of"] = _l("被合并到的案件必须尚未办结。")
    clean["duplicate_of"] = target


def _check_photos(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    """Optional "after" photos sent with the form (办结反馈): checked and cleaned now, written only
    once the event is (so a refused event stores no photo, and an accepted one loses none)."""
    uploads = data.get("photos") or []
    clean["photos"] = []
    if not uploads:
        return
    room = photos.MAX_AFTER_PHOTOS - sum(1 for a in case.attachments if a.stage == "after")
    if room <= 0:
        errors["photos"] = _l("完工照片最多 %(n)d 张。", n=photos.MAX_AFTER_PHOTOS)
        return
    try:
        clean["photos"] = photos.prepare(uploads, limit=room)
    except photos.PhotoTooLarge as exc:
        errors.update(exc.errors)
        clean["too_large"] = True
    except Invalid as exc:
        errors.update(exc.errors)


def _check_note(spec: EventSpec, case: Case, data: dict, clean: dict, errors: dict, actor) -> None:
    if not clean["note"]:
        errors["note"] = _l("请填写说明。")


# How each kind of input (events.INPUTS) is checked and cleaned.
_CHECKS = {"note": _check_note, "reason": _check_reason, "organisation": _check_organisation,
           "satisfaction": _check_satisfaction, "duplicate_of": _check_duplicate_of, "photos": _check_photos,
           "building": _check_building, "holder": _check_holder, "deadline": _check_deadline}


def _validate(case: Case, spec: EventSpec, data: dict, actor: User | None = None) -> dict:
    """Check what the event needs from the user; return the cleaned values or raise Invalid."""
    errors: dict = {}
    clean: dict = {"note": (data.get("note") or "").strip()}
    if len(clean["note"]) > NOTE_MAX:
        errors["note"] = _l("说明不能超过 %(n)d 字。", n=NOTE_MAX)
    for name in spec.inputs:
        _CHECKS[name](spec, case, data, clean, errors, actor)
    if spec.name == "report_done":  # the lead finishes only when every assisting part is in, or says why not
        clean["assist_reason"], clean["assist_waived"] = assists.check_lead_finish(case, data, errors)
        # a volunteer team's report may name who went (optional block)
        from casework.services.volunteers import casehours
        clean["volunteer_hours"] = casehours.check_report(case, data, errors)
    if errors:
        if data.get("photos") and "photos" in spec.inputs and "photos" not in errors:
            # A browser cannot send a chosen file back: say so instead of dropping it without a word.
            errors["photos"] = _l("照片尚未保存：请改正后重新选择照片再提交。")
        invalid = Invalid(_l("请检查填写的内容。"), errors)
        if clean.get("too_large"):
            invalid.status = 413
        raise invalid
    return clean


def _apply(case: Case, spec: EventSpec, clean: dict, at, source: str) -> None:
    """What the event does to the case besides its status: its spec's effect, and closing it."""
    spec.apply(case, clean, at, source)


def fire(actor: User | None, case: Case, event: str, data: dict | None = None, *,
         version: int | None = None, actor_label: str | None = None, public: bool = True) -> CaseEvent:
    """Fire `event` on `case` as `actor`: the case moves and its timeline gains one row, or nothing changes."""
    data = data or {}
    check_version(case, version)
    if event not in enabled_events(case):
        raise Refused(_l("当前状态下不能执行此操作。"))
    if actor is not None and not access.may_fire(actor, case, event):
        raise Refused(_l("您无权在当前状态下执行此操作。"))
    spec = events.spec(event)
    clean = _validate(case, spec, data, actor)
    source, source_grid = case.status, case.grid_id
    at = now()
    before = tallies.snapshot(case)  # the dashboard's rollups get the difference this move makes
    with db.session.no_autoflush:  # one UPDATE of the case (one version step) per action
        _move(case, spec, clean, at, source)
        row = _event_row(actor, case, event, clean, at, source, actor_label, public)
        if event in JURISDICTION_EVENTS:  # the timeline and the dashboard see the move (docs/metrics.md)
            row.from_grid_id, row.to_grid_id = source_grid, case.grid_id
    db.session.add(row)
    if clean.get("assist_waived"):  # the lead's "why not" closes each open assisting part
        assists.waive_open_parts(actor, case, clean["assist_reason"], clean["assist_waived"], at)
    try:
        db.session.flush()
    except StaleDataError as exc:  # a concurrent commit won the race; the caller rolls back
        raise Stale(_l("该案件刚被其他人更新，请刷新后再操作。")) from exc
    if clean.get("photos"):  # sent with the form: stored with the event, in its transaction
        photos.attach(case, clean["photos"], stage="after", uploaded_by=actor)
    if clean.get("volunteer_hours"):  # hours awaiting the team leader, tied to this timeline row
        from casework.services.volunteers import casehours
        casehours.record(actor, case, row, clean["volunteer_hours"])
    tallies.record(case, before, row)
    observability.note_transition(db.session(), event)  # counted in /metrics once this commits
    handoffs.after_transition(actor, case, row)  # the receiver hears of it (outbox, same transaction)
    updates.after_transition(actor, case, row)  # the resident's text, the API client's push (same)
    log.info("case %s: %s %s -> %s by %s", case.number, event, source, case.status,
             actor.username if actor else actor_label)
    return row


def _move(case: Case, spec: EventSpec, clean: dict, at, source: str) -> None:
    """Send the event to the machine and apply what it does to the case."""
    try:  # the guards of a return and an arbitration read the user's choice
        case.workflow.send(spec.name, reason=clean.get("reason"), holder=clean.get("holder"))
    except TransitionNotAllowed as exc:  # guards changed between the check and the send
        raise Refused(_l("当前状态下不能执行此操作。")) from exc
    _apply(case, spec, clean, at, source)
    case.updated_at = at


def _event_row(actor, case: Case, event: str, clean: dict, at, source: str, actor_label, public) -> CaseEvent:
    """The timeline row for a transition, with the timeliness of the stage it ended."""
    row = CaseEvent(
        case_id=case.id, kind="transition", event=event, actor=actor, actor_label=actor_label,
        from_status=source, to_status=case.status, note=clean["note"], reason_code=clean.get("reason"),
        organisation_id=(clean["organisation"].id if clean.get("organisation") else None),
        public=public, created_at=at,
    )
    if case.status != source or spec_restarts(event):
        end_stage(case, row, at)  # which also ends any parking: leaving the stage ends it
        start_stage(case, at)
        if clean.get("deadline") is not None:  # 督办: the supervisor's deadline replaces the stage limit
            case.stage_due_at = clean["deadline"]
        if source == "reported" and case.responded_at is None:  # answered: sign, merge, reject, withdraw
            case.responded_at, case.response_due_at = at, row.stage_due_at
    return row


def spec_restarts(event: str) -> bool:
    """A self-transition that hands the case to someone new starts the stage clock afresh."""
    s = events.spec(event)
    return s is not None and s.restarts_clock


def add_event(actor: User | None, case: Case, kind: str, event: str, note: str = "", *,
              public: bool = False, actor_label: str | None = None) -> CaseEvent:
    """Append a non-transition row (urge, supervise, reveal, comment) to the timeline."""
    row = CaseEvent(case_id=case.id, kind=kind, event=event, actor=actor, actor_label=actor_label,
                    from_status=case.status, to_status=case.status, note=note, public=public,
                    created_at=now())
    db.session.add(row)
    db.session.flush()
    if kind == "extension" and event == "extend_approved":  # services/timeliness.decide_extension
        tallies.extension_approved(case)
    return row

"""Extensions (延期) and parking (挂账): a handler asks, a supervisor decides, the clock moves or pauses."""
from __future__ import annotations

import logging
import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import access
from casework.extensions import db
from casework.models import Case, Extension, User
from casework.services import clock, escalation
from casework.services.errors import Invalid, NotFound, Refused
from casework.services.transitions import add_event, check_version
from casework.timekeeping import now

log = logging.getLogger(__name__)
MAX_EXTENSION_HOURS = 112.5  # 15 working days


# The stages in which someone holds the case and may be granted more time.
HOLDING = ("handling", "building_leader")


def pending(case: Case) -> list[Extension]:
    """Requests waiting for a supervisor's decision."""
    return list(db.session.scalars(select(Extension).where(
        Extension.case_id == case.id, Extension.state == "pending").order_by(Extension.id)))


def request_extension(actor: User, case: Case, *, kind: str, hours: str | float | None, reason: str,
                      version: int | None) -> Extension:
    """The handler asks for more time (extend) or to pause the clock (park); a supervisor decides."""
    check_version(case, version)
    if not access.may_request_extension(actor, case):
        raise Refused(_l("只有正在办理此案件的承办单位或楼栋长可以申请延期或挂账。"))
    errors = {}
    reason = (reason or "").strip()
    if kind not in ("extend", "park"):
        errors["kind"] = _l("请选择申请类型。")
    value = 0.0
    if kind == "extend":
        try:
            value = float(hours)
        except (TypeError, ValueError):
            errors["hours"] = _l("请输入延期工时数。")
        else:
            if not 0 < value <= MAX_EXTENSION_HOURS:
                errors["hours"] = _l("延期工时须大于 0 且不超过 %(n)s。", n=MAX_EXTENSION_HOURS)
        if case.stage_due_at is not None and now() > case.stage_due_at:
            errors["hours"] = _l("已超过办理时限，不能再申请延期，请尽快办理。")
    if not reason:
        errors["reason"] = _l("请写明理由。")
    elif len(reason) > 500:
        errors["reason"] = _l("理由不能超过 500 字。")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    if pending(case):
        raise Refused(_l("已有一个申请在等待审批。"))
    ext = Extension(case=case, kind=kind, requested_by=actor, hours=value or 1, reason=reason, created_at=now())
    db.session.add(ext)
    add_event(actor, case, "extension", f"{kind}_requested", reason)
    # The community's supervisors decide: tell them (the subdistrict sees it on the case page).
    escalation.notify(escalation.Directory().recipients(case, "supervise"), case, f"{kind}_requested",
                      f"request:{secrets.token_hex(8)}")
    log.info("case %s: %s requested by %s", case.number, kind, actor.username)
    return ext


def decide_extension(actor: User, case: Case, extension_id: int, *, approve: bool, note: str = "") -> Extension:
    """A supervisor approves (the due time moves, or the clock pauses) or refuses a request."""
    if not access.may_decide_extension(actor, case):
        raise Refused(_l("只有社区或街道督导可以审批。"))
    ext = db.session.get(Extension, extension_id)
    if ext is None or ext.case_id != case.id:
        raise NotFound(_l("找不到该申请。"))
    if ext.state != "pending":
        raise Refused(_l("该申请已处理过了。"))
    at = now()
    ext.state = "approved" if approve else "refused"
    ext.decided_by, ext.decided_at, ext.decision_note = actor, at, (note or "").strip()[:500]
    if approve and case.status in HOLDING:
        if ext.kind == "extend":
            clock.shift_due(case, ext.hours)
            case.extension_count = (case.extension_count or 0) + 1
        else:
            case.parked_at = at
    case.updated_at = at
    add_event(actor, case, "extension", f"{ext.kind}_{ext.state}", ext.decision_note)
    escalation.notify([ext.requested_by_id], case, "extension_decided", f"decided:{ext.id}",
                      decision=ext.state)
    log.info("case %s: %s %s by %s", case.number, ext.kind, ext.state, actor.username)
    return ext


def resume(actor: User, case: Case) -> None:
    """End parking: the due times move later by the counting time the case was parked."""
    if not access.may_resume(actor, case):
        raise Refused(_l("该案件没有挂账，或您无权恢复。"))
    at = now()
    paused = clock.pause(case, at)
    if paused > 0:
        clock.shift_due(case, paused)
    case.updated_at = at
    add_event(actor, case, "extension", "unpark", "")

"""Hours from cases: a volunteer team's done report (办结反馈) names who went and for how long.

When the handling organisation of a case is a volunteer team (an organisation of kind
`volunteer_team` linked to a `VolunteerTeam`), the report-done form offers the team's approved
members, each with an hours field (`vh-<volunteer id>`). `check_report` validates them with the
rest of the form (the transitions service calls it); `record` writes one `CaseHours` row per named
volunteer, waiting for the team leader. Confirming writes the hours and points ledger entries in
the same transaction; refusing needs a reason and writes nothing to the ledgers.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework.extensions import db
from casework.models import Case, CaseEvent, CaseHours, TeamMembership, User, Volunteer, VolunteerTeam
from casework.services.errors import Invalid, NotFound, Refused
from casework.services.volunteers import ledger
from casework.timekeeping import now

log = logging.getLogger(__name__)

FIELD_PREFIX = "vh-"
_FIELD_RE = re.compile(r"^vh-(\d{1,9})$")
MAX_PEOPLE = 50


@dataclass(frozen=True)
class Line:
    volunteer: Volunteer
    minutes: int


def team_for_case(case: Case) -> VolunteerTeam | None:
    """The volunteer team handling the case, or None when the handler is not a volunteer team."""
    org = case.assigned_org
    if org is None or org.kind != "volunteer_team":
        return None
    return db.session.scalars(select(VolunteerTeam).where(VolunteerTeam.organisation_id == org.id)
                              .order_by(VolunteerTeam.id)).first()


def members(team: VolunteerTeam) -> list[Volunteer]:
    """The team's approved members, by name."""
    return list(db.session.scalars(
        select(Volunteer).join(TeamMembership, TeamMembership.volunteer_id == Volunteer.id)
        .where(TeamMembership.team_id == team.id, TeamMembership.status == "approved")
        .order_by(Volunteer.name, Volunteer.id)))


def form_team(case: Case) -> dict | None:
    """For the report-done form: the volunteer team handling the case, its members and the handling
    window, or None when the handler is not a volunteer team (the block is not shown)."""
    team = team_for_case(case)
    if team is None:
        return None
    return {"team": team, "members": members(team), "window_minutes": window_minutes(case)}


def window_minutes(case: Case) -> int:
    """How long the case has been in handling (since it reached the handler): no one served longer."""
    start = case.stage_started_at
    return max(0, int((now() - start).total_seconds() // 60)) if start else 0


def _hours(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value.as_tuple().exponent < -2:
        return None
    return value


def check_report(case: Case, data: dict, errors: dict) -> list[Line]:
    """The volunteers named in a done report, validated; field errors go into `errors` (one message
    under "volunteers", and one per bad field)."""
    posted = {int(m.group(1)): (data.get(key) or "").strip()
              for key in data if (m := _FIELD_RE.match(key))}
    posted = {vid: raw for vid, raw in posted.items() if raw}
    if not posted:
        return []
    team = team_for_case(case)
    if team is None:
        errors["volunteers"] = _l("承办单位不是志愿服务队，不能登记志愿服务时长。")
        return []
    if len(posted) > MAX_PEOPLE:
        errors["volunteers"] = _l("一次最多登记 %(n)d 名志愿者。", n=MAX_PEOPLE)
        return []
    roster = {v.id: v for v in members(team)}
    window = window_minutes(case)
    lines: list[Line] = []
    for vid, raw in sorted(posted.items()):
        key = f"{FIELD_PREFIX}{vid}"
        volunteer = roster.get(vid)
        if volunteer is None:
            errors[key] = errors["volunteers"] = _l("所选志愿者不是%(team)s的队员。", team=team.name)
            continue
        hours = _hours(raw)
        if hours is None or hours <= 0:
            errors[key] = _l("请填写大于 0 的小时数，例如 1.5。")
            continue
        minutes = int((hours * 60).to_integral_value())
        if minutes > window:
            errors[key] = _l("不能超过本案办理以来的时长（%(h)s 小时）。", h=f"{window / 60:.1f}")
            continue
        if minutes == 0:
            errors[key] = _l("请填写大于 0 的小时数，例如 1.5。")
            continue
        lines.append(Line(volunteer, minutes))
    if any(k.startswith(FIELD_PREFIX) for k in errors) and "volunteers" not in errors:
        errors["volunteers"] = _l("请检查志愿服务时长。")
    return lines


def record(actor: User | None, case: Case, row: CaseEvent, lines: list[Line]) -> list[CaseHours]:
    """One pending hours row per named volunteer, tied to the done report's timeline row."""
    team = team_for_case(case)
    at = now()
    made = [CaseHours(case_id=case.id, event_id=row.id, team_id=team.id, volunteer_id=line.volunteer.id,
                      minutes=line.minutes, status="pending", reported_by_id=actor.id if actor else None,
                      reported_at=at, reason="") for line in lines]
    db.session.add_all(made)
    db.session.flush()
    log.info("case %s: %d volunteers' hours wait for team %s", case.number, len(made), team.id)
    return made


def pending_for(team_ids: list[int]) -> list[CaseHours]:
    """Hours from cases waiting for the leader of one of these teams."""
    if not team_ids:
        return []
    return list(db.session.scalars(select(CaseHours).where(
        CaseHours.team_id.in_(team_ids), CaseHours.status == "pending").order_by(CaseHours.id)))


def of_case(case: Case) -> list[CaseHours]:
    return list(db.session.scalars(select(CaseHours).where(CaseHours.case_id == case.id).order_by(CaseHours.id)))


def get(hours_id: int) -> CaseHours:
    row = db.session.get(CaseHours, hours_id)
    if row is None:
        raise NotFound(_l("找不到这条办件时长。"))
    return row


def confirm(actor: User, row: CaseHours) -> CaseHours:
    """The leader confirms: the hours and the points (per hour, from the configuration) are earned."""
    if row.status != "pending":
        raise Refused(_l("这条办件时长已经处理过了。"))
    row.status, row.decided_by_id, row.decided_at = "confirmed", actor.id, now()
    volunteer = db.session.get(Volunteer, row.volunteer_id)
    reason = str(_l("办件 %(number)s", number=row.case.number or row.case_id))
    ledger.post(volunteer, "hours", "earned", row.minutes, reason=reason, actor=actor, approver=actor,
                case_id=row.case_id)
    points = row.minutes * int(current_app.config.get("VOLUNTEER_CASE_POINTS_PER_HOUR", 10)) // 60
    if points:
        ledger.post(volunteer, "points", "earned", points, reason=reason, actor=actor, approver=actor,
                    case_id=row.case_id)
    db.session.flush()
    log.info("user %s confirmed case hours %s (%d min)", actor.id, row.id, row.minutes)
    return row


def refuse(actor: User, row: CaseHours, reason: str) -> CaseHours:
    """The leader refuses with a reason; nothing reaches the ledgers."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_l("不予确认必须写明原因。"), {"reason": _l("不予确认必须写明原因。")})
    if row.status != "pending":
        raise Refused(_l("这条办件时长已经处理过了。"))
    row.status, row.decided_by_id, row.decided_at, row.reason = "refused", actor.id, now(), reason[:300]
    db.session.flush()
    log.info("user %s refused case hours %s", actor.id, row.id)
    return row

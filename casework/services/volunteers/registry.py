"""Volunteers register themselves, ask to join a team, and the team's leader approves.

The card code is the volunteer's only key to their page. Anything that changes data from that page
also needs the last four digits of the registered mobile (`confirm_holder`), and the views rate-limit
every route that takes a code, so codes cannot be guessed.
"""
from __future__ import annotations

import logging
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework.extensions import db
from casework.models import Community, TeamMembership, User, Volunteer, VolunteerTeam
from casework.services import intake
from casework.services.errors import Invalid, NotFound, Refused
from casework.services.numbering import TRACKING_ALPHABET, TRACKING_LENGTH, new_tracking_code
from casework.timekeeping import now

log = logging.getLogger(__name__)

# The consent text shown on the form and stored with the volunteer, word for word (PIPL art. 14, 17).
CONSENT_TEXT = _l(
    "我同意社区依据《个人信息保护法》收集我的姓名、手机号码、所在社区、技能和可服务时间，"
    "仅用于志愿服务的招募、联系、时长记录和积分兑换；手机号码在工作人员页面上隐去中间四位；"
    "我可以随时申请查阅、更正或删除这些信息。")
_CODE_RE = re.compile(f"^[{TRACKING_ALPHABET}]{{{TRACKING_LENGTH}}}$")
NAME_MAX, SKILLS_MAX, AVAILABILITY_MAX = 30, 200, 200


def communities() -> list[Community]:
    return list(db.session.scalars(select(Community).order_by(Community.id)))


def teams(community_id: int | None = None) -> list[VolunteerTeam]:
    query = select(VolunteerTeam).order_by(VolunteerTeam.id)
    if community_id:
        query = query.where((VolunteerTeam.community_id == community_id) | VolunteerTeam.community_id.is_(None))
    return list(db.session.scalars(query))


def validate_registration(values: dict) -> dict:
    """Field errors of the registration form (empty when fine)."""
    errors: dict = {}
    name = values.get("name") or ""
    if not name:
        errors["name"] = _l("请填写姓名。")
    elif len(name) > NAME_MAX:
        errors["name"] = _l("姓名太长了。")
    mobile = intake.normalise_mobile(values.get("mobile"))
    if not mobile:
        errors["mobile"] = _l("请填写手机号码。")
    elif not intake.MOBILE_RE.match(mobile):
        errors["mobile"] = _l("请输入正确的 11 位手机号码，例如 13812345678。")
    if not values.get("community_id") or db.session.get(Community, values["community_id"]) is None:
        errors["community_id"] = _l("请选择所在社区。")
    if len(values.get("skills") or "") > SKILLS_MAX:
        errors["skills"] = _l("技能特长请控制在 200 字以内。")
    if len(values.get("availability") or "") > AVAILABILITY_MAX:
        errors["availability"] = _l("可服务时间请控制在 200 字以内。")
    if not values.get("consent"):
        errors["consent"] = _l("需要您同意个人信息的收集和使用，才能注册为志愿者。")
    return errors


def register(values: dict, actor: User | None = None) -> Volunteer:
    """A new volunteer with a fresh card code (self-registered when actor is None, else added by staff)."""
    errors = validate_registration(values)
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    mobile = intake.normalise_mobile(values["mobile"])
    if db.session.scalar(select(Volunteer.id).where(Volunteer.mobile == mobile)):
        msg = _l("这个手机号码已经注册过志愿者。如忘记志愿者卡号，请联系社区工作人员。")
        raise Refused(msg, {"mobile": msg})
    at = now()
    volunteer = Volunteer(card_code=_unused_code(), name=values["name"], mobile=mobile,
                          community_id=values["community_id"], skills=values.get("skills") or "",
                          availability=values.get("availability") or "", consent_text=str(CONSENT_TEXT),
                          consented_at=at, created_at=at, hours_minutes=0, points=0,
                          user_id=None)
    db.session.add(volunteer)
    db.session.flush()
    log.info("volunteer %s registered%s", volunteer.id, f" by user {actor.id}" if actor else "")
    return volunteer


def _unused_code() -> str:
    while True:
        code = new_tracking_code()
        if not db.session.scalar(select(Volunteer.id).where(Volunteer.card_code == code)):
            return code


def normalise_code(raw: str | None) -> str:
    return re.sub(r"[\s\-]", "", raw or "").upper()[:32]


def find_by_card(raw: str | None) -> Volunteer:
    """The volunteer with this card code, or NotFound — the same for every code that is not one."""
    code = normalise_code(raw)
    volunteer = None
    if _CODE_RE.match(code):
        volunteer = db.session.scalars(select(Volunteer).where(Volunteer.card_code == code)).first()
    if volunteer is None:
        raise NotFound(_l("没有找到这张志愿者卡。"))
    return volunteer


def confirm_holder(volunteer: Volunteer, last4: str | None) -> None:
    """The one-time confirmation for a change from the card page: the mobile's last four digits."""
    last4 = (last4 or "").strip()
    if not re.fullmatch(r"\d{4}", last4):
        raise Invalid(_l("请输入手机号码的后 4 位数字。"), {"last4": _l("请输入手机号码的后 4 位数字。")})
    if volunteer.mobile[-4:] != last4:
        raise Invalid(_l("手机号码后 4 位不对，请核对。"), {"last4": _l("手机号码后 4 位不对，请核对。")})


def request_join(volunteer: Volunteer, team_id: int | None) -> TeamMembership:
    """The volunteer asks to join a team; the leader decides."""
    team = db.session.get(VolunteerTeam, team_id) if team_id else None
    if team is None:
        raise Invalid(_l("请选择要加入的志愿服务队。"), {"team_id": _l("请选择要加入的志愿服务队。")})
    existing = db.session.scalars(select(TeamMembership).where(
        TeamMembership.team_id == team.id, TeamMembership.volunteer_id == volunteer.id)).first()
    if existing is not None:
        if existing.status == "refused":
            existing.status, existing.requested_at, existing.decided_at = "pending", now(), None
            db.session.flush()
            return existing
        raise Refused(_l("您已经申请过或已经加入这支队伍。"))
    membership = TeamMembership(team_id=team.id, volunteer_id=volunteer.id, status="pending",
                                is_leader=False, requested_at=now())
    db.session.add(membership)
    db.session.flush()
    log.info("volunteer %s asks to join team %s", volunteer.id, team.id)
    return membership


def decide_membership(actor: User, membership: TeamMembership, approve: bool) -> TeamMembership:
    """The leader approves or refuses a pending request to join."""
    if membership.status != "pending":
        raise Refused(_l("这条入队申请已经处理过了。"))
    membership.status = "approved" if approve else "refused"
    membership.decided_at = now()
    membership.decided_by_id = actor.id
    db.session.flush()
    log.info("user %s %s membership %s", actor.id, membership.status, membership.id)
    return membership


def memberships(volunteer: Volunteer) -> list[TeamMembership]:
    return list(db.session.scalars(select(TeamMembership).where(TeamMembership.volunteer_id == volunteer.id)
                                   .order_by(TeamMembership.id)))


def pending_for(team_ids: list[int]) -> list[TeamMembership]:
    if not team_ids:
        return []
    return list(db.session.scalars(select(TeamMembership).where(
        TeamMembership.team_id.in_(team_ids), TeamMembership.status == "pending").order_by(TeamMembership.id)))


def is_member(volunteer: Volunteer, team_id: int) -> bool:
    return bool(db.session.scalar(select(TeamMembership.id).where(
        TeamMembership.team_id == team_id, TeamMembership.volunteer_id == volunteer.id,
        TeamMembership.status == "approved")))


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) == 11 else "****"


def teams_managed_by(who) -> list[VolunteerTeam]:
    """The teams this staff user leads or supervises (a subdistrict has a few hundred at most)."""
    from casework import access
    j = access.jurisdiction_of(who)
    return [t for t in db.session.scalars(select(VolunteerTeam).order_by(VolunteerTeam.id))
            if access.may_manage_team(j, t)]

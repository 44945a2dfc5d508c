"""Community partners (社区合伙人): agreements with a community, annual plans, and plan vs held.

A partner is an organisation of a partner kind (enterprise, social group, individual, volunteer
team). It signs an agreement (签约) with a community: period, content, contact, status. The annual
plan (年度活动计划) is a list of plan items per partner, community and year, each with the number
of activity carriers (活动载体) it plans. An activity carries out a plan item when the organiser
links it (partner, plan, residents served). "Plan vs held" (docs/metrics.md) counts, per partner
and community and year: plan items, carriers, activities held (done) and residents served.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Activity, Community, Organisation, PartnerAgreement, PartnerPlan, User
from casework.models.volunteers import AGREEMENT_STATES
from casework.services.errors import Invalid, NotFound
from casework.timekeeping import now

log = logging.getLogger(__name__)

PARTNER_KINDS = ("enterprise", "social_group", "individual", "volunteer_team")
CONTENT_MAX, CONTACT_MAX, TITLE_MAX = 2000, 60, 120
CARRIERS_MAX = 1000
RESIDENTS_MAX = 100_000


def _date(raw) -> dt.date | None:
    try:
        return dt.date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def _int(raw) -> int | None:
    text = str(raw if raw is not None else "").strip()
    return int(text) if text.lstrip("-").isdigit() and len(text) < 10 else None


def partner_choices() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).where(
        Organisation.kind.in_(PARTNER_KINDS), Organisation.active.is_(True)).order_by(Organisation.id)))


def communities(scope: int | None) -> list[Community]:
    query = select(Community).order_by(Community.id)
    if scope is not None:
        query = query.where(Community.id == scope)
    return list(db.session.scalars(query))


def _check_partner_and_community(values: dict, scope: int | None, errors: dict) -> tuple:
    org = db.session.get(Organisation, _int(values.get("organisation_id")) or 0)
    if org is None or org.kind not in PARTNER_KINDS:
        errors["organisation_id"] = _l("请选择社区合伙人。")
    community = db.session.get(Community, _int(values.get("community_id")) or 0)
    if community is None or (scope is not None and community.id != scope):
        errors["community_id"] = _l("请选择您所辖的社区。")
    return org, community


def create_agreement(actor: User, values: dict, scope: int | None) -> PartnerAgreement:
    """A signed agreement between a partner and a community (scope: the actor's community, None = all)."""
    errors: dict = {}
    org, community = _check_partner_and_community(values, scope, errors)
    signed, starts, ends = (_date(values.get(k)) for k in ("signed_on", "starts_on", "ends_on"))
    if values.get("signed_on") and signed is None:
        errors["signed_on"] = _l("请填写正确的日期，例如 2026-03-01。")
    if starts is None:
        errors["starts_on"] = _l("请填写正确的日期，例如 2026-03-01。")
    if ends is None:
        errors["ends_on"] = _l("请填写正确的日期，例如 2026-03-01。")
    elif starts is not None and ends < starts:
        errors["ends_on"] = _l("结束日期不能早于开始日期。")
    elif starts is not None and (ends - starts).days > 366 * 5:
        errors["ends_on"] = _l("协议期限最长 5 年。")
    content = (values.get("content") or "").strip()
    if not content:
        errors["content"] = _l("请填写合作内容。")
    elif len(content) > CONTENT_MAX:
        errors["content"] = _l("合作内容请控制在 2000 字以内。")
    contact = (values.get("contact") or "").strip()
    if len(contact) > CONTACT_MAX:
        errors["contact"] = _l("联系人太长了。")
    status = values.get("status") or "active"
    if status not in AGREEMENT_STATES:
        errors["status"] = _l("请选择协议状态。")
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    agreement = PartnerAgreement(organisation_id=org.id, community_id=community.id, signed_on=signed,
                                 starts_on=starts, ends_on=ends, content=content, contact=contact, status=status,
                                 created_at=now(), created_by_id=actor.id)
    db.session.add(agreement)
    db.session.flush()
    log.info("user %s recorded agreement %s (%s with %s)", actor.id, agreement.id, org.id, community.id)
    return agreement


def set_status(actor: User, agreement: PartnerAgreement, status: str) -> PartnerAgreement:
    if status not in AGREEMENT_STATES:
        raise Invalid(_l("请选择协议状态。"), {"status": _l("请选择协议状态。")})
    agreement.status = status
    db.session.flush()
    log.info("user %s set agreement %s to %s", actor.id, agreement.id, status)
    return agreement


def agreements(scope: int | None) -> list[PartnerAgreement]:
    query = select(PartnerAgreement).order_by(PartnerAgreement.community_id, PartnerAgreement.id)
    if scope is not None:
        query = query.where(PartnerAgreement.community_id == scope)
    return list(db.session.scalars(query))


def add_plan(actor: User, values: dict, scope: int | None) -> PartnerPlan:
    """One item of a partner's annual plan with a community; the partner must have an agreement there."""
    errors: dict = {}
    org, community = _check_partner_and_community(values, scope, errors)
    year = _int(values.get("year"))
    if year is None or not 2000 <= year <= 2100:
        errors["year"] = _l("请填写年度，例如 2026。")
    month = _int(values.get("month")) if (values.get("month") or "").strip() else None
    if (values.get("month") or "").strip() and (month is None or not 1 <= month <= 12):
        errors["month"] = _l("月份应为 1 到 12。")
    title = (values.get("title") or "").strip()
    if not title:
        errors["title"] = _l("请填写计划名称。")
    elif len(title) > TITLE_MAX:
        errors["title"] = _l("计划名称太长了。")
    carriers = _int(values.get("carriers"))
    if carriers is None or not 0 <= carriers <= CARRIERS_MAX:
        errors["carriers"] = _l("活动载体数应为 0 到 1000 之间的整数。")
    if not errors and not db.session.scalar(select(PartnerAgreement.id).where(
            PartnerAgreement.organisation_id == org.id, PartnerAgreement.community_id == community.id,
            PartnerAgreement.status.in_(("draft", "active")))):
        errors["organisation_id"] = _l("这个合伙人还没有和该社区签订有效的协议。")
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    plan = PartnerPlan(organisation_id=org.id, community_id=community.id, year=year, month=month, title=title,
                       carriers=carriers, created_at=now())
    db.session.add(plan)
    db.session.flush()
    log.info("user %s added plan %s for partner %s", actor.id, plan.id, org.id)
    return plan


def plans(scope: int | None, year: int) -> list[PartnerPlan]:
    query = select(PartnerPlan).where(PartnerPlan.year == year).order_by(
        PartnerPlan.community_id, PartnerPlan.organisation_id, PartnerPlan.month, PartnerPlan.id)
    if scope is not None:
        query = query.where(PartnerPlan.community_id == scope)
    return list(db.session.scalars(query))


def plan_choices(activity: Activity) -> list[PartnerPlan]:
    """Plan items an activity may carry out: its community's, for the year it starts in."""
    return list(db.session.scalars(select(PartnerPlan).where(
        PartnerPlan.community_id == activity.community_id, PartnerPlan.year == activity.starts_at.year)
        .order_by(PartnerPlan.organisation_id, PartnerPlan.id)))


def link_activity(actor: User, activity: Activity, values: dict) -> Activity:
    """The organiser says which partner's plan item the activity carries out and how many residents
    it served (the figure counts once the activity is done)."""
    errors: dict = {}
    raw_plan = (values.get("plan_id") or "").strip()
    plan = None
    if raw_plan:
        plan = db.session.get(PartnerPlan, _int(raw_plan) or 0)
        if plan is None or plan.id not in {p.id for p in plan_choices(activity)}:
            errors["plan_id"] = _l("请选择本社区当年的合伙人活动计划。")
    raw_served = (values.get("residents_served") or "").strip()
    served = _int(raw_served) if raw_served else None
    if raw_served and (served is None or not 0 <= served <= RESIDENTS_MAX):
        errors["residents_served"] = _l("服务居民人次应为 0 到 100000 之间的整数。")
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    activity.plan_id = plan.id if plan else None
    activity.partner_id = plan.organisation_id if plan else None
    activity.residents_served = served
    db.session.flush()
    log.info("user %s linked activity %s to plan %s (%s served)", actor.id, activity.id,
             activity.plan_id, served)
    return activity


@dataclass
class PlanVsHeld:
    community: str
    partner: str
    plans: int = 0
    carriers: int = 0
    held: int = 0
    served: int = 0


def plan_vs_held(scope: int | None, year: int) -> tuple[list[PlanVsHeld], PlanVsHeld]:
    """Per partner and community for the year: plan items, carriers, activities held, residents
    served (definitions in docs/metrics.md); with the total row."""
    rows: dict[tuple[int, int], PlanVsHeld] = {}
    names = {o.id: o.name for o in db.session.scalars(select(Organisation))}
    cnames = {c.id: c.name for c in db.session.scalars(select(Community))}

    def row(cid, oid) -> PlanVsHeld:
        return rows.setdefault((cid, oid), PlanVsHeld(cnames.get(cid, "—"), names.get(oid, "—")))

    planned = select(PartnerPlan.community_id, PartnerPlan.organisation_id, func.count(), func.sum(PartnerPlan.carriers)
                     ).where(PartnerPlan.year == year).group_by(PartnerPlan.community_id, PartnerPlan.organisation_id)
    start, end = dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
    held = select(Activity.community_id, Activity.partner_id, func.count(),
                  func.coalesce(func.sum(Activity.residents_served), 0)).where(
        Activity.partner_id.is_not(None), Activity.status == "done", Activity.starts_at >= start,
        Activity.starts_at < end).group_by(Activity.community_id, Activity.partner_id)
    if scope is not None:
        planned = planned.where(PartnerPlan.community_id == scope)
        held = held.where(Activity.community_id == scope)
    for cid, oid, n, carriers in db.session.execute(planned):
        r = row(cid, oid)
        r.plans, r.carriers = int(n), int(carriers or 0)
    for cid, oid, n, served in db.session.execute(held):
        r = row(cid, oid)
        r.held, r.served = int(n), int(served or 0)
    ordered = [rows[k] for k in sorted(rows)]
    total = PlanVsHeld(str(_l("合计")), "", sum(r.plans for r in ordered), sum(r.carriers for r in ordered),
                       sum(r.held for r in ordered), sum(r.served for r in ordered))
    return ordered, total


def get_agreement(agreement_id: int) -> PartnerAgreement:
    agreement = db.session.get(PartnerAgreement, agreement_id)
    if agreement is None:
        raise NotFound(_l("找不到这份协议。"))
    return agreement

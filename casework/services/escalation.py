"""The sweep: lateness becomes notices. due soon → warning; overdue → urge (催办) to the unit;
still overdue → supervise (督办) to the community, then the subdistrict. Idempotent. Each person
has at most one unread ladder notice per case and stage: a higher rung supersedes the lower ones."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from casework.extensions import db
from casework.models import Case, CaseEvent, Escalation, Notification, User, user_buildings, user_grids
from casework.services import clock, health
from casework.timekeeping import classify, now

log = logging.getLogger(__name__)
LADDER = ("warning", "urge", "supervise", "supervise_subdistrict")
MESSAGES = {
    "warning": _l("即将超时：%(number)s %(title)s"),
    "urge": _l("已超时，请尽快办理（催办）：%(number)s %(title)s"),
    "supervise": _l("超时未办，社区督办：%(number)s %(title)s"),
    "supervise_subdistrict": _l("超时未办，街道督办：%(number)s %(title)s"),
    "manual_urge": _l("督导催办：%(number)s %(title)s"),
    "extend_requested": _l("延期申请待审批：%(number)s %(title)s"),
    "park_requested": _l("挂账申请待审批：%(number)s %(title)s"),
    "extension_decided": _l("您的延期/挂账申请已审批：%(number)s %(title)s"),
    "resident_photos": _l("居民补充了 %(n)d 张照片：%(number)s %(title)s"),
    "handoff": _l("案件已转到您这里：%(number)s %(title)s"),
    "handoff_org": _l("案件已派给本单位，请签收：%(number)s %(title)s"),
    "returned": _l("案件被退回：%(number)s %(title)s"),
    "rerouted": _l("案件转入本网格：%(number)s %(title)s"),
    "arbitration": _l("案件待仲裁：%(number)s %(title)s"),
    "arbitrated": _l("经仲裁由您办理：%(number)s %(title)s"),
    "reopened": _l("回访未解决，案件重办：%(number)s %(title)s"),
    "callback": _l("案件已办结反馈，请回访：%(number)s %(title)s"),
    "assist_requested": _l("请本单位协办：%(number)s %(title)s"),
    "assist_done": _l("协办单位已完成协办部分：%(number)s %(title)s"),
}


def holder_role(status: str) -> str:
    """Whose stage a case in `status` is — the one routing rule for "who holds this case", read by the
    sweep and urges (`Directory.responsible`) and by hand-off notices (`notices/handoffs.receivers`, which
    reads that kind of user with `notices/routing.PEOPLE`)."""
    return {"building_leader": "building_leader", "handling": "handler",
            "arbitration": "community_supervisor"}.get(status, "grid_staff")


class Directory:
    """Who is responsible for what, loaded once per sweep (no query per case)."""

    def __init__(self) -> None:
        self.grid_staff: dict[int, list[int]] = defaultdict(list)
        self.leaders: dict[int, list[int]] = defaultdict(list)
        self.handlers: dict[int, list[int]] = defaultdict(list)
        self.community_sup: dict[int, list[int]] = defaultdict(list)
        self.subdistrict_sup: list[int] = []
        active = dict(db.session.execute(select(User.id, User.role).where(User.active.is_(True))).all())
        # Active people only, in id order, as `holders` and `grid_staff_of` choose them.
        for user_id, grid_id in db.session.execute(select(user_grids.c.user_id, user_grids.c.grid_id)
                                                   .order_by(user_grids.c.user_id)):
            if active.get(user_id) == "grid_staff":
                self.grid_staff[grid_id].append(user_id)
        for user_id, building_id in db.session.execute(select(user_buildings.c.user_id, user_buildings.c.building_id)
                                                       .order_by(user_buildings.c.user_id)):
            if user_id in active:
                self.leaders[building_id].append(user_id)
        for u in db.session.execute(select(User.id, User.role, User.organisation_id, User.community_id)
                                    .where(User.active.is_(True))):
            if u.role == "handler" and u.organisation_id:
                self.handlers[u.organisation_id].append(u.id)
            elif u.role == "community_supervisor" and u.community_id:
                self.community_sup[u.community_id].append(u.id)
            elif u.role == "subdistrict_supervisor":
                self.subdistrict_sup.append(u.id)

    def responsible(self, case: Case) -> list[int]:
        """The people whose stage it is (`holder_role`; the same people as `routing.PEOPLE` reads)."""
        role = holder_role(case.status)
        if role == "building_leader":
            return self.leaders.get(case.building_id, [])
        if role == "handler":
            return self.handlers.get(case.assigned_org_id, [])
        if role == "community_supervisor":  # waiting for the community supervisor's decision (仲裁)
            return self.community_sup.get(case.community_id, [])
        return self.grid_staff.get(case.grid_id, [])

    def recipients(self, case: Case, level: str) -> list[int]:
        if level in ("warning", "urge", "manual_urge"):
            return self.responsible(case)
        if level == "supervise":
            return self.community_sup.get(case.community_id, [])
        return self.subdistrict_sup


def notify(user_ids: list[int], case: Case, kind: str, level_key: str, *, recipients=None, **values) -> int:
    """Create one notice per user (the unique key keeps a second sweep from repeating it), and queue
    the same notice on each user's own channels (services/notices; in this transaction).

    `values` fill the message's own placeholders besides the case's number and title; `recipients`
    are the users' addresses and settings when the caller read them already (routing.recipients).
    """
    from casework.services.notices import routing
    message = str(MESSAGES[kind] % {**values, "number": case.number, "title": case.title})[:300]
    for user_id in set(user_ids):
        db.session.add(Notification(user_id=user_id, case_id=case.id, kind=kind, level_key=level_key,
                                    message=message, created_at=now()))
    routing.to_people(user_ids, case, kind, level_key, recipients=recipients, **values)
    return len(set(user_ids))


def supersede(user_ids: list[int], case: Case, level: str, stage_key: str, at: dt.datetime) -> int:
    """Mark read these people's unread notices of the lower rungs of this case's stage: the new
    rung's notice says all they said ("已超时" supersedes "即将超时"), so the unread count counts it once."""
    lower = [f"{lv}:{stage_key}" for lv in LADDER[:LADDER.index(level)]]
    if not user_ids or not lower:
        return 0
    return db.session.execute(update(Notification).where(
        Notification.case_id == case.id, Notification.user_id.in_(set(user_ids)),
        Notification.level_key.in_(lower), Notification.read_at.is_(None)).values(read_at=at)).rowcount


def grid_staff_of(case: Case) -> list[int]:
    """The active grid staff of the case's grid: the people residents' news goes to."""
    return list(db.session.scalars(grid_staff_query(case).order_by(User.id)))


def grid_staff_query(case: Case):
    """The same people as a statement (to be read together with their notice settings)."""
    return (select(User.id).join(user_grids, user_grids.c.user_id == User.id)
            .where(user_grids.c.grid_id == case.grid_id, User.role == "grid_staff", User.active.is_(True)))


def due_levels(case: Case, at: dt.datetime, supervise_after: float, escalate_after: float,
               warn_ratio: float) -> list[str]:
    """The rungs of the ladder this case's current stage has reached at `at`."""
    wall = case.priority == "emergency"
    state = classify(clock.calendar(), case.stage_started_at, case.stage_due_at, at, wall, warn_ratio)
    if state == "on_time":
        return []
    levels = ["warning"]
    if state == "overdue":
        levels.append("urge")
        late = clock.hours_overdue(case, at)
        if late >= supervise_after:
            levels.append("supervise")
        if late >= escalate_after:
            levels.append("supervise_subdistrict")
    return levels


def sweep(at: dt.datetime | None = None) -> dict[str, int]:
    """Turn lateness into notices and timeline rows; running it twice adds nothing the second time."""
    at = at or now()
    supervise_after = float(clock.setting("supervise_after_hours"))
    escalate_after = float(clock.setting("escalate_after_hours"))
    warn_ratio = float(clock.setting("warn_ratio"))
    # Only cases whose stage is due within a week can be due soon; later ones are on time.
    cases = db.session.scalars(select(Case).where(
        Case.status != "closed", Case.parked_at.is_(None), Case.stage_due_at.is_not(None),
        Case.stage_due_at <= at + dt.timedelta(days=14),
    ).order_by(Case.id)).all()
    done = {(e.case_id, e.level, e.stage_key) for e in db.session.scalars(
        select(Escalation).where(Escalation.case_id.in_([c.id for c in cases]))
    )} if cases else set()
    directory = Directory()
    counts = dict.fromkeys(LADDER, 0)
    from casework.services.notices import routing
    for case in cases:
        key = case.stage_started_at.strftime("%Y%m%d%H%M%S")
        reached = [lv for lv in due_levels(case, at, supervise_after, escalate_after, warn_ratio)
                   if (case.id, lv, key) not in done]
        for level in reached:
            db.session.add(Escalation(case_id=case.id, level=level, stage_key=key, created_at=at))
            recipients = directory.recipients(case, level)
            # One notice per person, case and stage: a rung reached in the same sweep as a higher one
            # for the same people is not sent, and the higher one marks their unread lower ones read.
            if not any(directory.recipients(case, higher) == recipients
                       for higher in reached[reached.index(level) + 1:]):
                notify(recipients, case, level, f"{level}:{key}")
                supersede(recipients, case, level, key, at)
            routing.ladder(case, level, f"{level}:{key}")
            event = "supervise" if level.startswith("supervise") else level
            db.session.add(CaseEvent(case_id=case.id, kind=event, event=event, actor_id=None,
                                     actor_label="system", from_status=case.status, to_status=case.status,
                                     note=str(MESSAGES[level] % {"number": case.number, "title": case.title}),
                                     public=False, created_at=at))
            counts[level] += 1
    health.record_sweep(at)
    db.session.flush()
    log.info("sweep at %s: %s", at, counts)
    return counts


def urge(actor: User, cases: list[Case], note: str = "") -> int:
    """A supervisor urges (催办) by hand: a timeline row on each case and a notice to whoever holds it."""
    from casework import access
    directory = Directory()
    at = now()
    count = 0
    for case in cases:
        if not access.may_urge(actor, case):
            continue
        db.session.add(CaseEvent(case_id=case.id, kind="urge", event="urge", actor_id=actor.id,
                                 from_status=case.status, to_status=case.status, note=(note or "")[:500],
                                 public=False, created_at=at))
        key = f"manual:{secrets.token_hex(8)}"
        notify(directory.responsible(case), case, "manual_urge", key)
        from casework.services.notices import routing
        routing.ladder(case, "manual_urge", key)
        count += 1
    db.session.flush()
    return count


def unread_count(user: User) -> int:
    from sqlalchemy import func
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0

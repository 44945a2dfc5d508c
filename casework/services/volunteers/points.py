"""Points rules beyond points per hour: project bonuses and expiry.

- A project/brand may carry a bonus (`VolunteerProject.bonus_points`): each confirmed participation
  in one of its activities earns that many points more, as its own ledger row ("项目奖励").
- Earned points expire `VOLUNTEER_POINTS_EXPIRE_MONTHS` months after they were earned (0: never).
  Points are spent oldest first, so what expires on a day is what was earned before the cut-off
  and not yet used: max(0, points earned before the cut-off − every point that left the balance so
  far (redeemed, expired, negative corrections)), capped by the balance. `casework expire-points`
  writes one `expired` row per volunteer; running it again finds nothing more to expire (idempotent).
"""
from __future__ import annotations

import datetime as dt
import logging

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from casework.extensions import db
from casework.models import Activity, LedgerEntry, User, Volunteer, VolunteerProject
from casework.services.errors import Invalid
from casework.services.volunteers import ledger
from casework.timekeeping import now

log = logging.getLogger(__name__)
BONUS_MAX = 1000


def project_bonus(actor: User, activity: Activity, volunteer: Volunteer) -> LedgerEntry | None:
    """The project's bonus for one confirmed participation (none when the project has no bonus)."""
    project = db.session.get(VolunteerProject, activity.project_id) if activity.project_id else None
    if project is None or not project.bonus_points:
        return None
    return ledger.post(volunteer, "points", "earned", project.bonus_points,
                       reason=str(_l("%(project)s 项目奖励", project=project.name)), actor=actor, approver=actor,
                       activity_id=activity.id)


def set_bonus(actor: User, project: VolunteerProject, raw) -> VolunteerProject:
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or len(text) > 6 or int(text) > BONUS_MAX:
        raise Invalid(_l("项目奖励积分应为 0 到 1000 之间的整数。"),
                      {"bonus_points": _l("项目奖励积分应为 0 到 1000 之间的整数。")})
    project.bonus_points = int(text)
    db.session.flush()
    log.info("user %s set project %s bonus to %s", actor.id if actor else None, project.id, project.bonus_points)
    return project


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier (the month's last day when it is shorter)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(d, day.day))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def expire(as_of: dt.date, months: int) -> dict:
    """Write the expiry rows due on `as_of` for points earned before `as_of − months`; idempotent."""
    if months <= 0:
        return {"cutoff": None, "volunteers": 0, "points": 0}
    if as_of > now().date():
        raise Invalid(_l("过期日期不能晚于今天。"))
    cutoff = dt.datetime.combine(months_before(as_of, months), dt.time())
    earned_before = func.sum(case((LedgerEntry.amount > 0, case((LedgerEntry.created_at < cutoff,
                                                                 LedgerEntry.amount), else_=0)), else_=0))
    spent = func.sum(case((LedgerEntry.amount < 0, -LedgerEntry.amount), else_=0))
    rows = db.session.execute(
        select(LedgerEntry.volunteer_id, earned_before, spent)
        .where(LedgerEntry.ledger == "points").group_by(LedgerEntry.volunteer_id)
        .having(earned_before > spent)).all()
    volunteers = points = 0
    for volunteer_id, before, used in rows:
        volunteer = db.session.get(Volunteer, volunteer_id)
        due = min(int(before) - int(used), volunteer.points)
        if due <= 0:
            continue
        ledger.post(volunteer, "points", "expired", -due,
                    reason=str(_l("积分过期（%(day)s 以前获得）", day=cutoff.date().isoformat())))
        volunteers += 1
        points += due
    log.info("points expired on %s (earned before %s): %d points of %d volunteers", as_of, cutoff.date(),
             points, volunteers)
    return {"cutoff": cutoff.date(), "volunteers": volunteers, "points": points}

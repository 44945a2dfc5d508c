"""Activities: create, move on the board, sign up and cancel, check in and out, confirm hours.

Capacity is kept by a conditional UPDATE on `activity.taken`, so two sign-ups racing for the last
place cannot both win; hours are capped by the activity's window; the leader's confirmation writes
the hours and points ledger rows in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from casework.extensions import db
from casework.models import Activity, Attendance, Building, SignUp, User, Volunteer, VolunteerProject, VolunteerTeam
from casework.services.errors import Invalid, NotFound, Refused
from casework.services.volunteers import flow, ledger
from casework.timekeeping import now

log = logging.getLogger(__name__)

TITLE_MAX = 120
PLACE_MAX = 120
CAPACITY_MAX = 1000
POINTS_PER_HOUR_MAX = 50
# The check-in QR opens this long before the start (people arrive early); check-out stays open this
# long after the end (hours still count only up to the end).
CHECKIN_EARLY = dt.timedelta(minutes=30)
CHECKOUT_GRACE = dt.timedelta(minutes=30)
MAX_DURATION = dt.timedelta(hours=12)


def _parse_local(raw: str | None) -> dt.datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace(" ", "T")).replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        return None


def _int(raw) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if text.lstrip("-").isdigit() and len(text) < 10:
        return int(text)
    return None


def validate(values: dict, teams: list[VolunteerTeam]) -> tuple[dict, dict]:
    """(clean values, field errors) for a new activity; `teams` are those the actor may organise for."""
    errors: dict = {}
    clean: dict = {}
    title = (values.get("title") or "").strip()
    if not title:
        errors["title"] = _l("请填写活动名称。")
    elif len(title) > TITLE_MAX:
        errors["title"] = _l("活动名称太长了。")
    clean["title"] = title
    team_id = _int(values.get("team_id"))
    team = next((t for t in teams if t.id == team_id), None)
    if team is None:
        errors["team_id"] = _l("请选择组织活动的志愿服务队。")
    clean["team"] = team
    project_id = _int(values.get("project_id"))
    clean["project_id"] = None
    if project_id:
        if db.session.get(VolunteerProject, project_id) is None:
            errors["project_id"] = _l("请选择项目/品牌。")
        clean["project_id"] = project_id
    building_id = _int(values.get("building_id"))
    clean["building_id"] = building_id if building_id and db.session.get(Building, building_id) else None
    place = (values.get("place") or "").strip()
    if not place:
        errors["place"] = _l("请填写活动地点。")
    elif len(place) > PLACE_MAX:
        errors["place"] = _l("活动地点太长了。")
    clean["place"] = place
    starts, ends, deadline = (_parse_local(values.get(k)) for k in ("starts_at", "ends_at", "signup_deadline"))
    if starts is None:
        errors["starts_at"] = _l("请填写开始时间。")
    if ends is None:
        errors["ends_at"] = _l("请填写结束时间。")
    elif starts is not None and ends <= starts:
        errors["ends_at"] = _l("结束时间必须晚于开始时间。")
    elif starts is not None and ends - starts > MAX_DURATION:
        errors["ends_at"] = _l("一次活动最长 12 小时。")
    if deadline is None:
        errors["signup_deadline"] = _l("请填写报名截止时间。")
    elif starts is not None and deadline > starts:
        errors["signup_deadline"] = _l("报名截止时间不能晚于开始时间。")
    clean.update(starts_at=starts, ends_at=ends, signup_deadline=deadline)
    capacity = _int(values.get("capacity"))
    if capacity is None or not 1 <= capacity <= CAPACITY_MAX:
        errors["capacity"] = _l("招募人数应为 1 到 1000 之间的整数。")
    clean["capacity"] = capacity
    pph = _int(values.get("points_per_hour"))
    if pph is None or not 0 <= pph <= POINTS_PER_HOUR_MAX:
        errors["points_per_hour"] = _l("每小时积分应为 0 到 50 之间的整数。")
    clean["points_per_hour"] = pph
    return clean, errors


def create_activity(actor: User, values: dict, teams: list[VolunteerTeam]) -> Activity:
    """A new activity in `planned`, with its own unguessable check-in token."""
    clean, errors = validate(values, teams)
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    team = clean.pop("team")
    activity = Activity(team_id=team.id, community_id=team.community_id or actor.community_id,
                        checkin_token=secrets.token_urlsafe(18), status="planned", taken=0,
                        created_at=now(), created_by_id=actor.id, **clean)
    db.session.add(activity)
    db.session.flush()
    log.info("user %s created activity %s", actor.id, activity.id)
    return activity


def move(actor: User, activity: Activity, event: str) -> Activity:
    """Move the activity on the board; confirming hours writes the ledgers."""
    if event not in flow.enabled_events(activity):
        raise Refused(_l("活动当前状态不能进行这个操作。"))
    if event == "confirm_hours":
        confirm_hours(actor, activity)
    flow.fire(activity, event)
    db.session.flush()
    log.info("user %s moved activity %s by %s → %s", actor.id, activity.id, event, activity.status)
    return activity


# Sign-up ---------------------------------------------------------------------------------------

def get_signup(activity: Activity, volunteer: Volunteer) -> SignUp | None:
    return db.session.scalars(select(SignUp).where(SignUp.activity_id == activity.id,
                                                   SignUp.volunteer_id == volunteer.id)).first()


def sign_up(volunteer: Volunteer, activity: Activity) -> SignUp:
    """Take a place; a full or closed activity refuses politely and nothing changes."""
    at = now()
    if activity.status != "open" or at > activity.signup_deadline:
        raise Refused(_l("这个活动现在不接受报名。"))
    existing = get_signup(activity, volunteer)
    if existing is not None and existing.status == "signed_up":
        raise Refused(_l("您已经报名了这个活动。"))
    taken = db.session.execute(
        update(Activity).where(Activity.id == activity.id, Activity.taken < Activity.capacity)
        .values(taken=Activity.taken + 1).returning(Activity.taken)
        .execution_options(synchronize_session=False)).first()
    if taken is None:
        raise Refused(_l("很抱歉，这个活动的名额已满。欢迎关注其他活动。"))
    db.session.expire(activity, ["taken"])
    if existing is None:
        existing = SignUp(activity_id=activity.id, volunteer_id=volunteer.id)
        db.session.add(existing)
    existing.status, existing.signed_up_at, existing.cancelled_at = "signed_up", at, None
    db.session.flush()
    log.info("volunteer %s signed up for activity %s", volunteer.id, activity.id)
    return existing


def cancel(volunteer: Volunteer, activity: Activity) -> SignUp:
    """Give the place back (only before the sign-up deadline)."""
    signup = get_signup(activity, volunteer)
    if signup is None or signup.status != "signed_up":
        raise Refused(_l("您没有报名这个活动。"))
    at = now()
    if at > activity.signup_deadline or activity.status not in ("planned", "open"):
        raise Refused(_l("报名已截止，不能再取消。如有变化请联系队长。"))
    db.session.execute(update(Activity).where(Activity.id == activity.id, Activity.taken > 0)
                       .values(taken=Activity.taken - 1).execution_options(synchronize_session=False))
    db.session.expire(activity, ["taken"])
    signup.status, signup.cancelled_at = "cancelled", at
    db.session.flush()
    log.info("volunteer %s cancelled activity %s", volunteer.id, activity.id)
    return signup


def signups_of(volunteer: Volunteer) -> list[SignUp]:
    return list(db.session.scalars(select(SignUp).where(SignUp.volunteer_id == volunteer.id,
                                                        SignUp.status == "signed_up")
                                   .order_by(SignUp.id.desc()).limit(50)))


def open_activities() -> list[Activity]:
    return list(db.session.scalars(select(Activity).where(Activity.status == "open")
                                   .order_by(Activity.starts_at).limit(50)))


# Attendance ------------------------------------------------------------------------------------

def by_token(token: str | None) -> Activity:
    """The activity whose check-in QR carries this token, or NotFound."""
    token = (token or "").strip()
    activity = None
    if 10 <= len(token) <= 32:
        activity = db.session.scalars(select(Activity).where(Activity.checkin_token == token)).first()
    if activity is None:
        raise NotFound(_l("签到码无效。"))
    return activity


def _attendance(activity: Activity, volunteer: Volunteer) -> Attendance | None:
    return db.session.scalars(select(Attendance).where(Attendance.activity_id == activity.id,
                                                       Attendance.volunteer_id == volunteer.id)).first()


def check_in(volunteer: Volunteer, activity: Activity) -> Attendance:
    """Check in by the activity's QR, only inside its window, once, and not while checked in elsewhere."""
    at = now()
    if activity.status not in ("open", "under_way") or not (
            activity.starts_at - CHECKIN_EARLY <= at <= activity.ends_at):
        raise Refused(_l("签到码已失效：只能在活动时间内签到。"))
    signup = get_signup(activity, volunteer)
    if signup is None or signup.status != "signed_up":
        raise Refused(_l("您没有报名这个活动，不能签到。"))
    if _attendance(activity, volunteer) is not None:
        raise Refused(_l("您已经签到过了。"))
    elsewhere = db.session.scalars(select(Attendance).where(
        Attendance.volunteer_id == volunteer.id, Attendance.checked_out_at.is_(None))).first()
    if elsewhere is not None:
        raise Refused(_l("您在另一个活动中还没有签退，不能同时签到两个活动。"))
    row = Attendance(activity_id=activity.id, volunteer_id=volunteer.id, checked_in_at=at)
    db.session.add(row)
    db.session.flush()
    log.info("volunteer %s checked in at activity %s", volunteer.id, activity.id)
    return row


def served_minutes(activity: Activity, checked_in: dt.datetime, checked_out: dt.datetime) -> int:
    """Whole minutes of [in, out] inside the activity's window."""
    start = max(checked_in, activity.starts_at)
    end = min(checked_out, activity.ends_at)
    return max(0, int((end - start).total_seconds() // 60))


def check_out(volunteer: Volunteer, activity: Activity) -> Attendance:
    """Check out: the minutes served inside the window are recorded, waiting for the leader."""
    at = now()
    row = _attendance(activity, volunteer)
    if row is None:
        raise Refused(_l("您还没有签到。"))
    if row.checked_out_at is not None:
        raise Refused(_l("您已经签退过了。"))
    if activity.status == "done" or at > activity.ends_at + CHECKOUT_GRACE:
        raise Refused(_l("签到码已失效：签退时间已过，请联系队长补录。"))
    row.checked_out_at = at
    row.minutes = served_minutes(activity, row.checked_in_at, at)
    db.session.flush()
    log.info("volunteer %s checked out of activity %s (%d min)", volunteer.id, activity.id, row.minutes)
    return row


@dataclass(frozen=True)
class RosterLine:
    signup: SignUp
    attendance: Attendance | None


def roster(activity: Activity) -> list[RosterLine]:
    """Who signed up and their attendance, for the leader."""
    signups = db.session.scalars(select(SignUp).where(SignUp.activity_id == activity.id,
                                                      SignUp.status == "signed_up").order_by(SignUp.id))
    rows = {a.volunteer_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.activity_id == activity.id))}
    return [RosterLine(s, rows.get(s.volunteer_id)) for s in signups]


def confirm_hours(actor: User, activity: Activity) -> int:
    """The leader confirms: each checked-out attendance earns hours and points (ledger rows)."""
    at = now()
    count = 0
    for row in db.session.scalars(select(Attendance).where(
            Attendance.activity_id == activity.id, Attendance.confirmed_at.is_(None),
            Attendance.checked_out_at.is_not(None)).order_by(Attendance.id)):
        row.confirmed_at, row.confirmed_by_id = at, actor.id
        if not row.minutes:
            continue
        volunteer = db.session.get(Volunteer, row.volunteer_id)
        reason = f"{activity.title}"
        ledger.post(volunteer, "hours", "earned", row.minutes, reason=reason, actor=actor, approver=actor,
                    activity_id=activity.id)
        points = row.minutes * activity.points_per_hour // 60
        if points:
            ledger.post(volunteer, "points", "earned", points, reason=reason, actor=actor, approver=actor,
                        activity_id=activity.id)
        from casework.services.volunteers import points as rules
        rules.project_bonus(actor, activity, volunteer)
        count += 1
    return count


def board(activities: list[Activity]) -> list[tuple[str, list[Activity]]]:
    """Activities grouped by state, in the workflow's order."""
    from casework.models.volunteers import ACTIVITY_STATES
    return [(state, [a for a in activities if a.status == state]) for state in ACTIVITY_STATES]


def of_teams(team_ids: list[int], limit: int = 300) -> list[Activity]:
    """The teams' activities for the board: everything not done, and the latest done."""
    if not team_ids:
        return []
    return list(db.session.scalars(select(Activity).where(Activity.team_id.in_(team_ids))
                                   .order_by(Activity.starts_at.desc()).limit(limit)))


def projects() -> list[VolunteerProject]:
    return list(db.session.scalars(select(VolunteerProject).order_by(VolunteerProject.id)))


def record_roster(actor: User, activity: Activity, volunteer_ids: list[int]) -> int:
    """The leader ticks who came (点名): each gets the activity's window (up to now), awaiting confirmation.

    All or nothing: a tick for someone not signed up, or whose time overlaps another activity they
    attended, refuses the whole roster with their name.
    """
    if activity.status not in ("under_way", "hours_to_confirm"):
        raise Refused(_l("只能在活动进行中或待确认时长时点名。"))
    if not volunteer_ids:
        raise Invalid(_l("请勾选到场的志愿者。"), {"volunteers": _l("请勾选到场的志愿者。")})
    at = now()
    start, end = activity.starts_at, min(activity.ends_at, at)
    if end <= start:
        raise Refused(_l("活动还没有开始，不能点名。"))
    signed = {s.volunteer_id: s for s in db.session.scalars(select(SignUp).where(
        SignUp.activity_id == activity.id, SignUp.status == "signed_up"))}
    recorded = set(db.session.scalars(select(Attendance.volunteer_id).where(Attendance.activity_id == activity.id)))
    count = 0
    for vid in dict.fromkeys(volunteer_ids):
        if vid not in signed:
            raise Invalid(_l("只能为已报名的志愿者点名。"), {"volunteers": _l("只能为已报名的志愿者点名。")})
        if vid in recorded:
            continue
        clash = db.session.scalars(select(Attendance).where(
            Attendance.volunteer_id == vid, Attendance.activity_id != activity.id,
            Attendance.checked_in_at < end,
            func.coalesce(Attendance.checked_out_at, at) > start)).first()
        if clash is not None:
            name = signed[vid].volunteer.name
            raise Refused(_l("%(name)s 同一时间在另一个活动签到过，不能重复计时。", name=name))
        db.session.add(Attendance(activity_id=activity.id, volunteer_id=vid, checked_in_at=start,
                                  checked_out_at=end, minutes=served_minutes(activity, start, end)))
        count += 1
    db.session.flush()
    log.info("user %s recorded %d attendances by roster for activity %s", actor.id, count, activity.id)
    return count

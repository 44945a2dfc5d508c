"""Star ratings twice a year (星级评定): hours → 1–5 stars by a preset, as draft rows per period.

Presets: the national practice counts cumulative confirmed hours up to the period's end (100 / 300 /
600 / 1,000 / 1,500 h); the community preset counts hours confirmed within the period. One grouped
query over the hours ledger, then the period's drafts are replaced in bulk, so a run is idempotent
and never touches a rating already published or confirmed.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select

from casework.extensions import db
from casework.models import LedgerEntry, VolunteerRating
from casework.services.errors import Invalid, Refused
from casework.timekeeping import now

PRESETS: dict[str, tuple[int, ...]] = {
    "national": (100, 300, 600, 1000, 1500),   # cumulative hours
    "community": (10, 20, 40, 60, 100),        # hours within the period
}


@dataclass(frozen=True)
class Period:
    name: str
    start: dt.datetime
    end: dt.datetime  # exclusive


def parse_period(name: str) -> Period:
    """'2026H2' → 2026-07-01 .. 2027-01-01; 'H1' is January to June."""
    match = re.fullmatch(r"(\d{4})H([12])", (name or "").strip().upper())
    if not match:
        raise Invalid(_l("评定周期的格式应为 2026H1 或 2026H2。"))
    year, half = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, 1 if half == 1 else 7, 1)
    end = dt.datetime(year, 7, 1) if half == 1 else dt.datetime(year + 1, 1, 1)
    return Period(f"{year}H{half}", start, end)


def stars_for(hours: float, thresholds: tuple[int, ...]) -> int:
    return sum(1 for t in thresholds if hours >= t)


def rate(period_name: str, preset: str = "national", thresholds: tuple[int, ...] | None = None) -> dict:
    """Compute the period's draft ratings; refused for a period that has not ended yet."""
    period = parse_period(period_name)
    if preset not in PRESETS:
        raise Invalid(_l("未知的评定标准。"))
    thresholds = tuple(thresholds or PRESETS[preset])
    if len(thresholds) != 5 or list(thresholds) != sorted(set(thresholds)) or thresholds[0] <= 0:
        raise Invalid(_l("星级门槛应为 5 个递增的正数。"))
    at = now()
    if at < period.end:
        raise Refused(_l("评定周期尚未结束，不能评定。"))
    hours = (LedgerEntry.ledger == "hours", LedgerEntry.created_at < period.end)
    if preset == "community":
        hours += (LedgerEntry.created_at >= period.start,)
    totals = db.session.execute(select(LedgerEntry.volunteer_id, func.sum(LedgerEntry.amount))
                                .where(*hours).group_by(LedgerEntry.volunteer_id)).all()
    kept = set(db.session.scalars(select(VolunteerRating.volunteer_id).where(
        VolunteerRating.period == period.name, VolunteerRating.status != "draft")))
    db.session.execute(delete(VolunteerRating).where(VolunteerRating.period == period.name,
                                                     VolunteerRating.status == "draft"))
    rows = []
    for volunteer_id, minutes in totals:
        stars = stars_for((minutes or 0) / 60, thresholds)
        if stars and volunteer_id not in kept:
            rows.append({"period": period.name, "volunteer_id": volunteer_id, "preset": preset,
                         "hours_minutes": int(minutes), "stars": stars, "status": "draft", "computed_at": at})
    if rows:
        db.session.execute(insert(VolunteerRating), rows)
    by_stars = {s: sum(1 for r in rows if r["stars"] == s) for s in range(1, 6)}
    return {"period": period.name, "preset": preset, "rated": len(rows), "kept": len(kept), "by_stars": by_stars}


# Review, public notice (公示) and confirmation ----------------------------------------------------

NOTICE_WORKING_DAYS = 5


def notice_end(published: dt.datetime) -> dt.datetime:
    """The end of the public notice: midnight after the fifth full working day after publishing."""
    from casework.services import clock
    cal = clock.calendar()
    day, counted = published.date(), 0
    while counted < NOTICE_WORKING_DAYS:
        day += dt.timedelta(days=1)
        if cal.is_workday(day):
            counted += 1
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def in_scope(community_id: int | None):
    """Ratings of volunteers in a community (None: the whole subdistrict)."""
    from casework.models import Volunteer
    query = select(VolunteerRating).join(Volunteer, Volunteer.id == VolunteerRating.volunteer_id)
    if community_id is not None:
        query = query.where(Volunteer.community_id == community_id)
    return query


def ratings(period_name: str, community_id: int | None) -> list[VolunteerRating]:
    period = parse_period(period_name)
    return list(db.session.scalars(in_scope(community_id).where(VolunteerRating.period == period.name)
                                   .order_by(VolunteerRating.stars.desc(), VolunteerRating.id)))


def publish(actor, period_name: str, community_id: int | None) -> int:
    """The supervisor has reviewed the drafts and publishes them for the public notice."""
    at = now()
    rows = [r for r in ratings(period_name, community_id) if r.status == "draft"]
    if not rows:
        raise Refused(_l("没有待发布的评定结果。"))
    ends = notice_end(at)
    for r in rows:
        r.status, r.published_at, r.notice_ends_at, r.decided_by_id = "published", at, ends, actor.id
    db.session.flush()
    return len(rows)


def confirm(actor, period_name: str, community_id: int | None) -> int:
    """After the notice period, the supervisor confirms: each rating gets a numbered certificate."""
    from casework.services.numbering import next_value
    at = now()
    rows = [r for r in ratings(period_name, community_id) if r.status == "published"]
    if not rows:
        raise Refused(_l("没有公示中的评定结果。"))
    waiting = [r for r in rows if r.notice_ends_at and at < r.notice_ends_at]
    if waiting:
        raise Refused(_l("公示期未满（至 %(at)s），还不能确认。",
                         at=min(r.notice_ends_at for r in waiting).strftime("%Y-%m-%d %H:%M")))
    period = parse_period(period_name)
    for r in rows:
        r.status, r.confirmed_at, r.decided_by_id = "confirmed", at, actor.id
        r.certificate_number = f"VS-{period.name}-{next_value(f'certificate-{period.name}'):06d}"
    db.session.flush()
    return len(rows)


def certificate(number: str | None) -> VolunteerRating:
    """The confirmed rating behind a certificate number, or NotFound."""
    from casework.services.errors import NotFound
    number = (number or "").strip().upper()[:24]
    row = db.session.scalars(select(VolunteerRating).where(VolunteerRating.certificate_number == number,
                                                           VolunteerRating.status == "confirmed")).first()
    if row is None:
        raise NotFound(_l("没有找到这个证书编号。"))
    return row


def of_volunteer(volunteer_id: int) -> list[VolunteerRating]:
    """A volunteer's confirmed ratings, newest period first (for the card page)."""
    return list(db.session.scalars(select(VolunteerRating).where(
        VolunteerRating.volunteer_id == volunteer_id, VolunteerRating.status == "confirmed")
        .order_by(VolunteerRating.period.desc())))


def on_notice(period_name: str) -> list[VolunteerRating]:
    """The ratings under public notice for a period (all communities)."""
    period = parse_period(period_name)
    return list(db.session.scalars(select(VolunteerRating).where(
        VolunteerRating.period == period.name, VolunteerRating.status == "published")
        .order_by(VolunteerRating.stars.desc(), VolunteerRating.id)))


def mask_name(name: str) -> str:
    """张小志 → 张*志: what a public notice or a verification page shows of a name."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]

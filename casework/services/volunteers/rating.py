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

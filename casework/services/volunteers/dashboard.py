"""The volunteer dashboard for supervisors: teams, volunteers, hours, residents served, activities per
project, stars by level and partners' plan vs held, over a period, in the supervisor's scope.

Every figure is one grouped query (the definitions are in docs/metrics.md, "Volunteers"); the
scope is a community id (None: the whole subdistrict). The period is [start, end) in local time.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, func, select

from casework.extensions import db
from casework.models import (
    Activity, Case, CaseHours, LedgerEntry, Volunteer, VolunteerProject, VolunteerRating, VolunteerTeam,
)
from casework.services.errors import Invalid
from casework.services.volunteers import partners


@dataclass
class Figures:
    start: dt.date
    end: dt.date  # exclusive
    teams: int = 0
    registered: int = 0
    active: int = 0
    hours_minutes: int = 0
    served_by_activities: int = 0
    served_by_cases: int = 0
    activities_held: int = 0
    by_project: list[tuple[str, int]] = field(default_factory=list)
    stars: dict[int, int] = field(default_factory=dict)
    plan_vs_held: partners.PlanVsHeld | None = None

    @property
    def last(self) -> dt.date:
        """The period's last day (inclusive)."""
        return self.end - dt.timedelta(days=1)

    @property
    def hours(self) -> str:
        return f"{self.hours_minutes / 60:.1f}"

    @property
    def served(self) -> int:
        return self.served_by_activities + self.served_by_cases


def parse_period(raw_from: str | None, raw_to: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """(start, end exclusive) from the form's dates (`to` inclusive); default: the current half-year."""
    errors = {}
    half_start = dt.date(today.year, 1 if today.month <= 6 else 7, 1)
    try:
        start = dt.date.fromisoformat(raw_from.strip()) if (raw_from or "").strip() else half_start
    except ValueError:
        errors["from"], start = _l("请填写正确的日期，例如 2026-01-01。"), None
    try:
        last = dt.date.fromisoformat(raw_to.strip()) if (raw_to or "").strip() else None
    except ValueError:
        errors["to"], last = _l("请填写正确的日期，例如 2026-06-30。"), None
    if start is not None and last is None and "to" not in errors:
        last = dt.date(start.year, 6, 30) if start.month <= 6 else dt.date(start.year, 12, 31)
    if start is not None and last is not None:
        if last < start:
            errors["to"] = _l("结束日期不能早于开始日期。")
        elif (last - start).days > 366 * 10:
            errors["to"] = _l("统计区间最长 10 年。")
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    return start, last + dt.timedelta(days=1)


def figures(scope: int | None, start: dt.date, end: dt.date) -> Figures:
    """Every figure of the dashboard for the scope and the period (definitions: docs/metrics.md)."""
    s, e = dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time())
    f = Figures(start, end)

    def scoped(query, column):
        return query if scope is None else query.where(column == scope)

    f.teams = db.session.scalar(scoped(select(func.count()).select_from(VolunteerTeam), VolunteerTeam.community_id))
    f.registered = db.session.scalar(scoped(select(func.count()).select_from(Volunteer)
                                            .where(Volunteer.created_at < e), Volunteer.community_id))
    hours = scoped(select(func.count(distinct(LedgerEntry.volunteer_id)), func.coalesce(func.sum(LedgerEntry.amount), 0))
                   .join(Volunteer, Volunteer.id == LedgerEntry.volunteer_id)
                   .where(LedgerEntry.ledger == "hours", LedgerEntry.created_at >= s, LedgerEntry.created_at < e),
                   Volunteer.community_id)
    # Active: earned hours in the period (a correction alone does not make someone active).
    active = scoped(select(func.count(distinct(LedgerEntry.volunteer_id)))
                    .join(Volunteer, Volunteer.id == LedgerEntry.volunteer_id)
                    .where(LedgerEntry.ledger == "hours", LedgerEntry.kind == "earned",
                           LedgerEntry.created_at >= s, LedgerEntry.created_at < e), Volunteer.community_id)
    f.active = db.session.scalar(active) or 0
    f.hours_minutes = int(db.session.execute(hours).one()[1] or 0)
    held = scoped(select(Activity.project_id, func.count(), func.coalesce(func.sum(Activity.residents_served), 0))
                  .where(Activity.status == "done", Activity.starts_at >= s, Activity.starts_at < e)
                  .group_by(Activity.project_id), Activity.community_id)
    names = {p.id: p.name for p in db.session.scalars(select(VolunteerProject))}
    by_project = []
    for project_id, n, served in db.session.execute(held):
        f.activities_held += int(n)
        f.served_by_activities += int(served or 0)
        by_project.append((names.get(project_id) or str(_l("未归入项目")), int(n)))
    f.by_project = sorted(by_project, key=lambda p: (-p[1], p[0]))
    f.served_by_cases = db.session.scalar(scoped(
        select(func.count(distinct(CaseHours.case_id))).join(Case, Case.id == CaseHours.case_id)
        .where(CaseHours.status == "confirmed", CaseHours.decided_at >= s, CaseHours.decided_at < e),
        Case.community_id)) or 0
    stars = scoped(select(VolunteerRating.stars, func.count())
                   .join(Volunteer, Volunteer.id == VolunteerRating.volunteer_id)
                   .where(VolunteerRating.status == "confirmed", VolunteerRating.confirmed_at >= s,
                          VolunteerRating.confirmed_at < e).group_by(VolunteerRating.stars), Volunteer.community_id)
    f.stars = {level: 0 for level in range(1, 6)} | {int(k): int(n) for k, n in db.session.execute(stars)}
    f.plan_vs_held = partners.plan_vs_held(scope, start.year)[1]
    return f


def csv_bytes(f: Figures, scope_name: str) -> bytes:
    """The dashboard as CSV (UTF-8 with a BOM so Excel reads the Chinese): one figure per line."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([str(_l("指标")), str(_l("数值"))])
    w.writerow([str(_l("范围")), scope_name])
    w.writerow([str(_l("统计区间")), f"{f.start.isoformat()} – {(f.end - dt.timedelta(days=1)).isoformat()}"])
    rows = [(_l("志愿服务队"), f.teams), (_l("注册志愿者"), f.registered), (_l("活跃志愿者"), f.active),
            (_l("服务时长（小时）"), f.hours), (_l("开展活动"), f.activities_held),
            (_l("服务居民人次"), f.served), (_l("其中：活动服务人次"), f.served_by_activities),
            (_l("其中：志愿服务队办件"), f.served_by_cases)]
    for label, value in rows:
        w.writerow([str(label), value])
    for name, n in f.by_project:
        w.writerow([str(_l("活动：%(project)s", project=name)), n])
    for level, n in f.stars.items():
        w.writerow([str(_l("%(n)d 星志愿者", n=level)), n])
    p = f.plan_vs_held
    for label, value in ((_l("合伙人年度活动计划"), p.plans), (_l("合伙人活动载体"), p.carriers),
                         (_l("合伙人已开展活动"), p.held), (_l("合伙人服务居民人次"), p.served)):
        w.writerow([str(label), value])
    return ("\ufeff" + out.getvalue()).encode("utf-8")

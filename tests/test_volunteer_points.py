"""Points rules beyond points per hour: a project's bonus per confirmed participation, and expiry of
old unused points by `casework expire-points` (idempotent, oldest points spent first)."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from case_steps import parse
from conftest import SUITE_NOW
from volunteer_steps import community, make_activity, sign_up, staff

from casework.extensions import db
from casework.models import LedgerEntry, Volunteer, VolunteerProject
from casework.services.volunteers import activities, ledger, points, registry


def project(name: str = "家长课堂") -> VolunteerProject:
    return db.session.scalars(select(VolunteerProject).where(VolunteerProject.name == name)).one()


def volunteer(mobile: str = "13900002222") -> Volunteer:
    v = registry.register({"name": "李志愿", "mobile": mobile, "community_id": community().id, "consent": "1"})
    db.session.commit()
    return v


def at(year, month, day):
    return time_machine.travel(dt.datetime(year, month, day, 10, 0, tzinfo=SUITE_NOW.tzinfo), tick=False)


def test_a_project_bonus_is_earned_with_each_confirmed_participation(app, session, login_as):
    sup = login_as("shequ01")
    page = sup.get("/volunteers/projects")
    assert page.status_code == 200 and "家长课堂" in page.text and "24 个月后过期" in page.text
    bad = sup.post(f"/volunteers/projects/{project().id}/bonus", {"bonus_points": "-1"})
    assert bad.status_code == 422 and "0 到 1000 之间的整数" in bad.text
    assert parse(bad.text).find("input", id=f"bonus-{project().id}").get("value") == "-1"
    db.session.refresh(project())
    assert project().bonus_points == 0
    assert sup.post(f"/volunteers/projects/{project().id}/bonus", {"bonus_points": "5"}).status_code == 303
    db.session.refresh(project())
    assert project().bonus_points == 5
    # Another community's supervisor cannot change it.
    assert login_as("shequ02").post(f"/volunteers/projects/{project().id}/bonus",
                                    {"bonus_points": "50"}).status_code == 404

    v = volunteer()
    a = make_activity(status="open", points_per_hour=10)
    a.project_id = project().id
    sign_up(v, a)
    a.status = "under_way"
    db.session.commit()
    with time_machine.travel(SUITE_NOW + dt.timedelta(hours=3), tick=False):
        leader = staff("hehuo01")
        activities.record_roster(leader, a, [v.id])
        a.status = "hours_to_confirm"
        activities.move(leader, a, "confirm_hours")
        db.session.commit()
    db.session.refresh(v)
    assert (v.hours_minutes, v.points) == (120, 25)  # 120 min × 10/h = 20, plus the project's 5
    rows = db.session.scalars(select(LedgerEntry).where(LedgerEntry.ledger == "points").order_by(LedgerEntry.id)).all()
    assert [(r.amount, r.kind) for r in rows] == [(20, "earned"), (5, "earned")]
    assert "项目奖励" in rows[1].reason


def run(app, *args):
    return app.test_cli_runner().invoke(args=["casework", "expire-points", *args])


def test_old_unused_points_expire_once(app, session):
    v = volunteer()
    spender = volunteer("13900003333")
    with at(2024, 1, 10):
        ledger.post(v, "points", "earned", 100, reason="2024 年活动")
        ledger.post(spender, "points", "earned", 40, reason="2024 年活动")
        db.session.commit()
    with at(2025, 6, 1):
        ledger.post(v, "points", "redeemed", -30, reason="兑换")
        ledger.post(spender, "points", "redeemed", -40, reason="兑换")
        db.session.commit()
    ledger.post(v, "points", "earned", 50, reason="今年的活动")
    db.session.commit()

    result = run(app, "--months", "24")
    assert result.exit_code == 0, result.output
    assert "expired 70 points of 1 volunteers" in result.output
    db.session.expire_all()
    v, spender = db.session.get(Volunteer, v.id), db.session.get(Volunteer, spender.id)
    assert (v.points, spender.points) == (50, 0)  # 100 old − 30 spent expire; this year's 50 stay
    expired = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "expired")).all()
    assert [(e.volunteer_id, e.amount, e.balance_after) for e in expired] == [(v.id, -70, 50)]
    again = run(app)  # the configured 24 months: nothing more to expire
    assert again.exit_code == 0 and "expired 0 points of 0 volunteers" in again.output
    assert len(db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "expired")).all()) == 1
    assert app.test_cli_runner().invoke(args=["casework", "ledger-verify"]).exit_code == 0


def test_points_inside_the_window_do_not_expire(app, session):
    v = volunteer()
    with at(2025, 3, 1):
        ledger.post(v, "points", "earned", 100, reason="去年的活动")
        db.session.commit()
    assert "expired 0 points" in run(app, "--months", "24").output
    db.session.refresh(v)
    assert v.points == 100


@pytest.mark.parametrize("args,message", [
    (["--as-of", "2099-01-01"], "过期日期不能晚于今天"),
    (["--as-of", "yesterday"], "--as-of must be a date"),
    (["--months", "-1"], "--months must be 0"),
])
def test_bad_expiry_runs_change_nothing(app, session, args, message):
    v = volunteer()
    with at(2020, 1, 1):
        ledger.post(v, "points", "earned", 100, reason="很久以前")
        db.session.commit()
    result = run(app, *args)
    assert result.exit_code != 0 and message in result.output
    db.session.refresh(v)
    assert v.points == 100


def test_months_zero_means_never(app, session):
    v = volunteer()
    with at(2020, 1, 1):
        ledger.post(v, "points", "earned", 100, reason="很久以前")
        db.session.commit()
    assert "never expire" in run(app, "--months", "0").output
    db.session.refresh(v)
    assert v.points == 100


@pytest.mark.parametrize("day,months,expected", [
    (dt.date(2026, 12, 2), 24, dt.date(2024, 12, 2)),
    (dt.date(2026, 3, 31), 1, dt.date(2026, 2, 28)),
    (dt.date(2024, 3, 31), 1, dt.date(2024, 2, 29)),
    (dt.date(2026, 1, 15), 13, dt.date(2024, 12, 15)),
])
def test_months_before(day, months, expected):
    assert points.months_before(day, months) == expected

"""The escalation sweep: warning → urge → supervise (community) → supervise (subdistrict), idempotent."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from casework.extensions import db
from casework.models import CaseEvent, Escalation, Notification
from casework.services import escalation, transitions
from tests.conftest import user

CN = ZoneInfo("Asia/Shanghai")


def at(*args):
    return time_machine.travel(dt.datetime(*args, tzinfo=CN), tick=False)


def ladder(case):
    """(level, recipients) for the case, in order."""
    rows = db.session.scalars(select(Escalation).where(Escalation.case_id == case.id).order_by(Escalation.id)).all()
    return [r.level for r in rows]


def notices(case):
    return sorted((n.kind, n.user_id) for n in db.session.scalars(
        select(Notification).where(Notification.case_id == case.id)))


def sweep_at(*when):
    with at(*when):
        counts = escalation.sweep()
        db.session.commit()
    return counts


def test_each_rung_fires_at_its_moment_and_only_once(make_case):
    # Monday 09:00, normal: sign due 14:30 (4 working hours); due soon when < 1 h left.
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities")
    staff = user("wangge01").id
    sweep_at(2026, 11, 2, 13, 0)                     # 1.5 h left of 4: on time
    assert ladder(case) == []
    sweep_at(2026, 11, 2, 13, 45)                    # 45 min left: due soon → warning to the grid staff
    assert ladder(case) == ["warning"]
    assert notices(case) == [("warning", staff)]
    sweep_at(2026, 11, 2, 13, 50)                    # nothing new
    assert ladder(case) == ["warning"]
    sweep_at(2026, 11, 2, 15, 0)                     # overdue → urge to the unit holding it
    assert ladder(case) == ["warning", "urge"]
    assert ("urge", staff) in notices(case)
    sweep_at(2026, 11, 3, 9, 0)                      # 3.5 h late: below the 4 h supervise threshold
    assert ladder(case) == ["warning", "urge"]
    sweep_at(2026, 11, 3, 10, 0)                     # 4.5 working hours late → community supervises
    assert ladder(case) == ["warning", "urge", "supervise"]
    assert ("supervise", user("shequ01").id) in notices(case)
    assert ("supervise", user("shequ02").id) not in notices(case)
    sweep_at(2026, 11, 4, 9, 0)                      # 3 h + 7.5 h ... ≥ 15 h? not yet (11 h)
    assert "supervise_subdistrict" not in ladder(case)
    sweep_at(2026, 11, 4, 14, 30)                    # 15 working hours late → the subdistrict
    assert ladder(case) == ["warning", "urge", "supervise", "supervise_subdistrict"]
    assert ("supervise_subdistrict", user("jiedao").id) in notices(case)
    before = (len(notices(case)), len(ladder(case)))
    sweep_at(2026, 11, 4, 14, 30)                    # a second run at the same moment adds nothing
    sweep_at(2026, 11, 5, 9, 0)
    assert (len(notices(case)), len(ladder(case))) == before
    # The ladder is on the case timeline too, as internal rows by the system.
    rows = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.actor_label == "system")
                              .order_by(CaseEvent.id)).all()
    assert [r.event for r in rows] == ["warning", "urge", "supervise", "supervise"]
    assert all(not r.public for r in rows)


def test_a_new_stage_climbs_the_ladder_afresh(make_case):
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities")
    sweep_at(2026, 11, 2, 15, 0)
    assert ladder(case) == ["warning", "urge"]
    with at(2026, 11, 2, 15, 10):
        transitions.fire(user("wangge01"), case, "sign", {}, version=case.version)
        db.session.commit()
    sweep_at(2026, 11, 2, 15, 20)                    # the dispatch stage has just begun: on time
    assert ladder(case) == ["warning", "urge"]


def test_parked_and_closed_cases_are_left_alone(make_case):
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities")
        transitions.fire(user("wangge01"), case, "reject", {"reason": "invalid_report"}, version=case.version)
        db.session.commit()
    sweep_at(2026, 11, 20, 9, 0)
    assert ladder(case) == []


def test_sweep_command_is_idempotent(app, make_case):
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities")
    runner = app.test_cli_runner()
    with at(2026, 11, 3, 16, 0):
        first = runner.invoke(args=["casework", "sweep"])
        second = runner.invoke(args=["casework", "sweep"])
    assert first.exit_code == 0 and "urge=" in first.output
    assert ladder(case) == ["warning", "urge", "supervise"]
    assert "warning=0 urge=0 supervise=0 supervise_subdistrict=0" in second.output


def test_notice_list_and_unread_count(make_case, login_as):
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities", title="单元门禁损坏")
    sweep_at(2026, 11, 2, 15, 0)
    staff = login_as("wangge01")
    page = staff.get("/notices/")
    assert page.status_code == 200
    assert "已超时，请尽快办理（催办）" in page.text and case.number in page.text
    count_before = db.session.scalar(select(db.func.count()).select_from(Notification).where(
        Notification.user_id == user("wangge01").id, Notification.read_at.is_(None)))
    assert f'<span class="badge-count">{count_before}</span>' in page.text
    notice = db.session.scalars(select(Notification).where(Notification.case_id == case.id,
                                                           Notification.kind == "urge")).one()
    opened = staff.post(f"/notices/{notice.id}/open")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/cases/{case.id}")
    db.session.refresh(notice)
    assert notice.read_at is not None
    # Someone else's notice cannot be opened or marked.
    other = login_as("wangge02").post(f"/notices/{notice.id}/open")
    assert other.status_code == 302 and other.headers["Location"].endswith("/notices/")


def test_supervisor_urges_by_hand(make_case, login_as):
    case = make_case(category="facilities")
    sup = login_as("shequ01")
    response = sup.post(f"/cases/{case.id}/urge", data={"note": "请今天内处理"}, htmx=True)
    assert response.status_code == 200 and "已催办" in response.text
    row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.event == "urge")).one()
    assert row.actor.username == "shequ01" and row.note == "请今天内处理"
    assert ("manual_urge", user("wangge01").id) in notices(case)
    # A supervisor of another community does not see the case at all; grid staff cannot urge.
    assert login_as("shequ02").post(f"/cases/{case.id}/urge", data={}, htmx=True).status_code == 404
    assert login_as("wangge01").post(f"/cases/{case.id}/urge", data={}, htmx=True).status_code == 409
    assert len(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                          CaseEvent.event == "urge")).all()) == 1

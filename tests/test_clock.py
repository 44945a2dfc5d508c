"""Time limits on working days: due times per stage, parking, extensions, admin rules."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from casework.extensions import db
from casework.models import CaseEvent, Extension, TimeLimit
from casework.services import clock, timeliness, transitions
from casework.services.errors import Invalid, Refused
from tests.conftest import org, user

CN = ZoneInfo("Asia/Shanghai")


def at(*args):
    """Freeze the clock at a China-local time."""
    return time_machine.travel(dt.datetime(*args, tzinfo=CN), tick=False)


def fire(username, case, event, **data):
    actor = user(username) if username else None
    transitions.fire(actor, case, event, data, version=case.version)
    db.session.commit()


def test_friday_evening_case_crosses_the_tiaoxiu_saturday(make_case):
    """Fri 2026-10-09 18:00 (after National Day): Sat 10-10 is a 调休 working day."""
    with at(2026, 10, 9, 18, 0):
        case = make_case(category="facilities")  # normal priority: sign within 4 working hours
    # 08:30–12:00 on the working Saturday is 3.5 h, then 0.5 h after lunch.
    assert case.stage_due_at == dt.datetime(2026, 10, 10, 14, 0)
    # 52.5 working hours = 7 working days: Sat 10, Mon 12 … Fri 16, Mon 19 → 19 Oct 17:30.
    assert case.due_at == dt.datetime(2026, 10, 19, 17, 30)


def test_case_before_national_day_waits_out_the_holiday(make_case):
    """Wed 2026-09-30 17:00, urgent (2 working hours): 0.5 h that day, then Thu 10-08 after the holiday."""
    with at(2026, 9, 30, 17, 0):
        case = make_case(category="facilities", priority="urgent")
    assert case.stage_due_at == dt.datetime(2026, 10, 8, 10, 0)


def test_emergency_runs_on_the_wall_clock(make_case):
    with at(2026, 10, 1, 23, 0):  # a holiday, at night
        case = make_case(category="safety", priority="emergency")
    assert case.stage_due_at == dt.datetime(2026, 10, 1, 23, 30)
    assert case.due_at == dt.datetime(2026, 10, 2, 7, 0)


def test_every_stage_gets_its_due_time_on_its_transition(make_case):
    wuye = org("万家")
    with at(2026, 11, 2, 9, 0):  # Monday
        case = make_case(category="facilities")
    assert case.stage_due_at == dt.datetime(2026, 11, 2, 14, 30)  # sign 4 h: 09–12, then 13:30–14:30
    with at(2026, 11, 2, 10, 0):
        fire("wangge01", case, "sign")
    assert case.stage_due_at == dt.datetime(2026, 11, 3, 10, 0)   # dispatch 7.5 h
    with at(2026, 11, 2, 11, 0):
        fire("wangge01", case, "dispatch")
    assert case.stage_due_at == dt.datetime(2026, 11, 4, 11, 0)   # building leader 15 h
    with at(2026, 11, 2, 15, 0):
        fire("louzhang01", case, "hand_on", organisation=str(wuye.id))
    assert case.stage_due_at == dt.datetime(2026, 11, 9, 15, 0)   # handling 37.5 h over the weekend
    with at(2026, 11, 3, 9, 0):
        fire("wuye01", case, "accept")
    assert case.stage_due_at == dt.datetime(2026, 11, 9, 15, 0)   # signing for does not restart the clock
    with at(2026, 11, 3, 16, 0):
        fire("wuye01", case, "report_done", note="已修好")
    assert case.stage_due_at == dt.datetime(2026, 11, 5, 16, 0)   # call-back 15 h
    with at(2026, 11, 4, 9, 0):
        fire("wangge01", case, "close", satisfaction="satisfied")
    assert case.stage_due_at is None
    events = db.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == "transition").order_by(CaseEvent.id)).all()
    # Each row records the stage it ended: that stage's due time and the working seconds it took.
    assert [(e.event, e.stage_due_at, e.stage_seconds) for e in events] == [
        ("report", None, None),
        ("sign", dt.datetime(2026, 11, 2, 14, 30), 3600),
        ("dispatch", dt.datetime(2026, 11, 3, 10, 0), 3600),
        ("hand_on", dt.datetime(2026, 11, 4, 11, 0), 9000),        # 11–12 and 13:30–15:00
        ("accept", None, None),                                    # no stage ended
        ("report_done", dt.datetime(2026, 11, 9, 15, 0), 30600),   # 2.5 h + 6 h
        ("close", dt.datetime(2026, 11, 5, 16, 0), 7200),          # 1.5 h + 0.5 h
    ]


def _handling_case(make_case):
    """A case at the property company since Monday 2026-11-02 10:00 (due Mon 11-09 10:00)."""
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities")
    with at(2026, 11, 2, 9, 30):
        fire("wangge01", case, "sign")
    with at(2026, 11, 2, 10, 0):
        fire("wangge01", case, "dispatch_handler", organisation=str(org("万家").id))
    assert case.stage_due_at == dt.datetime(2026, 11, 9, 10, 0)
    return case


def test_extension_approved_moves_the_due_time(make_case):
    case = _handling_case(make_case)
    with at(2026, 11, 3, 9, 0):
        timeliness.request_extension(user("wuye01"), case, kind="extend", hours="7.5", reason="需要订购配件",
                                     version=case.version)
        db.session.commit()
    ext = db.session.scalars(select(Extension).where(Extension.case_id == case.id)).one()
    assert ext.state == "pending" and case.stage_due_at == dt.datetime(2026, 11, 9, 10, 0)
    with at(2026, 11, 3, 10, 0):
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=True, note="同意")
        db.session.commit()
    assert ext.state == "approved" and ext.decided_by.username == "shequ01"
    assert case.stage_due_at == dt.datetime(2026, 11, 10, 10, 0)   # one working day later
    assert case.extension_count == 1
    kinds = [e.event for e in db.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.kind == "extension").order_by(CaseEvent.id))]
    assert kinds == ["extend_requested", "extend_approved"]


def test_extension_refused_keeps_the_due_time(make_case):
    case = _handling_case(make_case)
    with at(2026, 11, 3, 9, 0):
        ext = timeliness.request_extension(user("wuye01"), case, kind="extend", hours=4, reason="人手不足",
                                           version=case.version)
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=False, note="请按时办理")
        db.session.commit()
    assert ext.state == "refused"
    assert case.stage_due_at == dt.datetime(2026, 11, 9, 10, 0) and case.extension_count == 0
    with pytest.raises(Refused):  # a decided request cannot be decided again
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=True)


@pytest.mark.parametrize("hours,reason,when,field", [
    ("0", "理由", (2026, 11, 3, 9, 0), "hours"),
    ("-3", "理由", (2026, 11, 3, 9, 0), "hours"),
    ("abc", "理由", (2026, 11, 3, 9, 0), "hours"),
    ("4", "", (2026, 11, 3, 9, 0), "reason"),
    ("4", "理由", (2026, 11, 9, 11, 0), "hours"),   # asked after the due time
])
def test_bad_extension_request_changes_nothing(make_case, hours, reason, when, field):
    case = _handling_case(make_case)
    with at(*when):
        with pytest.raises(Invalid) as err:
            timeliness.request_extension(user("wuye01"), case, kind="extend", hours=hours, reason=reason,
                                         version=case.version)
    db.session.rollback()
    assert field in err.value.errors
    assert db.session.scalars(select(Extension).where(Extension.case_id == case.id)).all() == []


def test_only_the_handler_may_ask_and_only_a_supervisor_decides(make_case):
    case = _handling_case(make_case)
    with at(2026, 11, 3, 9, 0):
        for name in ("hehuo01", "wangge01", "shequ01"):
            with pytest.raises(Refused):
                timeliness.request_extension(user(name), case, kind="extend", hours=4, reason="x",
                                             version=case.version)
        ext = timeliness.request_extension(user("wuye01"), case, kind="extend", hours=4, reason="x",
                                           version=case.version)
        for name in ("wuye01", "wangge01", "shequ02"):
            with pytest.raises(Refused):
                timeliness.decide_extension(user(name), case, ext.id, approve=True)
    assert ext.state == "pending"


def test_parking_pauses_the_clock(make_case):
    case = _handling_case(make_case)
    with at(2026, 11, 3, 9, 0):
        ext = timeliness.request_extension(user("wuye01"), case, kind="park", hours=None,
                                           reason="等待业委会表决维修资金", version=case.version)
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=True)
        db.session.commit()
    assert case.parked_at == dt.datetime(2026, 11, 3, 9, 0)
    assert clock.badge(case, dt.datetime(2026, 11, 20, 9, 0)).state == "parked"   # never late while parked
    with at(2026, 11, 4, 9, 0):  # parked one working day (7.5 h)
        timeliness.resume(user("wuye01"), case)
        db.session.commit()
    assert case.parked_at is None
    assert case.stage_due_at == dt.datetime(2026, 11, 10, 10, 0)
    assert case.stage_paused_seconds == 7.5 * 3600
    with at(2026, 11, 4, 10, 0):  # two working days after it reached the handler, one of them parked
        fire("wuye01", case, "report_done", note="已修好")
    done = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.event == "report_done")).one()
    assert done.stage_seconds == 7.5 * 3600  # the parked day does not count as time the stage took
    assert case.stage_paused_seconds == 0    # the next stage starts with no pause


def test_leaving_a_stage_while_parked_ends_the_pause_there(make_case):
    case = _handling_case(make_case)  # at the handler since Monday 10:00
    with at(2026, 11, 3, 9, 0):       # parked from Tuesday 9:00 (6.5 working hours in)
        ext = timeliness.request_extension(user("wuye01"), case, kind="park", hours=None, reason="等待",
                                           version=case.version)
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=True)
        db.session.commit()
    with at(2026, 11, 5, 9, 0):       # done two working days later, still parked
        fire("wuye01", case, "report_done", note="已修好")
    done = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.event == "report_done")).one()
    assert done.stage_seconds == 6.5 * 3600
    assert case.parked_at is None and case.stage_paused_seconds == 0


def test_badge_states(make_case):
    case = _handling_case(make_case)   # handling 10:00 Mon → due Mon next week 10:00 (37.5 h)
    assert clock.badge(case, dt.datetime(2026, 11, 2, 11, 0)).state == "on_time"
    soon = clock.badge(case, dt.datetime(2026, 11, 6, 16, 0))          # Fri 1.5 h + Mon 1.5 h left < 25 %
    assert (soon.state, soon.amount, soon.unit) == ("due_soon", 3, "hours")
    late = clock.badge(case, dt.datetime(2026, 11, 10, 10, 0))         # one working day late
    assert (late.state, late.amount, late.unit) == ("overdue", 1, "days")


def test_admin_rule_changes_new_due_times(make_case, login_as):
    admin = login_as("admin")
    page = admin.get("/admin/limits")
    assert page.status_code == 200 and "办理时限" in page.text
    form = {f"{p}-{s}": str(clock.DEFAULT_LIMITS[p][s]) for p in clock.DEFAULT_LIMITS for s in clock.DEFAULT_LIMITS[p]}
    form["normal-sign"] = "2"
    response = admin.post("/admin/limits", data=dict(form, category=""))
    assert response.status_code == 302
    rule = db.session.scalars(select(TimeLimit).where(TimeLimit.priority == "normal", TimeLimit.stage == "sign")).one()
    assert rule.hours == 2 and rule.category_id is None
    with at(2026, 11, 2, 9, 0):
        case = make_case(category="facilities")
    assert case.stage_due_at == dt.datetime(2026, 11, 2, 11, 0)


@pytest.mark.parametrize("value", ["0", "-1", "abc", ""])
def test_admin_rejects_a_bad_limit_and_saves_nothing(login_as, value):
    admin = login_as("admin")
    form = {f"{p}-{s}": str(clock.DEFAULT_LIMITS[p][s]) for p in clock.DEFAULT_LIMITS for s in clock.DEFAULT_LIMITS[p]}
    form["urgent-handling"] = "5"      # a valid change in the same form is not saved either
    form["normal-sign"] = value
    response = admin.post("/admin/limits", data=dict(form, category=""))
    assert response.status_code == 422
    assert 'id="err-normal-sign"' in response.text and "未保存" in response.text
    assert f'value="{value}"' in response.text       # what was typed is kept
    assert db.session.scalars(select(TimeLimit)).all() == []


def test_admin_pages_are_for_admins_only(login_as):
    for name in ("wangge01", "shequ01", "jiedao", "wuye01"):
        assert login_as(name).get("/admin/limits").status_code == 404


def test_holiday_override_moves_due_dates_and_confirms_the_year(make_case, login_as):
    admin = login_as("admin")
    page = admin.get("/admin/holidays")
    assert "2027 年的调休安排尚未确认" in page.text
    assert admin.post("/admin/holidays", data={"day": "not-a-date", "kind": "holiday"}).status_code == 422
    response = admin.post("/admin/holidays", data={"day": "2026-11-03", "kind": "holiday", "note": "临时停工"})
    assert response.status_code == 302
    with at(2026, 11, 2, 16, 0):   # Monday 16:00, normal sign 4 h: 1.5 h today, Tuesday now off
        case = make_case(category="facilities")
    assert case.stage_due_at == dt.datetime(2026, 11, 4, 11, 0)
    admin.post("/admin/holidays", data={"day": "2027-01-30", "kind": "workday", "note": "调休"})
    assert "2027 年的调休安排尚未确认" not in admin.get("/admin/holidays").text


def test_requests_and_decisions_reach_the_right_people(make_case):
    from casework.models import Notification
    case = _handling_case(make_case)
    with at(2026, 11, 3, 9, 0):
        ext = timeliness.request_extension(user("wuye01"), case, kind="extend", hours=4, reason="等配件",
                                           version=case.version)
        db.session.commit()
    told = {(n.kind, n.user_id) for n in db.session.scalars(select(Notification).where(Notification.case_id == case.id))}
    assert ("extend_requested", user("shequ01").id) in told
    assert all(uid != user("shequ02").id for _k, uid in told)
    with at(2026, 11, 3, 10, 0):
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=True)
        db.session.commit()
    told = {(n.kind, n.user_id) for n in db.session.scalars(select(Notification).where(Notification.case_id == case.id))}
    assert ("extension_decided", user("wuye01").id) in told


def test_extension_panel_over_http(make_case, login_as):
    case = _handling_case(make_case)
    with at(2026, 11, 3, 9, 0):  # log in inside the frozen time: a CSRF token from "the future" is refused
        handler = login_as("wuye01")
        bad = handler.post(f"/cases/{case.id}/extensions", data={"kind": "extend", "hours": "0", "reason": "等配件",
                                                                 "version": case.version}, htmx=True)
        assert bad.status_code == 422
        assert "延期工时须大于 0" in bad.text and "等配件" in bad.text   # error by the field, input kept
        ok = handler.post(f"/cases/{case.id}/extensions", data={"kind": "extend", "hours": "7.5", "reason": "等配件",
                                                                "version": case.version}, htmx=True)
        assert ok.status_code == 200 and "等待督导审批" in ok.text
        ext = db.session.scalars(select(Extension).where(Extension.case_id == case.id)).one()
        assert login_as("wangge01").post(f"/cases/{case.id}/extensions/{ext.id}", data={"decision": "approve"},
                                         htmx=True).status_code == 409
        sup = login_as("shequ01")
        page = sup.get(f"/cases/{case.id}")
        assert "延期申请" in page.text and "批准" in page.text
        done = sup.post(f"/cases/{case.id}/extensions/{ext.id}", data={"decision": "approve", "note": "同意"},
                        htmx=True)
    assert done.status_code == 200
    db.session.refresh(case)
    assert case.stage_due_at == dt.datetime(2026, 11, 10, 10, 0) and case.extension_count == 1


def test_badge_agrees_with_classify_everywhere(make_case):
    """The card badge and the sweep use one rule (timekeeping.classify), at every moment of a stage."""
    from casework.timekeeping import classify
    case = _handling_case(make_case)
    cal = clock.calendar()
    moment = dt.datetime(2026, 11, 2, 10, 0)
    while moment < dt.datetime(2026, 11, 12, 10, 0):
        expected = classify(cal, case.stage_started_at, case.stage_due_at, moment, False, 0.25)
        assert clock.badge(case, moment).state == expected, moment
        moment += dt.timedelta(minutes=97)


def test_building_leader_holding_a_case_may_ask_for_more_time(make_case):
    with at(2026, 11, 2, 9, 0):  # Monday
        case = make_case(category="facilities")
        fire("wangge01", case, "sign")
        fire("wangge01", case, "dispatch")
    due = case.stage_due_at
    with at(2026, 11, 2, 10, 0):
        for name in ("louzhang02", "wuye01", "wangge01"):  # not the leader holding it
            with pytest.raises(Refused):
                timeliness.request_extension(user(name), case, kind="extend", hours=4, reason="x",
                                             version=case.version)
        ext = timeliness.request_extension(user("louzhang01"), case, kind="extend", hours="7.5",
                                           reason="两户协商需要再约时间", version=case.version)
        timeliness.decide_extension(user("shequ01"), case, ext.id, approve=True, note="同意")
        db.session.commit()
    assert ext.state == "approved" and case.extension_count == 1
    assert case.stage_due_at == due + dt.timedelta(days=1)  # one working day later (Tue → Wed)
    with at(2026, 11, 2, 11, 0):
        fire("louzhang01", case, "hand_on", organisation=str(org("万家").id))
        with pytest.raises(Refused):  # once handed on, the leader no longer holds it
            timeliness.request_extension(user("louzhang01"), case, kind="extend", hours=4, reason="x",
                                         version=case.version)

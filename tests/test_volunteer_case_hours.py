"""Hours from cases: a volunteer team's done report names who went and for how long; the hours wait
for the team leader, whose confirmation writes the hours and points ledgers. Bad input changes nothing."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from case_steps import case_in, parse, snapshot
from conftest import SUITE_NOW, org
from volunteer_steps import community, staff, team

from casework.extensions import db
from casework.models import Building, CaseHours, LedgerEntry, Volunteer
from casework.services.volunteers import registry


def later(**delta):
    return time_machine.travel(SUITE_NOW + dt.timedelta(**delta), tick=False)


def member(name: str, mobile: str, team_name: str = "邻里帮帮志愿维修队") -> Volunteer:
    """A registered volunteer whose joining the team's leader approved."""
    v = registry.register({"name": name, "mobile": mobile, "community_id": community().id, "consent": "1"})
    m = registry.request_join(v, team(team_name).id)
    registry.decide_membership(staff("hehuo01"), m, True)
    db.session.commit()
    return v


def repair_case():
    """A case in 青松社区 handled (signed for) by the volunteer repair team's organisation."""
    building = db.session.scalars(select(Building).where(Building.code == "G101-01")).one()
    return case_in("handling", building, organisation=org("邻里帮帮"), accepted=True)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_volunteer_team_reports_who_went_and_the_leader_confirms(app, session, login_as):
    a, b = member("张维修", "13900003333"), member("王电工", "13900004444")
    outsider = member("赵巾帼", "13900005555", "青松社区巾帼志愿服务队")
    case = repair_case()
    with later(hours=3):
        handler = login_as("hehuo01")
        form = handler.get(f"/cases/{case.id}/events/report_done/form", headers={"HX-Request": "true"})
        block = parse(form.text).find("fieldset", id=f"case-{case.id}-volunteers")
        assert block is not None and "邻里帮帮志愿维修队" in block.text
        names = [lbl.text for lbl in block.find_all("label")]
        assert names == sorted(["张维修", "王电工"]) and "赵巾帼" not in block.text
        response = handler.post(f"/cases/{case.id}/events/report_done", {
            "version": case.version, "note": "已修好水管", f"vh-{a.id}": "2", f"vh-{b.id}": "1.5"})
        assert response.status_code == 303
        rows = db.session.scalars(select(CaseHours).order_by(CaseHours.volunteer_id)).all()
        assert [(r.volunteer_id, r.minutes, r.status) for r in rows] == [(a.id, 120, "pending"), (b.id, 90, "pending")]
        assert count(LedgerEntry) == 0  # nothing counts before the leader confirms
        assert outsider.id not in {r.volunteer_id for r in rows}

        board = handler.get("/volunteers/")
        pending = parse(board.text).find("section", id="case-hours")
        assert pending is not None and "张维修" in pending.text and "139****3333" in pending.text
        assert "13900003333" not in board.text
        # Another community's supervisor cannot decide them.
        assert login_as("shequ02").post(f"/volunteers/case-hours/{rows[0].id}",
                                        {"decision": "confirm"}).status_code == 404
        # Refusing needs a reason.
        refused = handler.post(f"/volunteers/case-hours/{rows[1].id}", {"decision": "refuse", "reason": ""})
        assert refused.status_code == 422 and "不予确认必须写明原因" in refused.text
        assert handler.post(f"/volunteers/case-hours/{rows[0].id}", {"decision": "confirm"}).status_code == 303
        assert handler.post(f"/volunteers/case-hours/{rows[1].id}",
                            {"decision": "refuse", "reason": "没有到场"}).status_code == 303
        again = handler.post(f"/volunteers/case-hours/{rows[0].id}", {"decision": "confirm"})
        assert again.status_code == 409
    db.session.expire_all()
    a, b = db.session.get(Volunteer, a.id), db.session.get(Volunteer, b.id)
    assert (a.hours_minutes, a.points) == (120, 20) and (b.hours_minutes, b.points) == (0, 0)
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    assert [(e.volunteer_id, e.ledger, e.amount, e.case_id) for e in entries] == [
        (a.id, "hours", 120, case.id), (a.id, "points", 20, case.id)]
    assert entries[0].approver_id == staff("hehuo01").id and case.number in entries[0].reason
    card = login_as().get(f"/v/card/{a.card_code}").text
    assert case.number in card
    assert app.test_cli_runner().invoke(args=["casework", "ledger-verify"]).exit_code == 0


@pytest.mark.parametrize("hours,message", [
    ("5", "不能超过本案办理以来的时长"),     # the case has been in handling for 3 hours
    ("-1", "请填写大于 0 的小时数"),
    ("abc", "请填写大于 0 的小时数"),
    ("1.234", "请填写大于 0 的小时数"),
])
def test_bad_hours_are_refused_next_to_the_field_and_nothing_changes(app, session, hours, message, login_as):
    a = member("张维修", "13900003333")
    case = repair_case()
    before = snapshot(case.id)
    with later(hours=3):
        response = login_as("hehuo01").post(f"/cases/{case.id}/events/report_done", {
            "version": case.version, "note": "已修好", f"vh-{a.id}": hours}, htmx=True)
    assert response.status_code == 422
    field = parse(response.text).find("input", name=f"vh-{a.id}")
    assert field is not None and field.get("value") == hours and field.get("aria-invalid") == "true"
    assert message in response.text
    assert snapshot(case.id) == before and count(CaseHours) == 0


def test_a_volunteer_not_in_the_team_is_refused(app, session, login_as):
    member("张维修", "13900003333")
    outsider = member("赵巾帼", "13900005555", "青松社区巾帼志愿服务队")
    case = repair_case()
    before = snapshot(case.id)
    with later(hours=3):
        response = login_as("hehuo01").post(f"/cases/{case.id}/events/report_done", {
            "version": case.version, "note": "已修好", f"vh-{outsider.id}": "1"})
    assert response.status_code == 422 and "不是邻里帮帮志愿维修队的队员" in response.text
    assert snapshot(case.id) == before and count(CaseHours) == 0


def test_the_block_is_only_for_volunteer_teams(app, session, login_as):
    a = member("张维修", "13900003333")
    building = db.session.scalars(select(Building).where(Building.code == "G101-01")).one()
    case = case_in("handling", building, accepted=True)  # the property company handles it
    with later(hours=3):
        handler = login_as("wuye01")
        form = handler.get(f"/cases/{case.id}/events/report_done/form", headers={"HX-Request": "true"})
        assert form.status_code == 200 and parse(form.text).find("fieldset", id=f"case-{case.id}-volunteers") is None
        before = snapshot(case.id)
        crafted = handler.post(f"/cases/{case.id}/events/report_done", {
            "version": case.version, "note": "已修好", f"vh-{a.id}": "1"})
        assert crafted.status_code == 422 and "承办单位不是志愿服务队" in crafted.text
        assert snapshot(case.id) == before
        # Without hours the report goes through as always.
        ok = handler.post(f"/cases/{case.id}/events/report_done", {"version": case.version, "note": "已修好"})
        assert ok.status_code == 303 and count(CaseHours) == 0


def test_report_without_names_still_works_for_a_volunteer_team(app, session, login_as):
    member("张维修", "13900003333")
    case = repair_case()
    with later(hours=1):
        ok = login_as("hehuo01").post(f"/cases/{case.id}/events/report_done",
                                      {"version": case.version, "note": "已修好"})
    assert ok.status_code == 303 and count(CaseHours) == 0
    db.session.expire_all()
    assert snapshot(case.id).status == "resolved"

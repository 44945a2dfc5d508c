"""Volunteers: register on a phone, join a team, sign up, check in and out by the activity's QR, the
leader confirms, hours and points land in append-only ledgers; and every bad input changes nothing."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import func, select, text

from conftest import SUITE_NOW, _lowered_limit

from casework.extensions import db
from casework.models import Activity, Attendance, LedgerEntry, SignUp, TeamMembership, Volunteer
from casework.models.volunteers import AppendOnlyError
from casework.services.errors import Invalid, Refused
from casework.services.numbering import TRACKING_ALPHABET
from casework.services.volunteers import activities, ledger, registry
from volunteer_steps import (
    community, last4, make_activity, number, register, registration, sign_up, staff, team,
)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def later(**delta):
    """Travel the frozen suite clock forward (nested inside the suite's own travel)."""
    return time_machine.travel(SUITE_NOW + dt.timedelta(**delta), tick=False)


# Registration ----------------------------------------------------------------------------------

def test_registration_page_is_phone_first_public_and_asks_consent(app, session, login_as):
    page = login_as().get("/v/register")
    assert page.status_code == 200
    html = page.text
    assert 'name="viewport"' in html and "主导航" not in html
    for name in ("name", "mobile", "community_id", "skills", "availability", "consent"):
        assert f'name="{name}"' in html, name
    assert "个人信息保护法" in html and "青松社区" in html
    assert page.headers["Cache-Control"] == "no-store"


def test_register_gives_an_unguessable_card_with_consent_recorded(app, session, login_as):
    client = login_as()
    v = register(client)
    assert re.fullmatch(f"[{TRACKING_ALPHABET}]{{10}}", v.card_code)
    assert "个人信息保护法" in v.consent_text and v.consented_at is not None
    assert (v.name, v.mobile, v.community_id, v.hours_minutes, v.points) == (
        "李志愿", "13900002222", community().id, 0, 0)
    page = client.get(f"/v/card/{v.card_code}?new=1")
    assert page.status_code == 200 and "李志愿" in page.text and v.card_code in page.text
    assert number(page.text, "points") == "0" and page.headers["Cache-Control"] == "no-store"
    qr = client.get(f"/v/card/{v.card_code}/qr.svg")
    assert qr.status_code == 200 and qr.headers["Content-Type"] == "image/svg+xml" and b"<svg" in qr.data
    # Lower case and dashes reach the canonical address.
    assert client.get(f"/v/card/{v.card_code.lower()}").status_code == 302


@pytest.mark.parametrize("field,value,message", [
    ("consent", "", "需要您同意个人信息的收集和使用"),
    ("mobile", "1390000", "请输入正确的 11 位手机号码"),
    ("name", "", "请填写姓名"),
    ("community_id", "999999", "请选择所在社区"),
])
def test_bad_registration_is_refused_with_typed_input_kept(app, session, field, value, message, login_as):
    before = count(Volunteer)
    data = registration(**{field: value, "skills": "会理发"})
    response = login_as().post("/v/register", data)
    assert response.status_code == 422
    assert message in response.text and 'value="会理发"' in response.text
    assert count(Volunteer) == before


def test_a_mobile_registers_once(app, session, login_as):
    client = login_as()
    register(client)
    before = count(Volunteer)
    response = client.post("/v/register", registration(name="另一个人"))
    assert response.status_code == 409 and "已经注册过志愿者" in response.text
    assert count(Volunteer) == before


@pytest.mark.parametrize("code", ["NOPE", "2222222222", "<script>", "A" * 40])
def test_unknown_cards_all_get_the_same_404(app, session, code, login_as):
    response = login_as().get(f"/v/card/{code}")
    assert response.status_code == 404 and "没有找到对应的志愿者卡" in response.text


# Joining a team --------------------------------------------------------------------------------

def test_join_needs_the_last_four_digits_and_the_leader_approves(app, session, login_as):
    client = login_as()
    v = register(client)
    repair = team()
    wrong = client.post(f"/v/card/{v.card_code}/join", {"team_id": repair.id, "last4": "0000"})
    assert wrong.status_code == 422 and "手机号码后 4 位不对" in wrong.text
    assert count(TeamMembership) == 0
    ok = client.post(f"/v/card/{v.card_code}/join", {"team_id": repair.id, "last4": last4(v)})
    assert ok.status_code == 303
    membership = db.session.scalars(select(TeamMembership)).one()
    assert membership.status == "pending"
    assert "待队长审核" in client.get(f"/v/card/{v.card_code}").text

    leader = login_as("hehuo01")
    board = leader.get("/volunteers/")
    assert "待审核的入队申请" in board.text and "李志愿" in board.text
    assert "139****2222" in board.text and "13900002222" not in board.text  # masked on staff screens
    # Another community's supervisor cannot decide it.
    assert login_as("shequ02").post(f"/volunteers/memberships/{membership.id}",
                                        {"decision": "approve"}).status_code == 404
    assert leader.post(f"/volunteers/memberships/{membership.id}", {"decision": "approve"}).status_code == 303
    db.session.refresh(membership)
    assert membership.status == "approved" and membership.decided_by_id == staff("hehuo01").id
    assert "已入队" in client.get(f"/v/card/{v.card_code}").text
    again = leader.post(f"/volunteers/memberships/{membership.id}", {"decision": "refuse"})
    assert again.status_code == 303
    db.session.refresh(membership)
    assert membership.status == "approved"


def test_volunteer_screens_follow_the_access_policy(app, session, login_as):
    assert login_as().get("/volunteers/").status_code == 302  # to the login page
    assert login_as("wangge01").get("/volunteers/").status_code == 403
    activity = make_activity()
    assert login_as("hehuo01").get(f"/volunteers/activities/{activity.id}").status_code == 200
    assert login_as("shequ01").get(f"/volunteers/activities/{activity.id}").status_code == 200
    for outsider in ("wuye01", "shequ02"):
        assert login_as(outsider).get(f"/volunteers/activities/{activity.id}").status_code == 404
        assert login_as(outsider).post(f"/volunteers/activities/{activity.id}/events/start").status_code == 404


# Activities on the board -----------------------------------------------------------------------

def _activity_form(**over) -> dict:
    start = (SUITE_NOW.replace(tzinfo=None) + dt.timedelta(days=3)).replace(hour=9, minute=0)
    data = {"title": "家长课堂：安全用电", "team_id": str(team().id), "project_id": "", "place": "青松社区活动室",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": (start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "signup_deadline": (start - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "capacity": "20", "points_per_hour": "10"}
    data.update(over)
    return data


@pytest.mark.parametrize("over,field_message", [
    ({"ends_at": "2026-01-01T08:00"}, "结束时间必须晚于开始时间"),
    ({"capacity": "0"}, "招募人数应为 1 到 1000"),
    ({"points_per_hour": "500"}, "每小时积分应为 0 到 50"),
    ({"points_per_hour": "-5"}, "每小时积分应为 0 到 50"),
    ({"title": ""}, "请填写活动名称"),
    ({"signup_deadline": "2030-01-01T00:00"}, "报名截止时间不能晚于开始时间"),
])
def test_bad_activity_is_refused_and_nothing_is_created(app, session, over, field_message, login_as):
    before = count(Activity)
    response = login_as("hehuo01").post("/volunteers/activities/new", _activity_form(**over))
    assert response.status_code == 422 and field_message in response.text
    assert 'value="青松社区活动室"' in response.text
    assert count(Activity) == before


def test_leader_creates_an_activity_and_moves_it_along_the_board(app, session, login_as):
    leader = login_as("hehuo01")
    response = leader.post("/volunteers/activities/new", _activity_form())
    assert response.status_code == 303
    activity = db.session.scalars(select(Activity).where(Activity.title == "家长课堂：安全用电")).one()
    assert activity.status == "planned" and len(activity.checkin_token) >= 20
    board = leader.get("/volunteers/").text
    assert f'id="activity-{activity.id}"' in board and "计划中" in board
    # A move the workflow does not allow from here is refused and changes nothing.
    refused = leader.post(f"/volunteers/activities/{activity.id}/events/confirm_hours")
    assert refused.status_code == 409 and "活动当前状态不能进行这个操作" in refused.text
    db.session.refresh(activity)
    assert activity.status == "planned"
    for event, state in (("open_signup", "open"), ("start", "under_way"), ("finish", "hours_to_confirm")):
        assert leader.post(f"/volunteers/activities/{activity.id}/events/{event}").status_code == 303
        db.session.refresh(activity)
        assert activity.status == state
    assert leader.post(f"/volunteers/activities/{activity.id}/events/nonsense").status_code == 409


# Sign-up ---------------------------------------------------------------------------------------

def test_a_full_activity_refuses_politely_and_cancelling_frees_the_place(app, session, login_as):
    client = login_as()
    first = register(client, mobile="13900000001")
    second = register(client, mobile="13900000002", name="王二")
    activity = make_activity(capacity=1, starts_in=dt.timedelta(days=2), deadline_before_start=dt.timedelta(days=1))
    assert client.post(f"/v/card/{first.card_code}/activities/{activity.id}/sign-up",
                       {"last4": last4(first)}).status_code == 303
    full = client.post(f"/v/card/{second.card_code}/activities/{activity.id}/sign-up", {"last4": last4(second)})
    assert full.status_code == 409 and "名额已满" in full.text
    db.session.refresh(activity)
    assert activity.taken == 1 and count(SignUp) == 1
    # Cancelling before the deadline frees the place for the next one.
    assert client.post(f"/v/card/{first.card_code}/activities/{activity.id}/cancel",
                       {"last4": last4(first)}).status_code == 303
    db.session.refresh(activity)
    assert activity.taken == 0
    assert client.post(f"/v/card/{second.card_code}/activities/{activity.id}/sign-up",
                       {"last4": last4(second)}).status_code == 303
    db.session.refresh(activity)
    assert activity.taken == 1
    assert "楼道清理" in client.get(f"/v/card/{second.card_code}").text


def test_cancelling_after_the_deadline_is_refused(app, session, login_as):
    client = login_as()
    v = register(client)
    activity = make_activity(starts_in=dt.timedelta(hours=5), deadline_before_start=dt.timedelta(hours=4))
    sign_up(v, activity)
    with later(hours=2):
        response = client.post(f"/v/card/{v.card_code}/activities/{activity.id}/cancel", {"last4": last4(v)})
        assert response.status_code == 409 and "报名已截止" in response.text
        again = client.post(f"/v/card/{v.card_code}/activities/{activity.id}/sign-up", {"last4": last4(v)})
        assert again.status_code == 409
    db.session.refresh(activity)
    assert activity.taken == 1
    assert db.session.scalars(select(SignUp)).one().status == "signed_up"


# Check-in and check-out ------------------------------------------------------------------------

def _scan(client, activity, v, action, last_four=None):
    return client.post(f"/v/checkin/{activity.checkin_token}",
                       {"card": v.card_code, "last4": last_four or last4(v), "action": action})


def test_check_in_and_out_by_qr_caps_hours_by_the_window(app, session, login_as):
    client = login_as()
    v = register(client)
    activity = make_activity(starts_in=dt.timedelta(minutes=10), length=dt.timedelta(hours=2))
    sign_up(v, activity)
    page = client.get(f"/v/checkin/{activity.checkin_token}")
    assert page.status_code == 200 and "楼道清理" in page.text
    checked_in = _scan(client, activity, v, "in")  # 10 minutes early: counts from the start
    assert checked_in.status_code == 200 and "签到成功" in checked_in.text
    assert _scan(client, activity, v, "in").status_code == 409  # double check-in
    with later(hours=2, minutes=25):  # 15 minutes after the end, within the grace period
        out = _scan(client, activity, v, "out")
        assert out.status_code == 200 and "本次服务 2.0 小时" in out.text
        assert _scan(client, activity, v, "out").status_code == 409  # double check-out
    row = db.session.scalars(select(Attendance)).one()
    assert row.minutes == 120 and row.confirmed_at is None
    db.session.refresh(v)
    assert v.hours_minutes == 0  # nothing counts before the leader confirms


def test_check_in_outside_the_window_or_with_wrong_details_changes_nothing(app, session, login_as):
    client = login_as()
    v = register(client)
    past = make_activity(starts_in=dt.timedelta(hours=-5))  # ended three hours ago
    past.signup_deadline = past.starts_at
    db.session.add(SignUp(activity_id=past.id, volunteer_id=v.id, status="signed_up",
                          signed_up_at=past.starts_at - dt.timedelta(days=1)))
    db.session.commit()
    expired = _scan(client, past, v, "in")
    assert expired.status_code == 409 and "签到码已失效" in expired.text
    future = make_activity(starts_in=dt.timedelta(days=1))
    sign_up(v, future)
    assert _scan(client, future, v, "in").status_code == 409
    now_on = make_activity()
    not_signed = _scan(client, now_on, v, "in")
    assert not_signed.status_code == 409 and "没有报名" in not_signed.text
    sign_up(v, now_on)
    wrong = _scan(client, now_on, v, "in", last_four="9999")
    assert wrong.status_code == 422 and "手机号码后 4 位不对" in wrong.text
    assert 'value="' + v.card_code + '"' in wrong.text  # typed card kept
    unknown = client.post(f"/v/checkin/{now_on.checkin_token}", {"card": "ZZZZZZZZZZ", "last4": "2222", "action": "in"})
    assert unknown.status_code == 422 and "没有找到这张志愿者卡" in unknown.text
    assert _scan(client, now_on, v, "out").status_code == 409  # out before in
    assert client.get("/v/checkin/not-a-real-token-at-all").status_code == 404
    assert count(Attendance) == 0


def test_overlapping_check_ins_are_refused(app, session, login_as):
    client = login_as()
    v = register(client)
    first = make_activity(title="活动一")
    second = make_activity(title="活动二")
    sign_up(v, first)
    sign_up(v, second)
    assert _scan(client, first, v, "in").status_code == 200
    overlap = _scan(client, second, v, "in")
    assert overlap.status_code == 409 and "不能同时签到两个活动" in overlap.text
    assert count(Attendance) == 1


# Confirmation and ledgers ----------------------------------------------------------------------

def _served(client, v, *, minutes_after_start=90, points_per_hour=10):
    activity = make_activity(points_per_hour=points_per_hour)
    sign_up(v, activity)
    _scan(client, activity, v, "in")
    with later(minutes=10 + minutes_after_start):
        assert _scan(client, activity, v, "out").status_code == 200
    activity.status = "hours_to_confirm"
    db.session.commit()
    return activity


def test_leader_confirms_and_hours_and_points_appear(app, session, login_as):
    client = login_as()
    v = register(client)
    activity = _served(client, v, minutes_after_start=90, points_per_hour=10)
    leader = login_as("hehuo01")
    roster = leader.get(f"/volunteers/activities/{activity.id}").text
    assert "李志愿" in roster and "1.5" in roster and "139****2222" in roster
    assert leader.post(f"/volunteers/activities/{activity.id}/events/confirm_hours").status_code == 303
    db.session.refresh(v)
    db.session.refresh(activity)
    assert (activity.status, v.hours_minutes, v.points) == ("done", 90, 15)
    rows = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    assert [(r.ledger, r.kind, r.amount, r.balance_after) for r in rows] == [
        ("hours", "earned", 90, 90), ("points", "earned", 15, 15)]
    assert rows[0].approver_id == staff("hehuo01").id and rows[0].activity_id == activity.id
    card = client.get(f"/v/card/{v.card_code}").text
    assert number(card, "points") == "15" and number(card, "hours") == "1.5 小时"
    result = app.test_cli_runner().invoke(args=["casework", "ledger-verify"])
    assert result.exit_code == 0 and "ledgers verified" in result.output


def test_ledger_rows_are_append_only_and_corrections_reverse(app, session, login_as):
    client = login_as()
    v = register(client)
    activity = _served(client, v)
    activities.move(staff("hehuo01"), activity, "confirm_hours")
    db.session.commit()
    points_row = db.session.scalars(select(LedgerEntry).where(LedgerEntry.ledger == "points")).one()
    points_row.amount = 1000
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()

    station = login_as("shequ01")
    rows_before = count(LedgerEntry)
    no_reason = station.post(f"/volunteers/people/{v.card_code}/entries/{points_row.id}/reverse", {"reason": " "})
    assert no_reason.status_code == 422 and "更正必须写明原因" in no_reason.text
    assert count(LedgerEntry) == rows_before
    ok = station.post(f"/volunteers/people/{v.card_code}/entries/{points_row.id}/reverse", {"reason": "重复登记"})
    assert ok.status_code == 303
    db.session.refresh(v)
    assert v.points == 0
    reversal = db.session.scalars(select(LedgerEntry).where(LedgerEntry.reverses_id == points_row.id)).one()
    assert (reversal.kind, reversal.amount, reversal.reason, reversal.approver_id) == (
        "adjusted", -15, "重复登记", staff("shequ01").id)
    twice = station.post(f"/volunteers/people/{v.card_code}/entries/{points_row.id}/reverse", {"reason": "再来"})
    assert twice.status_code == 409 and count(LedgerEntry) == rows_before + 1


@pytest.mark.parametrize("form,status,message", [
    ({"ledger": "points", "amount": "999999999", "reason": "手滑"}, 422, "数额不合理"),
    ({"ledger": "points", "amount": "0", "reason": "零"}, 422, "数额不合理"),
    ({"ledger": "points", "amount": "abc", "reason": "字母"}, 422, "数额不合理"),
    ({"ledger": "points", "amount": "50", "reason": ""}, 422, "调整必须写明原因"),
    ({"ledger": "points", "amount": "-50", "reason": "扣减"}, 409, "余额不足"),
])
def test_bad_adjustments_change_nothing(app, session, form, status, message, login_as):
    v = register(login_as())
    response = login_as("shequ01").post(f"/volunteers/people/{v.card_code}/adjust", form)
    assert response.status_code == status and message in response.text
    db.session.refresh(v)
    assert v.points == 0 and count(LedgerEntry) == 0


def test_ledger_verify_finds_a_balance_changed_behind_its_back(app, session, login_as):
    v = register(login_as())
    ledger.adjust(staff("shequ01"), v, "points", 40, "补录")
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["casework", "ledger-verify"]).exit_code == 0
    db.session.execute(text("UPDATE volunteer SET points = 41 WHERE id = :id"), {"id": v.id})
    result = app.test_cli_runner().invoke(args=["casework", "ledger-verify"])
    assert result.exit_code == 1 and f"volunteer {v.id} points: balance 41 but ledger sums to 40" in result.output


def test_service_refuses_absurd_entries(app, session, login_as):
    v = register(login_as())
    with pytest.raises(Invalid):
        ledger.post(v, "points", "earned", 10**9)
    with pytest.raises(Refused):
        ledger.post(v, "hours", "adjusted", -1)
    db.session.rollback()
    assert count(LedgerEntry) == 0


# Rate limit on the one-time confirmation -------------------------------------------------------

@pytest.fixture(params=["memory", "redis"])
def two_confirmations_a_minute(request, app):
    yield from _lowered_limit(request, app, "RATELIMIT_VOLUNTEER_CONFIRM", "2 per minute")


def test_guessing_the_last_four_digits_is_rate_limited(app, session, two_confirmations_a_minute, login_as):
    client = login_as()
    values = registration()  # through the service: the registration page spends from the same budget
    v = registry.register({**values, "community_id": int(values["community_id"]), "consent": True})
    db.session.commit()
    repair = team()
    for _ in range(2):
        assert client.post(f"/v/card/{v.card_code}/join", {"team_id": repair.id, "last4": "0000"}).status_code == 422
    blocked = client.post(f"/v/card/{v.card_code}/join", {"team_id": repair.id, "last4": last4(v)})
    assert blocked.status_code == 429 and "操作太频繁" in blocked.text
    assert count(TeamMembership) == 0


# The leader's roster (点名) --------------------------------------------------------------------

def test_leader_ticks_the_roster_and_hours_wait_for_confirmation(app, session, login_as):
    client = login_as()
    came = register(client, mobile="13900000031", name="到场甲")
    scanned = register(client, mobile="13900000032", name="扫码乙")
    activity = make_activity(starts_in=dt.timedelta(minutes=10), length=dt.timedelta(hours=2))
    sign_up(came, activity)
    sign_up(scanned, activity)
    assert _scan(client, activity, scanned, "in").status_code == 200
    leader = login_as("hehuo01")
    too_early = leader.post(f"/volunteers/activities/{activity.id}/roster", {"volunteers": [str(came.id)]})
    assert too_early.status_code == 409 and "只能在活动进行中或待确认时长时点名" in too_early.text
    activity.status = "under_way"
    db.session.commit()
    with later(hours=3):
        leader = login_as("hehuo01")  # three hours on, the morning's session has timed out
        page = leader.get(f"/volunteers/activities/{activity.id}").text
        assert f'name="volunteers" value="{came.id}"' in page
        assert f'name="volunteers" value="{scanned.id}"' not in page  # already checked in by QR
        nobody = leader.post(f"/volunteers/activities/{activity.id}/roster", {})
        assert nobody.status_code == 422 and "请勾选到场的志愿者" in nobody.text
        stranger = register(client, mobile="13900000033", name="没报名")
        refused = leader.post(f"/volunteers/activities/{activity.id}/roster",
                              {"volunteers": [str(came.id), str(stranger.id)]})
        assert refused.status_code == 422 and "只能为已报名的志愿者点名" in refused.text
        assert count(Attendance) == 1  # all or nothing
        assert leader.post(f"/volunteers/activities/{activity.id}/roster",
                           {"volunteers": [str(came.id)]}).status_code == 303
    row = db.session.scalars(select(Attendance).where(Attendance.volunteer_id == came.id)).one()
    assert (row.minutes, row.confirmed_at) == (120, None)
    db.session.refresh(came)
    assert came.hours_minutes == 0


def test_roster_refuses_time_already_counted_elsewhere(app, session, login_as):
    client = login_as()
    v = register(client)
    first = make_activity(title="活动一")
    second = make_activity(title="活动二")
    sign_up(v, first)
    sign_up(v, second)
    _scan(client, first, v, "in")
    with later(hours=1):
        _scan(client, first, v, "out")
    second.status = "under_way"
    db.session.commit()
    with later(hours=3):
        clash = login_as("hehuo01").post(f"/volunteers/activities/{second.id}/roster", {"volunteers": [str(v.id)]})
    assert clash.status_code == 409 and "同一时间在另一个活动签到过" in clash.text
    assert count(Attendance) == 1

"""Who gets what, and when: the 08:30 morning digest per grid on working days only (not on a holiday,
yes on a 调休 Saturday), quiet hours that turn night pings into one morning digest (emergencies still
ping), and each person's language."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from casework.extensions import db
from casework.models import Building, NoticeChannel, NoticePreference, NoticeSubscription, OutboxMessage
from casework.services.notices import digest, routing
from casework.timekeeping import now
from tests.case_steps import case_in, staff_of

CN = ZoneInfo("Asia/Shanghai")


def at(*args):
    return time_machine.travel(dt.datetime(*args, tzinfo=CN), tick=False)


def grid_robot(grid_id: int) -> NoticeChannel:
    ch = NoticeChannel(name="网格群", kind="dingtalk", config={"webhook_url": "http://127.0.0.1:9/robot/send"},
                       grid_id=grid_id)
    db.session.add(ch)
    db.session.commit()
    return ch


def digests(ch: NoticeChannel) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id == ch.id,
                                                               OutboxMessage.kind == "digest")))


@pytest.mark.parametrize(("when", "expected"), [
    ((2026, 12, 2, 8, 30), 1),    # Wednesday, 08:30: the digest
    ((2026, 12, 2, 8, 29), 0),    # not before 08:30
    ((2026, 12, 2, 13, 0), 0),    # a worker down all morning sends no "morning" digest after noon
    ((2026, 10, 1, 8, 30), 0),    # National Day: a holiday
    ((2026, 10, 10, 8, 30), 1),   # Saturday that is a 调休 working day
    ((2026, 11, 7, 8, 30), 0),    # an ordinary Saturday
])
def test_morning_digest_follows_the_working_calendar(session, when, expected):
    b = db.session.scalars(select(Building).order_by(Building.id)).first()
    ch = grid_robot(b.grid_id)
    with at(*when):
        assert digest.tick(now()) == expected
        db.session.commit()
        assert digest.tick(now()) == 0  # once a day
    rows = digests(ch)
    assert len(rows) == expected
    if expected:
        text = rows[0].payload["text"]
        assert b.grid.name in text
        for word in ("新上报", "今日到期", "已超时", "被退回"):
            assert word in text
        assert rows[0].key == f"grid-digest:{ch.id}:{dt.date(*when[:3]).isoformat()}"


def test_digest_counts_the_grid(session):
    b = db.session.scalars(select(Building).where(Building.property_company_id.is_not(None))
                           .order_by(Building.id)).first()
    ch = grid_robot(b.grid_id)
    with at(2026, 12, 2, 8, 30):
        expected = digest.grid_counts(b.grid_id, now())
        digest.tick(now())
    text = digests(ch)[0].payload["text"]
    assert f"新上报 {expected['new']} 件" in text and f"已超时 {expected['overdue']} 件" in text


def subscribe(user_id: int, *, quiet=None, language="zh_Hans_CN") -> NoticeChannel:
    ch = NoticeChannel(name="短信", kind="sms", config={"gateway_url": "http://127.0.0.1:9/sms"})
    db.session.add(ch)
    db.session.flush()
    db.session.add(NoticeSubscription(user_id=user_id, channel_id=ch.id, address="13900002222"))
    db.session.add(NoticePreference(user_id=user_id, language=language,
                                    quiet_start=quiet[0] if quiet else None, quiet_end=quiet[1] if quiet else None))
    db.session.commit()
    return ch


def test_quiet_hours_hold_pings_for_a_morning_digest_but_not_emergencies(session):
    b = db.session.scalars(select(Building).order_by(Building.id)).first()
    staff = staff_of(b)
    ch = subscribe(staff.id, quiet=(dt.time(22, 0), dt.time(7, 0)))
    with at(2026, 12, 1, 9, 0):
        normal = case_in("triage", b)
        emergency = case_in("triage", b)
        emergency.priority = "emergency"
        db.session.commit()
    with at(2026, 12, 1, 23, 0):
        routing.to_people([staff.id], normal, "urge", "night1")
        routing.to_people([staff.id], normal, "warning", "night2")
        routing.to_people([staff.id], emergency, "urge", "night3")
        db.session.commit()
    rows = {r.kind + (":e" if r.emergency else ""): r for r in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.channel_id == ch.id))}
    assert rows["urge"].status == "held" and rows["warning"].status == "held"
    assert rows["urge:e"].status == "pending"  # an emergency still pings at night
    assert rows["urge"].next_attempt_at == dt.datetime(2026, 12, 2, 7, 0)
    with at(2026, 12, 2, 6, 59):
        assert digest.release_held(now()) == 0
    with at(2026, 12, 2, 7, 0):
        assert digest.release_held(now()) == 1
        db.session.commit()
    db.session.expire_all()
    assert rows["urge"].status == rows["warning"].status == "digested"
    (summary,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id == ch.id,
                                                               OutboxMessage.kind == "quiet_digest")).all()
    assert summary.status == "pending" and summary.destination == "13900002222"
    assert "夜间通知汇总（2 条）" in summary.payload["text"] and normal.number in summary.payload["text"]


def test_outside_quiet_hours_messages_go_at_once(session):
    b = db.session.scalars(select(Building).order_by(Building.id)).first()
    staff = staff_of(b)
    ch = subscribe(staff.id, quiet=(dt.time(22, 0), dt.time(7, 0)))
    case = case_in("triage", b)
    routing.to_people([staff.id], case, "urge", "day")
    db.session.commit()
    (row,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id == ch.id)).all()
    assert row.status == "pending" and row.next_attempt_at <= now()


def test_a_user_who_chose_english_gets_english(session):
    b = db.session.scalars(select(Building).order_by(Building.id)).first()
    staff = staff_of(b)
    ch = subscribe(staff.id, language="en")
    case = case_in("triage", b)
    routing.to_people([staff.id], case, "urge", "en")
    db.session.commit()
    (row,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id == ch.id)).all()
    assert case.category.name_en in row.payload["text"]
    assert case.category.name_zh not in row.payload["text"]


@pytest.mark.parametrize(("start", "end", "t", "until"), [
    ((22, 0), (7, 0), (23, 30), dt.datetime(2026, 12, 3, 7, 0)),
    ((22, 0), (7, 0), (3, 0), dt.datetime(2026, 12, 2, 7, 0)),
    ((22, 0), (7, 0), (7, 0), None),
    ((12, 0), (13, 30), (12, 15), dt.datetime(2026, 12, 2, 13, 30)),
    ((12, 0), (13, 30), (14, 0), None),
])
def test_quiet_window(start, end, t, until):
    pref = NoticePreference(quiet_start=dt.time(*start), quiet_end=dt.time(*end))
    assert routing.quiet_until(pref, dt.datetime(2026, 12, 2, *t)) == until

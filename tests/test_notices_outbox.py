"""The outbox is written in the transaction of the change that causes it: hand-offs, urges, sweep steps,
extension decisions, new cases. A change that rolls back leaves no message; each message has one
idempotency key, so doing the same thing twice queues nothing new."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Building, Notification, NoticeChannel, NoticeSubscription, OutboxMessage
from casework.services import escalation, timeliness, transitions
from casework.services.errors import Stale
from casework.services.notices.outbox import enqueue
from tests.case_steps import case_in, handler_of, leader_of, new_case, staff_of, user

CN = ZoneInfo("Asia/Shanghai")


def outbox_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def building() -> Building:
    return db.session.scalars(select(Building).where(Building.property_company_id.is_not(None))
                              .order_by(Building.id)).first()


def robot(**binding) -> NoticeChannel:
    ch = NoticeChannel(name="测试群", kind="wecom", config={"webhook_url": "http://127.0.0.1:9/x?key=k"},
                       rate_per_minute=20, max_attempts=3, **binding)
    db.session.add(ch)
    db.session.flush()
    return ch


def mailbox(user_id: int) -> NoticeChannel:
    ch = NoticeChannel(name="邮件", kind="smtp", config={"host": "127.0.0.1", "port": "25", "sender": "a@b.cn"},
                       rate_per_minute=600, max_attempts=3)
    db.session.add(ch)
    db.session.flush()
    db.session.add(NoticeSubscription(user_id=user_id, channel_id=ch.id, address="someone@example.cn"))
    db.session.flush()
    return ch


def test_hand_off_queues_for_receiver_and_their_group_in_the_same_transaction(session):
    b = building()
    org = b.property_company
    case = case_in("building_leader", b)
    handler = handler_of(org)
    group = robot(organisation_id=org.id)
    mail = mailbox(handler.id)
    db.session.commit()
    before = outbox_count()
    transitions.fire(leader_of(b), case, "hand_on", {"organisation": str(org.id), "note": "请处理"},
                     version=case.version)
    # Not committed yet: the rows exist only inside the transition's transaction.
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)
                              .order_by(OutboxMessage.id)).all()
    by_channel = {r.channel_id: r for r in rows}
    assert set(by_channel) == {group.id, mail.id}
    assert by_channel[mail.id].destination == "someone@example.cn"
    assert by_channel[mail.id].user_id == handler.id
    assert case.number in by_channel[group.id].payload["text"]
    assert "派给本单位" in by_channel[group.id].payload["text"]
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == handler.id, Notification.case_id == case.id, Notification.kind == "handoff_org")) == 1
    db.session.rollback()
    assert outbox_count() == before
    db.session.expire_all()
    assert case.status == "building_leader"


def test_a_transition_that_fails_leaves_no_outbox_row(session):
    b = building()
    case = case_in("building_leader", b)
    robot(organisation_id=b.property_company_id)
    db.session.commit()
    before = outbox_count()
    with pytest.raises(Stale):
        transitions.fire(leader_of(b), case, "hand_on", {"organisation": str(b.property_company_id)},
                         version=case.version - 1)  # an out-of-date view: refused
    db.session.rollback()
    assert outbox_count() == before


def test_new_case_reaches_the_grid_group_once(session):
    b = building()
    group = robot(grid_id=b.grid_id)
    other = robot(grid_id=None, community_id=None)
    db.session.commit()
    case = new_case(b)
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)).all()
    assert [(r.channel_id, r.kind, r.key) for r in rows] == [(group.id, "new_case", f"new_case:{case.id}:new:c{group.id}")]
    assert other.id not in {r.channel_id for r in rows}


def test_urge_and_extension_decision_reach_the_person_and_the_group(session):
    b = building()
    org = b.property_company
    case = case_in("handling", b, accepted=True)
    handler = handler_of(org)
    mail = mailbox(handler.id)
    group = robot(organisation_id=org.id)
    db.session.commit()
    supervisor = db.session.scalars(select(type(handler)).where(type(handler).role == "subdistrict_supervisor")).first()
    assert escalation.urge(supervisor, [case], "请抓紧") == 1
    db.session.commit()
    kinds = {(r.channel_id, r.kind) for r in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.case_id == case.id))}
    assert (mail.id, "manual_urge") in kinds and (group.id, "manual_urge") in kinds

    ext = timeliness.request_extension(handler, case, kind="extend", hours=4, reason="等配件",
                                       version=case.version)
    db.session.commit()
    community_sup = db.session.scalars(select(type(handler)).where(
        type(handler).role == "community_supervisor", type(handler).community_id == case.community_id)).first()
    timeliness.decide_extension(community_sup, case, ext.id, approve=True, note="同意")
    db.session.commit()
    decided = db.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id,
                                                             OutboxMessage.kind == "extension_decided")).all()
    assert [(r.channel_id, r.user_id) for r in decided] == [(mail.id, handler.id)]
    assert "批准" in decided[0].payload["text"]


def test_sweep_steps_queue_once(session):
    b = building()
    with time_machine.travel(dt.datetime(2026, 11, 2, 9, 0, tzinfo=CN), tick=False):  # a Monday
        case = case_in("triage", b)
    group = robot(grid_id=b.grid_id)
    db.session.commit()
    with time_machine.travel(dt.datetime(2026, 11, 9, 15, 0, tzinfo=CN), tick=False):  # a week late
        escalation.sweep()
    db.session.commit()
    first = db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.case_id == case.id,
                                                                OutboxMessage.channel_id == group.id)).all()
    assert {"warning", "urge"} <= set(first)
    with time_machine.travel(dt.datetime(2026, 11, 9, 16, 0, tzinfo=CN), tick=False):
        escalation.sweep()  # idempotent: nothing new
    db.session.commit()
    assert len(db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.case_id == case.id,
                                                                   OutboxMessage.channel_id == group.id)).all()) == len(first)


def test_enqueue_is_idempotent_per_key(session):
    group = robot()
    assert enqueue(group, {"json": {"service_request_id": "1"}}, key="open311:1:v1") is not None
    assert enqueue(group, {"json": {"service_request_id": "1"}}, key="open311:1:v1") is None
    db.session.commit()
    assert enqueue(group.id, {"json": {}}, key="open311:1:v1") is None
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.key == "open311:1:v1")) == 1


def test_the_actor_is_not_told_of_their_own_move(session):
    b = building()
    case = case_in("triage", b)
    staff = staff_of(b)
    mailbox(staff.id)
    db.session.commit()
    transitions.fire(staff, case, "dispatch", {"note": ""}, version=case.version)
    db.session.commit()
    leader = leader_of(b)
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == leader.id, Notification.case_id == case.id, Notification.kind == "handoff")) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.case_id == case.id, OutboxMessage.user_id == staff.id)) == 0
    assert user(staff.username).id == staff.id

"""What the notices add to a transition, in SQL statements (#11 speed): a hand-off reads its receivers
with their channels and settings in one statement and the case's names with its organisation's robots
in another; then it writes. A case without consent or API key adds nothing for residents or callers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import Building, NoticeChannel, NoticeSubscription, OutboxMessage
from casework.services import transitions
from casework.services.notices import handoffs, updates
from tests.case_steps import case_in, handler_of, leader_of


def building() -> Building:
    return db.session.scalars(select(Building).where(Building.property_company_id.is_not(None))
                              .order_by(Building.id)).first()


def hand_on(case, b, counter) -> int:
    with counter:
        transitions.fire(leader_of(b), case, "hand_on", {"organisation": str(b.property_company_id)},
                         version=case.version)
        db.session.flush()  # the notices' rows are written here (the request's commit would do it)
    return counter.count


@pytest.fixture
def bound(session):
    """An organisation robot and the handler's own mailbox, as in bench/bench_notices.py."""
    b = building()
    db.session.add(NoticeChannel(name="物业群", kind="wecom", config={"webhook_url": "http://127.0.0.1:9/?key=k"},
                                 organisation_id=b.property_company_id))
    mail = NoticeChannel(name="邮件", kind="smtp", config={"host": "127.0.0.1", "sender": "a@b.cn"})
    db.session.add(mail)
    db.session.flush()
    db.session.add(NoticeSubscription(user_id=handler_of(b.property_company).id, channel_id=mail.id,
                                      address="wuye@example.cn"))
    db.session.commit()
    return b


def test_a_hand_off_adds_two_reads_and_its_writes(bound, query_counter, monkeypatch):
    b = bound
    warm, plain, with_notices = (case_in("building_leader", b) for _ in range(3))
    db.session.commit()
    monkeypatch.setattr(handoffs, "after_transition", lambda *a, **k: None)
    hand_on(warm, b, query_counter)  # what a first transition loads once (calendar, settings) is not counted
    without = hand_on(plain, b, query_counter)
    monkeypatch.undo()
    with_ = hand_on(with_notices, b, query_counter)
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == with_notices.id)).all()
    assert len(rows) == 2  # the robot and the handler's mail
    # Reads: receivers + subscriptions + settings (1), names + robots (1). Writes: the in-app notice
    # (1) and the outbox rows (at most one INSERT per distinct set of columns: 2 here).
    assert 4 <= with_ - without <= 5, (with_, without)


def test_residents_and_callers_cost_nothing_without_consent_or_key(session, query_counter, monkeypatch):
    b = building()
    case = case_in("triage", b)
    db.session.commit()
    assert case.sms_consent_at is None and case.channel != "api"
    calls = []
    real = updates.after_transition

    def counted(*args, **kw):
        before = query_counter.count
        result = real(*args, **kw)
        calls.append(query_counter.count - before)
        return result
    monkeypatch.setattr(updates, "after_transition", counted)
    with query_counter:
        transitions.fire(leader_of(b) if case.status == "building_leader" else None, case, "dispatch",
                         version=case.version, actor_label="system")
    assert calls == [0]

"""Residents' text messages (#11): an optional consent on the report form, kept with its time and words;
with it, each public status change queues a text on the subdistrict's residents' SMS channel with the
case number, the tracking page's words and the tracking link (never a name, a note or the number in the
body); without it, nothing. Delivered to a real local SMS gateway (tests/notice_receivers.py)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Community, NoticeChannel, OutboxMessage
from casework.services import residents
from casework.services.notices.worker import Settings, Worker
from casework.timekeeping import now
from tests.case_steps import parse, seen_version
from tests.notice_receivers import Receiver
from tests.resident_steps import building_of, submit

PHONE = "13987654321"


@pytest.fixture
def gateway():
    r = Receiver("sms", secret="sms-key")
    yield r
    r.close()


def residents_channel(gateway: Receiver, community: Community) -> NoticeChannel:
    """The SMS gateway chosen on the channel screen as the subdistrict's residents' channel."""
    ch = NoticeChannel(name="居民短信", kind="sms", rate_per_minute=600, max_attempts=3,
                       config={"gateway_url": gateway.url, "api_key": "sms-key", "template_id": "T1",
                               "sign_name": "松溪街道"}, residents_subdistrict_id=community.subdistrict_id)
    db.session.add(ch)
    db.session.commit()
    return ch


def texts_of(case_id: int) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.case_id == case_id, OutboxMessage.kind == "resident_status").order_by(OutboxMessage.id)))


def sign(login_as, case) -> None:
    """The grid staff signs for the case on its page (a public status change)."""
    staff = login_as("wangge01")
    page = staff.get(f"/cases/{case.id}").text
    response = staff.post(f"/cases/{case.id}/events/sign", {"version": seen_version(page, case.id)}, htmx=True)
    assert response.status_code == 200, response.text


def test_the_form_offers_the_optional_consent_with_its_words(client):
    page = parse(client.get("/report").text)
    box = page.find("input", name="sms_consent")
    assert box is not None and box.get("type") == "checkbox" and "required" not in box.attrs
    assert "短信只含事项编号、办理进度和查询链接" in page.find("p", id="sms-consent-text").text
    # Not ticking it is not an error, and a ticked box comes back ticked when the form has errors.
    again = parse(client.post("/report", {"sms_consent": "1"}).text)
    assert "checked" in again.find("input", name="sms_consent").attrs


def test_with_consent_each_status_change_texts_the_resident(client, login_as, gateway):
    b = building_of()
    residents_channel(gateway, b.grid.community)
    case = submit(client, b, reporter_phone=PHONE, sms_consent="1")
    assert case.sms_consent_at == now()
    assert case.sms_consent_text == residents.sms_consent_text()
    assert "短信" in case.sms_consent_text
    assert texts_of(case.id) == []  # the report itself: the tracking page answers at once

    sign(login_as, case)
    rows = texts_of(case.id)
    assert len(rows) == 1 and rows[0].destination == PHONE and rows[0].status == "pending"

    # The admin's delivery log shows the number masked, never in full.
    log = login_as("admin").get("/notices/outbox").text
    assert "139****4321" in log and PHONE not in log

    stats = Worker(Settings(retry_base_seconds=30)).run_once()
    assert stats.delivered >= 1
    assert [r["body"]["phone"] for r in gateway.received] == [PHONE]
    text = gateway.texts()[0]
    assert case.number in text and "网格员已签收" in text
    assert f"/track/{case.tracking_code}" in text
    for private in ("李阿姨", "楼道声控灯", "2单元301", PHONE, "8765"):
        assert private not in text
    assert gateway.keys[f"resident_status:{case.id}:ev{_event_id(case, 'sign')}"] == 1


def _event_id(case, event: str) -> int:
    from casework.models import CaseEvent
    return db.session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.event == event))


def test_without_consent_nothing_is_sent(client, login_as, gateway):
    b = building_of()
    residents_channel(gateway, b.grid.community)
    case = submit(client, b, reporter_phone=PHONE)
    assert case.sms_consent_at is None and case.sms_consent_text is None
    sign(login_as, case)
    assert texts_of(case.id) == []
    Worker(Settings(retry_base_seconds=30)).run_once()
    assert gateway.received == []


def test_without_a_residents_channel_nothing_is_queued(client, login_as):
    case = submit(client, building_of(), reporter_phone=PHONE, sms_consent="1")
    sign(login_as, case)
    assert texts_of(case.id) == []


def test_resolved_asks_to_confirm_and_the_residents_own_answer_is_not_texted(client, login_as, gateway):
    from casework.services import transitions
    from tests.case_steps import staff_of
    b = building_of()
    residents_channel(gateway, b.grid.community)
    case = submit(client, b, reporter_phone=PHONE, sms_consent="1")
    staff = staff_of(b)
    transitions.fire(staff, case, "sign", version=case.version)
    transitions.fire(staff, case, "resolve", {"note": "已修好 王师傅 13800001111"}, version=case.version)
    db.session.commit()
    rows = texts_of(case.id)
    assert len(rows) == 2
    assert "请您确认问题是否解决" in rows[1].payload["text"]
    assert "王师傅" not in rows[1].payload["text"] and "13800001111" not in rows[1].payload["text"]
    # The resident confirms on the tracking page: no text about their own answer.
    page = client.get(f"/track/{case.tracking_code}").text
    response = client.post(f"/track/{case.tracking_code}/confirm",
                           {"satisfaction": "satisfied", "version": str(case.version)})
    assert response.status_code == 303, page
    db.session.expire_all()
    assert case.status == "closed"
    assert len(texts_of(case.id)) == 2


def test_purge_erases_the_number_from_the_outbox(client, login_as, gateway):
    from casework.services import transitions
    from tests.case_steps import staff_of
    b = building_of()
    residents_channel(gateway, b.grid.community)
    sent = submit(client, b, reporter_phone=PHONE, sms_consent="1")
    waiting = submit(client, b, reporter_phone="13711112222", sms_consent="1")
    staff = staff_of(b)
    for case in (sent, waiting):
        transitions.fire(staff, case, "sign", version=case.version)
        transitions.fire(staff, case, "withdraw", {"note": "居民撤回"}, version=case.version)
    db.session.commit()
    # The first case's texts went out; the second's are still waiting (the gateway was down, say).
    for row in texts_of(waiting.id):
        row.next_attempt_at = now() + dt.timedelta(days=1)
    db.session.commit()
    Worker(Settings(retry_base_seconds=30)).run_once()
    assert {r.status for r in texts_of(sent.id)} == {"delivered"}
    assert {r.status for r in texts_of(waiting.id)} == {"pending"}

    residents.purge_personal_data(0, at=now() + dt.timedelta(seconds=1))
    db.session.commit()
    db.session.expire_all()
    assert texts_of(waiting.id) == []  # undeliverable now: gone
    assert [r.destination for r in texts_of(sent.id)] == ["", ""]  # the record stays, without the number
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.destination.in_((PHONE, "13711112222")))) == 0


def test_admin_chooses_the_residents_channel_on_the_sms_gateway_form(login_as, gateway):
    admin = login_as("admin")
    sd = db.session.scalars(select(Community)).first().subdistrict_id
    form = {"name": "居民短信", "kind": "sms", "cfg_gateway_url": gateway.url, "cfg_api_key": "k",
            "cfg_template_id": "T1", "cfg_sign_name": "松溪街道", "rate_per_minute": "600",
            "max_attempts": "8", "active": "1", "residents_subdistrict": str(sd)}
    assert "居民办理进度短信" in admin.get("/notices/channels/new?kind=sms").text
    bad = admin.post("/notices/channels/new", {**form, "residents_subdistrict": "999999"})
    assert bad.status_code == 422 and "请选择街道" in bad.text
    assert admin.post("/notices/channels/new", form).status_code == 302
    second = admin.post("/notices/channels/new", {**form, "name": "新短信"})
    assert second.status_code == 302
    chosen = db.session.scalars(select(NoticeChannel).where(NoticeChannel.residents_subdistrict_id == sd)).all()
    assert [c.name for c in chosen] == ["新短信"]  # one per subdistrict: the newer replaced the older

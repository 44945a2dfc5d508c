"""The admin's channel screens (secrets never shown again once saved; a test-send button), the outbox page
with delivery status and dead letters that can be retried, a user's own notice settings, and the case
timeline recording that a notice went out."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import NoticeChannel, NoticePreference, NoticeSubscription, OutboxMessage
from casework.services.notices.outbox import enqueue
from casework.services.notices.worker import Settings, Worker
from tests.conftest import user
from tests.notice_receivers import Receiver

SECRET = "SECabcdef0123456789topsecret"


@pytest.fixture
def robot_receiver():
    r = Receiver("dingtalk", key="tok", secret=SECRET)
    yield r
    r.close()


def channel_count() -> int:
    return db.session.scalar(select(func.count()).select_from(NoticeChannel)) or 0


@pytest.mark.parametrize("url", ["/notices/channels", "/notices/channels/new?kind=wecom", "/notices/outbox"])
def test_only_admins_see_channel_screens(login_as, url):
    assert login_as("wangge01").get(url).status_code == 404
    assert login_as("admin").get(url).status_code == 200


def test_create_channel_keeps_the_secret_but_never_shows_it(login_as, robot_receiver):
    admin = login_as("admin")
    grid = user("wangge01").grids[0]
    response = admin.post("/notices/channels/new", {
        "kind": "dingtalk", "name": "一网格钉钉群", "cfg_webhook_url": robot_receiver.url, "cfg_secret": SECRET,
        "binding": f"grid:{grid.id}", "rate_per_minute": "20", "max_attempts": "5", "active": "1"})
    assert response.status_code == 302
    ch = db.session.scalars(select(NoticeChannel).where(NoticeChannel.name == "一网格钉钉群")).one()
    assert ch.config == {"webhook_url": robot_receiver.url, "secret": SECRET}  # stored as entered
    assert (ch.grid_id, ch.rate_per_minute, ch.max_attempts, ch.active) == (grid.id, 20, 5, True)
    listing = admin.get("/notices/channels").text
    edit = admin.get(f"/notices/channels/{ch.id}").text
    for page in (listing, edit):
        assert SECRET not in page and "access_token=tok" not in page
        assert "••••" in page
    assert "一网格钉钉群" in listing and grid.name in listing
    # Saving again with the secret fields left blank keeps the saved secrets.
    response = admin.post(f"/notices/channels/{ch.id}", {
        "name": "一网格钉钉群（改）", "cfg_webhook_url": "", "cfg_secret": "", "binding": f"grid:{grid.id}",
        "rate_per_minute": "20", "max_attempts": "5", "active": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert ch.name == "一网格钉钉群（改）" and ch.config["secret"] == SECRET


def test_bad_channel_input_is_shown_next_to_the_field_and_nothing_is_saved(login_as):
    admin = login_as("admin")
    before = channel_count()
    response = admin.post("/notices/channels/new", {
        "kind": "wecom", "name": "三网格群", "cfg_webhook_url": "qyapi.weixin.qq.com/x", "rate_per_minute": "0",
        "max_attempts": "5"})
    assert response.status_code == 422
    assert "请填写以 http:// 或 https:// 开头的地址。" in response.text
    assert "请输入 1 到 6000 之间的整数。" in response.text
    assert 'value="三网格群"' in response.text and 'value="qyapi.weixin.qq.com/x"' in response.text
    assert channel_count() == before


def test_changes_need_the_csrf_token(login_as):
    admin = login_as("admin")
    response = admin.post("/notices/channels/new", {"kind": "wecom", "name": "x"}, csrf=False)
    assert response.status_code == 400


def test_test_send_button_queues_and_the_outbox_shows_delivery(login_as, robot_receiver):
    admin = login_as("admin")
    ch = NoticeChannel(name="测试钉钉群", kind="dingtalk", config={"webhook_url": robot_receiver.url, "secret": SECRET})
    db.session.add(ch)
    db.session.commit()
    response = admin.post(f"/notices/channels/{ch.id}/test")
    assert response.status_code == 302
    msg = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id == ch.id)).one()
    assert (msg.kind, msg.status) == ("test", "pending")
    assert robot_receiver.received == []  # the view sent nothing itself
    Worker(Settings()).run_once()
    assert "测试消息" in robot_receiver.texts()[0]
    page = admin.get(f"/notices/outbox?channel={ch.id}").text
    assert f'id="message-{msg.id}"' in page and "已送达" in page and SECRET not in page


def test_dead_letters_show_the_last_answer_and_can_be_retried(login_as):
    admin = login_as("admin")
    ch = NoticeChannel(name="市平台", kind="webhook", config={"url": "http://127.0.0.1:9/hook"}, max_attempts=1)
    db.session.add(ch)
    db.session.flush()
    msg = enqueue(ch, {"title": "状态变更", "text": "x"}, key="dead:1")
    msg.status, msg.attempts, msg.last_answer = "dead", 8, "HTTP 503 <b>upstream down</b>"
    db.session.commit()
    page = admin.get("/notices/outbox?status=dead").text
    assert "失败" in page and "HTTP 503 &lt;b&gt;upstream down&lt;/b&gt;" in page  # escaped, never markup
    assert f"/notices/outbox/{msg.id}/retry" in page
    assert login_as("wangge01").post(f"/notices/outbox/{msg.id}/retry").status_code == 404
    assert admin.post(f"/notices/outbox/{msg.id}/retry").status_code == 302
    db.session.expire_all()
    assert (msg.status, msg.attempts) == ("pending", 0)
    assert admin.post(f"/notices/outbox/{msg.id}/retry").status_code == 303  # not dead any more: refused
    assert admin.post("/notices/outbox/999999/retry").status_code == 404


def test_user_settings_save_addresses_quiet_hours_and_language(login_as):
    ch = NoticeChannel(name="街道邮件", kind="smtp", config={"host": "127.0.0.1", "port": "25", "sender": "a@b.cn"})
    db.session.add(ch)
    db.session.commit()
    me = login_as("wuye01")
    page = me.get("/notices/settings").text
    assert "街道邮件" in page
    bad = me.post("/notices/settings", {f"address_{ch.id}": "not-an-email", "quiet_start": "22:00",
                                        "quiet_end": "", "language": "en"})
    assert bad.status_code == 422
    assert "请输入正确的邮箱地址。" in bad.text and "免打扰的开始和结束时间需同时填写。" in bad.text
    assert 'value="not-an-email"' in bad.text
    uid = user("wuye01").id
    assert db.session.get(NoticePreference, uid) is None
    ok = me.post("/notices/settings", {f"address_{ch.id}": "chen@example.cn", "quiet_start": "22:00",
                                       "quiet_end": "07:00", "language": "en"})
    assert ok.status_code == 302
    pref = db.session.get(NoticePreference, uid)
    assert (str(pref.quiet_start), str(pref.quiet_end), pref.language) == ("22:00:00", "07:00:00", "en")
    sub = db.session.scalars(select(NoticeSubscription).where(NoticeSubscription.user_id == uid)).one()
    assert sub.address == "chen@example.cn"


def test_case_timeline_records_that_a_notice_went_out(login_as, make_case, robot_receiver):
    grid = user("wangge01").grids[0]
    ch = NoticeChannel(name="一网格钉钉群", kind="dingtalk", grid_id=grid.id,
                       config={"webhook_url": robot_receiver.url, "secret": SECRET})
    db.session.add(ch)
    db.session.commit()
    case = make_case(grid.buildings[0])
    Worker(Settings()).run_once()
    assert any(case.number in t for t in robot_receiver.texts())
    page = login_as("wangge01").get(f"/cases/{case.id}").text
    assert "通知已发出" in page and "一网格钉钉群" in page
    assert SECRET not in page and "access_token" not in page
    mine = login_as("wangge01").get("/notices/").text
    assert "通知设置" in mine

"""The volunteer story in a real browser on a 375 px phone: a resident registers as a volunteer,
asks to join the repair team, the captain approves and publishes an activity, the volunteer signs up,
checks in and out through the activity's QR page, the captain confirms the hours, the points appear
on the card, the community's service station exchanges them for a gift, and after the half-year the
rating gives a star after review and notice, with a certificate that verifies."""
from __future__ import annotations

import datetime as dt
import re


import pytest
import time_machine

from conftest import SUITE_NOW

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]

PHONE = {"viewport": {"width": 375, "height": 760}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN"}


def _login(page, base, username):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url


def _local(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def test_register_join_sign_up_check_in_out_confirm_points_redeem_star(live_server, browser, screenshots):
    base = live_server.base_url
    phone = browser.new_context(**PHONE)
    me = phone.new_page()

    # 1. Register on the phone, with consent.
    me.goto(f"{base}/v/register")
    assert me.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    me.fill("#f-name", "张小志")
    me.fill("#f-mobile", "13955556666")
    me.select_option("#f-community", label="青松社区")
    me.fill("#f-skills", "水电维修")
    me.click("main form button[type=submit]")
    assert me.locator(".field-error").first.inner_text().startswith("需要您同意")  # consent is required
    me.check("input[name=consent]")
    me.click("main form button[type=submit]")
    me.wait_for_url(re.compile(r"/v/card/[0-9A-Z]{10}"))
    code = me.inner_text("#card-code").strip()
    assert me.inner_text("#points") == "0"
    assert me.evaluate("document.documentElement.scrollWidth") <= 375

    # 2. Ask to join the repair team (confirmed by the mobile's last four digits).
    me.select_option("#f-team", label="邻里帮帮志愿维修队")
    me.fill("#l4-join", "6666")
    me.click("#join-form button[type=submit]")
    assert "入队申请已提交" in me.inner_text("main")

    # 3. The captain approves and publishes an activity starting in ten minutes.
    desk = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    captain = desk.new_page()
    _login(captain, base, "hehuo01")
    captain.goto(f"{base}/volunteers/")
    row = captain.locator("#pending tr", has_text="张小志")
    assert "139****6666" in row.inner_text()
    row.locator("button", has_text="同意入队").click()
    assert "已处理入队申请" in captain.inner_text("main")
    captain.click("text=新建活动")
    start = SUITE_NOW.replace(tzinfo=None) + dt.timedelta(minutes=10)
    captain.fill("#f-title", "楼道扶手维修（端到端）")
    captain.select_option("#f-team_id", label="邻里帮帮志愿维修队")
    captain.fill("#f-place", "青松苑3幢")
    captain.fill("#f-starts_at", _local(start))
    captain.fill("#f-ends_at", _local(start + dt.timedelta(hours=2)))
    captain.fill("#f-signup_deadline", _local(start))
    captain.fill("#f-capacity", "5")
    captain.fill("#f-points_per_hour", "40")
    captain.click("main form button[type=submit]")
    assert captain.inner_text("#activity-status") == "计划中"
    captain.click("#event-open_signup")
    assert captain.inner_text("#activity-status") == "报名中"
    checkin_url = captain.get_attribute("#checkin-link", "href")

    # 4. The volunteer signs up from the card page.
    me.goto(f"{base}/v/card/{code}")
    card = me.locator("article.activity", has_text="楼道扶手维修（端到端）")
    card.locator("input[name=last4]").fill("6666")
    card.locator("button", has_text="报名").click()
    assert "报名成功" in me.inner_text("main")
    assert "楼道扶手维修（端到端）" in me.inner_text(".signups")

    # 5. At the place: scan the QR, check in; 100 minutes later check out (90 minutes count).
    me.goto(f"{base}{checkin_url}" if checkin_url.startswith("/") else checkin_url)
    me.fill("#f-card", code)
    me.fill("#f-last4", "6666")
    me.click("button[value=in]")
    assert "签到成功" in me.inner_text("#checkin-message")
    with time_machine.travel(SUITE_NOW + dt.timedelta(minutes=100), tick=False):
        me.fill("#f-last4", "6666")
        me.click("button[value=out]")
        assert "本次服务 1.5 小时" in me.inner_text("#checkin-message")

        # 6. The captain runs the activity through and confirms the hours (100 minutes on, the
        # morning's session has timed out: log in again and come back to the activity).
        activity_url = captain.url
        _login(captain, base, "hehuo01")
        captain.goto(activity_url)
        for event, state in (("start", "进行中"), ("finish", "待确认时长"), ("confirm_hours", "已完成")):
            captain.click(f"#event-{event}")
            assert captain.inner_text("#activity-status") == state
        assert "已确认" in captain.inner_text("#roster")

    # 7. Points appear on the volunteer's card: 1.5 h × 40 = 60.
    me.goto(f"{base}/v/card/{code}")
    assert me.inner_text("#points") == "60"
    assert me.inner_text("#hours") == "1.5 小时"

    # 8. At the service station the supervisor scans the card and hands out a gift.
    station = desk.new_page()
    _login(station, base, "shequ01")
    station.goto(f"{base}/volunteers/station")
    station.fill("#f-code", code)
    station.click("main form button[type=submit]")
    station.select_option("#f-gift", index=0)  # 洗衣液, 50 points
    station.click("#redeem-form button[type=submit]")
    assert "兑换成功" in station.inner_text("main")
    assert station.inner_text("#points") == "10"
    me.reload()
    assert me.inner_text("#points") == "10" and "洗衣液 × 1" in me.inner_text("#receipts")

    # 9. After the half-year: the rating run, the supervisor's review and notice, confirmation, certificate.
    with time_machine.travel(dt.datetime(2027, 1, 4, 10, 0, tzinfo=SUITE_NOW.tzinfo), tick=False):
        run = live_server.test_cli_runner().invoke(args=[
            "casework", "rate-volunteers", "--period", "2026H2", "--preset", "community", "--thresholds", "1,2,3,4,5"])
        assert run.exit_code == 0 and "1 draft ratings" in run.output, run.output
        _login(station, base, "shequ01")  # a month later: the staff session has timed out
        station.goto(f"{base}/volunteers/ratings?period=2026H2")
        assert "张小志" in station.inner_text("#ratings")
        station.click("#rating-publish")
        assert "公示中" in station.inner_text("#ratings")
        me.goto(f"{base}/v/notice/2026H2")
        assert "张*志" in me.inner_text("#notice")
        station.click("#rating-confirm")
        assert "公示期未满" in station.inner_text("#ratings-message")
    with time_machine.travel(dt.datetime(2027, 1, 12, 9, 0, tzinfo=SUITE_NOW.tzinfo), tick=False):
        _login(station, base, "shequ01")
        station.goto(f"{base}/volunteers/ratings?period=2026H2")
        station.click("#rating-confirm")
        assert "已确认" in station.inner_text("#ratings")
        me.goto(f"{base}/v/card/{code}")
        assert me.inner_text("#stars") == "★"
        me.click("text=荣誉证书 2026H2")
        number = me.inner_text("#certificate-number")
        me.goto(f"{base}/verify/{number}")
        assert me.inner_text("#verify-result") == "证书有效"
        assert me.evaluate("document.documentElement.scrollWidth") <= 375

    screenshots(me, "volunteer-card-phone.png")  # a temporary folder; `make screenshots` refreshes docs/
    screenshots(captain, "volunteer-activity.png")
    phone.close()
    desk.close()

"""Lead and assisting handlers in a real browser: wuye01 (the lead) asks a partner to assist; hehuo01 finds
the case in its 协办 column and reports its part done; wuye01 reports the case done; wangge01 closes it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]

TITLE = "小区门口垃圾堆放（协办端到端）"


@pytest.fixture(scope="module")
def led_case(live_server):
    """A case in louzhang01's building, led by 万家物业 (wuye01), signed for by the lead; and the partner's id."""
    from casework.extensions import db
    from casework.models import Category, User
    from casework.services import intake, transitions
    with live_server.app_context():
        people = {u.username: u for u in db.session.scalars(select(User).where(
            User.username.in_(["wangge01", "louzhang01", "wuye01", "hehuo01"])))}
        cat = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(people["wangge01"], title=TITLE, description="垃圾堆了三天。",
                                  category_id=cat.id, building_id=people["louzhang01"].buildings[0].id,
                                  unit="门口", priority="normal", channel="phone", reporter_name="赵先生",
                                  reporter_phone="13700001111")
        for who, event, data in (("wangge01", "sign", {}), ("wangge01", "dispatch", {}),
                                 ("louzhang01", "hand_on", {"organisation": str(people["wuye01"].organisation_id)}),
                                 ("wuye01", "accept", {})):
            transitions.fire(people[who], case, event, data, version=case.version)
        db.session.commit()
        return case.id, people["hehuo01"].organisation_id


def _status(app, case_id):
    from casework.extensions import db
    from casework.models import Case, CaseAssist
    with app.app_context():
        case = db.session.get(Case, case_id)
        parts = db.session.scalars(select(CaseAssist).where(CaseAssist.case_id == case_id)).all()
        return case.status, [p.state for p in parts]


def test_lead_with_one_assisting_organisation_finishes_a_case(live_server, browser, led_case, screenshots, sign_in):
    base = live_server.base_url
    case_id, partner_id = led_case
    errors: list[str] = []

    def context(username):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, username)
        return ctx, page

    # The lead asks the partner to assist.
    ctx, page = context("wuye01")
    page.goto(f"{base}/cases/{case_id}")
    panel = page.locator(f"#case-{case_id}-assists")
    panel.locator("select[name=organisation]").select_option(str(partner_id))
    panel.locator("textarea[name=note]").fill("请协助清运垃圾。")
    panel.get_by_role("button", name="邀请协办").click()
    page.wait_for_selector(f"#case-{case_id}-assists li[data-state=open]")
    ctx.close()
    assert _status(live_server, case_id) == ("handling", ["open"])

    # The assisting organisation finds it in its own column and reports its part done.
    ctx, page = context("hehuo01")
    page.wait_for_selector(f"#cards-assisting #card-{case_id}")
    screenshots(page, "board-assisting.png")
    page.locator(f"#card-{case_id} a").first.click()
    page.wait_for_selector(f"#case-{case_id}-assists")
    panel = page.locator(f"#case-{case_id}-assists")
    panel.locator("textarea[name=done_note]").fill("已清运两车。")
    panel.get_by_role("button", name="协办完成").click()
    page.wait_for_selector(f"#case-{case_id}-assists li[data-state=done]")
    ctx.close()
    assert _status(live_server, case_id) == ("handling", ["done"])

    # The lead reports the whole case done: no reason needed, every part is in.
    ctx, page = context("wuye01")
    page.goto(f"{base}/cases/{case_id}")
    page.get_by_role("button", name="办结反馈…").click()
    form = page.locator(f"#case-{case_id}-form-report_done")
    form.wait_for()
    assert form.locator("textarea[name=assist_reason]").count() == 0
    form.locator("textarea[name=note]").fill("门口已清理干净。")
    form.get_by_role("button", name="确定").click()
    page.wait_for_selector(f"#case-{case_id} .status-resolved")
    ctx.close()

    # The grid staff call back and close it.
    ctx, page = context("wangge01")
    page.goto(f"{base}/cases/{case_id}")
    page.get_by_role("button", name="回访办结…").click()
    form = page.locator(f"#case-{case_id}-form-close")
    form.wait_for()
    form.locator("input[name=satisfaction]").first.check()
    form.get_by_role("button", name="确定").click()
    page.wait_for_selector(f"#case-{case_id} .status-closed")
    ctx.close()
    assert _status(live_server, case_id) == ("closed", ["done"])
    assert not errors, errors

"""Walk-through frictions in a real browser (issue #10 §5): on a 375 px phone a card's action says
where the case went; a handler's "after" photo chosen in the upload box goes along with 办结反馈."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

pytestmark = [
    pytest.mark.e2e,
    # werkzeug's dev server leaves a static file open when Chromium drops a keep-alive connection.
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _new_case(app, title: str, *, to: str = "reported") -> tuple[int, str, str]:
    """A case in louzhang01's building, walked to `to` ("reported" or "handling", signed for by its
    handler); (id, number, the handler's username)."""
    from casework.extensions import db
    from casework.models import Category, User
    from casework.services import intake, transitions
    with app.app_context():
        staff = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        leader = db.session.scalars(select(User).where(User.username == "louzhang01")).one()
        building = leader.buildings[0]
        cat = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(staff, title=title, description="端到端", category_id=cat.id,
                                  building_id=building.id, unit="2单元", priority="normal", channel="phone",
                                  reporter_name="张先生", reporter_phone="13912345678")
        handler = db.session.scalars(select(User).where(
            User.organisation_id == building.property_company_id, User.role == "handler").order_by(User.id)).first()
        if to == "handling":
            for actor, event, data in ((staff, "sign", {}), (staff, "dispatch", {}),
                                       (leader, "hand_on", {"organisation": str(building.property_company_id)}),
                                       (handler, "accept", {})):
                transitions.fire(actor, case, event, data, version=case.version)
        db.session.commit()
        return case.id, case.number, handler.username


def _png() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 160, 90)).save(out, "PNG")
    return out.getvalue()


def test_on_a_phone_a_card_action_says_where_the_case_went(live_server, browser, screenshots, sign_in):
    case_id, number, _ = _new_case(live_server, "手机上签收的案件（端到端）")
    ctx = browser.new_context(viewport={"width": 375, "height": 667}, locale="zh-CN", is_mobile=True)
    page = ctx.new_page()
    sign_in(page, live_server.base_url, "wangge01")
    card = page.locator(f"#card-{case_id}")
    card.scroll_into_view_if_needed()
    card.get_by_role("button", name="签收", exact=True).click()
    toast = page.locator("#board-toast .toast")
    toast.wait_for(state="visible")
    assert number in toast.inner_text() and "网格研判" in toast.inner_text()
    box = toast.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667, box
    assert page.locator("#board-toast").get_attribute("aria-live") == "polite"
    screenshots(page, "board-phone-confirmation.png")
    toast.get_by_role("link").click()
    page.wait_for_url(f"{live_server.base_url}/cases/{case_id}")
    ctx.close()


def test_a_photo_chosen_in_the_upload_box_goes_with_report_done(live_server, browser, sign_in):
    from casework.extensions import db
    from casework.models import Attachment, Case
    case_id, number, handler = _new_case(live_server, "完工照片随办结反馈提交（端到端）", to="handling")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server.base_url, handler)
    page.goto(f"{live_server.base_url}/cases/{case_id}")
    # Chosen in the upload box, never uploaded with its own button ...
    page.set_input_files(f"#f-after-{case_id}", files=[{"name": "after.png", "mimeType": "image/png",
                                                         "buffer": _png()}])
    # ... then 办结反馈 with a note: the one submit carries the photo.
    page.get_by_role("button", name="办结反馈…").click()
    form = page.locator(f"#case-{case_id}-form-report_done")
    form.locator("textarea[name=note]").fill("已更换灯泡")
    form.get_by_role("button", name="确定").click()
    page.locator(f"#case-{case_id} .status-resolved").wait_for()
    page.locator(f"#case-{case_id}-photos img").first.wait_for()
    with live_server.app_context():
        stages = db.session.scalars(select(Attachment.stage).where(Attachment.case_id == case_id)).all()
        assert stages == ["after"], stages
        assert db.session.get(Case, case_id).status == "resolved"
    ctx.close()

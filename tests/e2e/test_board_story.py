"""The board story in a real browser: wangge01 signs a case with its button and drags it to the
building leader; louzhang01 sees it on their board and hands it on to wuye01, who sees it to sign.
Screenshots of each board go to a temporary folder; `make screenshots` writes them to
docs/screenshots/ (shown in the README)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = [
    pytest.mark.e2e,
    # werkzeug's dev server leaves a static file open when Chromium drops a keep-alive connection.
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]

TITLE = "三单元楼道声控灯不亮（端到端）"


def _case(app):
    from casework.extensions import db
    from casework.models import Case
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.title == TITLE)).one()
        db.session.expunge(case)
        return case


@pytest.fixture(scope="module")
def story_case(live_server):
    """A new case in a building of louzhang01, in wangge01's grid."""
    from casework.extensions import db
    from casework.models import Category, User
    from casework.services import intake
    with live_server.app_context():
        staff = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        leader = db.session.scalars(select(User).where(User.username == "louzhang01")).one()
        cat = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(staff, title=TITLE, description="晚上楼道很黑，老人上下楼不安全。",
                                  category_id=cat.id, building_id=leader.buildings[0].id, unit="3单元",
                                  priority="urgent", channel="phone", reporter_name="李阿姨",
                                  reporter_phone="13912345678")
        db.session.commit()
        return case.id


def test_sign_drag_and_hand_on(live_server, browser, story_case, screenshots, sign_in):
    base = live_server.base_url
    errors: list[str] = []

    ctx = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.on("console", lambda m: errors.append(f"{m.text} @ {m.location}") if m.type == "error" and "favicon" not in str(m.location) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "wangge01")
    card = page.locator(f"#card-{story_case}")
    assert card.locator("xpath=..").get_attribute("id") == "cards-new"
    assert "13912345678" not in page.content() and "139****5678" not in page.content()
    screenshots(page, "board-grid.png")

    # Sign for it with the card's own button; the board moves it to triage.
    card.get_by_role("button", name="签收", exact=True).click()
    page.wait_for_selector(f"#cards-triage #card-{story_case}")

    # A column the card cannot go to refuses the drop in the browser: nothing is posted.
    card = page.locator(f"#card-{story_case}")
    card.drag_to(page.locator("#cards-closed"))
    page.wait_for_timeout(300)
    assert page.locator(f"#cards-triage #card-{story_case}").count() == 1

    # Drag it to the building leader's column: the dispatch event fires.
    with page.expect_response(lambda r: r.url.endswith(f"/board/cards/{story_case}/move")) as moved:
        card.drag_to(page.locator("#cards-leader"))
    assert moved.value.status == 200
    page.wait_for_selector(f"#cards-leader #card-{story_case}[data-column=leader]")
    assert _case(live_server).status == "building_leader"
    ctx.close()

    # The building leader sees it and hands it on to the property company.
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "louzhang01")
    page.wait_for_selector(f"#cards-mine #card-{story_case}")
    screenshots(page, "board-building-leader.png")
    page.locator(f"#card-{story_case}").get_by_role("button", name="转交承办单位…").click()
    form = page.locator(f"#card-{story_case} form.kform")
    form.wait_for()
    form.locator("select[name=organisation]").select_option(label="万家物业服务有限公司 · 物业服务企业")
    form.locator("textarea[name=note]").fill("请物业今天安排电工更换。")
    form.get_by_role("button", name="确定").click()
    page.wait_for_selector(f"#cards-handed_on #card-{story_case}")
    case = _case(live_server)
    assert case.status == "handling" and case.assigned_org_id is not None
    ctx.close()

    # The handler sees it waiting to be signed for.
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, base, "wuye01")
    page.wait_for_selector(f"#cards-to_sign #card-{story_case}")
    screenshots(page, "board-handler.png")
    ctx.close()
    assert not errors, errors


def test_supervisor_board_and_phone_layout(live_server, browser, screenshots, sign_in):
    base = live_server.base_url
    ctx = browser.new_context(viewport={"width": 1920, "height": 1000}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, base, "shequ01")
    assert page.locator(".bcol").count() == 7  # the arbitration queue (待仲裁) first
    screenshots(page, "board-supervisor.png")
    ctx.close()

    # A 375 px phone: the columns scroll sideways, the page itself does not.
    ctx = browser.new_context(viewport={"width": 375, "height": 760}, device_scale_factor=2,
                              is_mobile=True, has_touch=True, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, base, "wangge01")
    board_scrolls = page.evaluate("(() => { const b = document.getElementById('board');"
                                  " return b.scrollWidth > b.clientWidth; })()")
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert board_scrolls and page_width <= 380
    screenshots(page, "board-phone.png")
    # "Move to…" works without dragging.
    opener = page.locator("#cards-new .kcard-move-open").first
    if opener.count():
        card_id = opener.evaluate("el => el.closest('article').id")
        opener.click()  # the menu is fetched when opened
        select = page.locator(f"#{card_id} .kcard-move")
        select.wait_for()
        # htmx binds the menu's change trigger once the swapped card has settled (htmx-added is gone)
        page.locator(f"#{card_id}.htmx-added, #{card_id}.htmx-settling").wait_for(state="detached")
        select.select_option("triage")
        page.wait_for_selector(f"#cards-triage #{card_id}")
    ctx.close()


def test_keyboard_reaches_cards_and_buttons(live_server, browser, sign_in):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server.base_url, "wuye01")
    first = page.locator(".kcard").first
    first.focus()
    assert page.evaluate("document.activeElement.classList.contains('kcard')")
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('.kcard')")
    ctx.close()


def test_show_more_survives_a_refresh(live_server, browser, sign_in):
    """Pages opened with "show more" stay open when the live board brings someone else's change."""
    from casework.extensions import db
    from casework.models import Category, User
    from casework.services import intake

    ctx = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server.base_url, "jiedao")
    more = page.locator(".bcol-more").first
    column = more.evaluate("el => el.closest('.bcol-cards').dataset.column")
    cards = page.locator(f"#cards-{column} .kcard")
    assert cards.count() == 50
    more.click()
    cards.nth(50).wait_for()
    opened = cards.count()
    assert page.locator(f"#cards-{column}").get_attribute("data-pages") == "2"

    # Someone else reports a case in scope; the board refreshes (as after the 10 s poll).
    with live_server.app_context():
        staff = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        cat = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(staff, title="刷新后仍显示更多", description="测试", category_id=cat.id,
                                  building_id=staff.grids[0].buildings[0].id, unit="1单元", priority="normal",
                                  channel="phone", reporter_name="王先生", reporter_phone="13800000000")
        db.session.commit()
        new_id = case.id
    with page.expect_response(lambda r: "/board/?" in r.url and "pages=" in r.url) as refreshed:
        page.evaluate("htmx.trigger(document.body, 'board-refresh')")
    assert refreshed.value.status == 200
    page.wait_for_selector(f"#cards-new #card-{new_id}")
    assert page.locator(f"#cards-{column} .kcard").count() == opened + (1 if column == "new" else 0)
    assert page.locator(f"#cards-{column}").get_attribute("data-pages") == "2"
    ctx.close()

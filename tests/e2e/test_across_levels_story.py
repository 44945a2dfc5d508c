"""Work across levels (各级联动) in one story, in a real browser: a case reported in the wrong grid is
re-routed by wangge01 to the right building's grid; its grid staff dispatch it to the building leader,
who returns it twice; the second return puts it in the community supervisor's arbitration column;
shequ01 arbitrates it to the building's property company as the lead (主办); the lead signs for it and
asks a community partner to assist (协办); the partner reports its part done from its own column; the
lead reports the case done; the grid staff call back and close it. Each step is the user's own button
or form; the timeline and the database are checked as it goes."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from e2e.case_page import act as _act

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]

TITLE = "楼道外墙渗水（各级联动端到端）"


@pytest.fixture(scope="module")
def story(live_server):
    """A new case filed under wangge01's grid although the building is in wangge02's grid, and the
    people who will work it there: the leader, the property company's handler, a partner's handler."""
    from casework.extensions import db
    from casework.models import Category, User
    from casework.services import assists, intake
    with live_server.app_context():
        staff = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        right = db.session.scalars(select(User).where(User.username == "wangge02")).one().grids[0].buildings[0]
        leader = next(u for u in db.session.scalars(select(User).where(User.role == "building_leader"))
                      if right in u.buildings)
        lead = db.session.scalars(select(User).where(
            User.role == "handler", User.organisation_id == right.property_company_id).order_by(User.id)).first()
        cat = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(staff, title=TITLE, description="雨后外墙渗水，楼道墙皮脱落。",
                                  category_id=cat.id, building_id=staff.grids[0].buildings[0].id, unit="",
                                  priority="normal", channel="phone", reporter_name="孙女士",
                                  reporter_phone="13912340001")
        db.session.commit()
        case.building_id = right.id  # only to ask who may assist there (rolled back below)
        case.assigned_org_id = right.property_company_id
        partner = next(o for o in assists.choices(case) if o.kind != "property")
        helper = db.session.scalars(select(User).where(
            User.role == "handler", User.organisation_id == partner.id).order_by(User.id)).first()
        db.session.rollback()
        return {"id": case.id, "right": right.id, "right_grid": right.grid.name, "leader": leader.username,
                "company": right.property_company_id, "lead": lead.username, "partner": partner.id,
                "helper": helper.username}


def _state(app, case_id):
    from casework.extensions import db
    from casework.models import Case, CaseAssist
    with app.app_context():
        case = db.session.get(Case, case_id)
        parts = db.session.scalars(select(CaseAssist).where(CaseAssist.case_id == case_id)).all()
        return case.status, case.assigned_org_id, [p.state for p in parts]


def test_rerouted_returned_twice_arbitrated_led_with_an_assisting_partner_and_closed(
        live_server, browser, story, screenshots, sign_in):
    base, case_id = live_server.base_url, story["id"]
    errors: list[str] = []

    def as_user(username):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, username)
        return ctx, page

    # Wrong grid: wangge01 signs for it and sends it to the right building's grid.
    ctx, page = as_user("wangge01")
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "签收")
    page.wait_for_selector(f"#case-{case_id} .status-triage")
    _act(page, case_id, "不属于本网格…", selects={"building": str(story["right"]), "reason": "wrong_grid"},
         note="门牌属第2网格")
    page.wait_for_selector(f"#case-{case_id} .timeline .moved")
    assert story["right_grid"] in page.locator(f"#case-{case_id} .timeline").inner_text()
    ctx.close()

    # Returned twice by the building leader: the second return goes up to arbitration.
    ctx, page = as_user("wangge02")
    page.goto(f"{base}/cases/{case_id}")
    for _ in range(2):
        _act(page, case_id, "派给楼栋长")
        lctx, lpage = as_user(story["leader"])
        lpage.goto(f"{base}/cases/{case_id}")
        _act(lpage, case_id, "退回…", selects={"reason": "not_our_duty"}, note="外墙属物业维修范围")
        lctx.close()
        page.goto(f"{base}/cases/{case_id}")
    assert _state(live_server, case_id)[0] == "arbitration"
    ctx.close()

    # The community supervisor arbitrates: the property company leads.
    ctx, page = as_user("shequ01")
    page.wait_for_selector(f"#cards-arbitration #card-{case_id}")
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "仲裁…", radios={"holder": "organisation"},
         selects={"organisation": str(story["company"])}, note="外墙渗水由物业主办，合伙人协办")
    assert _state(live_server, case_id)[:2] == ("handling", story["company"])
    assert "仲裁" in page.locator(f"#case-{case_id} .timeline").inner_text()
    ctx.close()

    # The lead signs for it and asks the partner to assist.
    ctx, page = as_user(story["lead"])
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "承办签收")
    panel = page.locator(f"#case-{case_id}-assists")
    panel.locator("select[name=organisation]").select_option(str(story["partner"]))
    panel.locator("textarea[name=note]").fill("请协助搭脚手架。")
    panel.get_by_role("button", name="邀请协办").click()
    page.wait_for_selector(f"#case-{case_id}-assists li[data-state=open]")
    ctx.close()
    assert _state(live_server, case_id)[2] == ["open"]

    # The partner finds it in its own 协办 column and reports its part done.
    ctx, page = as_user(story["helper"])
    page.wait_for_selector(f"#cards-assisting #card-{case_id}")
    page.goto(f"{base}/cases/{case_id}")
    panel = page.locator(f"#case-{case_id}-assists")
    panel.locator("textarea[name=done_note]").fill("脚手架已搭好并拆除。")
    panel.get_by_role("button", name="协办完成").click()
    page.wait_for_selector(f"#case-{case_id}-assists li[data-state=done]")
    ctx.close()

    # The lead reports the whole case done (every part is in: no reason asked).
    ctx, page = as_user(story["lead"])
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "办结反馈…", note="外墙已做防水处理。")
    page.wait_for_selector(f"#case-{case_id} .status-resolved")
    ctx.close()

    # The grid staff call back and close it.
    ctx, page = as_user("wangge02")
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "回访办结…", radios={"satisfaction": "satisfied"})
    page.wait_for_selector(f"#case-{case_id} .status-closed")
    screenshots(page, "case-across-levels.png")
    ctx.close()
    assert _state(live_server, case_id) == ("closed", story["company"], ["done"])
    assert not errors, errors

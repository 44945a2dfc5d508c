"""The re-routing story in a real browser (各级联动): a case reported in the wrong grid is re-routed
by wangge01 to the right one; its grid staff dispatch it to the building leader, who returns it
twice; the second return puts it in the community supervisor's arbitration column; shequ01
arbitrates (the first receiver — the building leader — leads), the leader solves it and the grid
staff close it after the call-back. Every step is the user's own button and form on the case page."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from e2e.case_page import act as _act

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]

TITLE = "小区东门路面塌陷（改派端到端）"


@pytest.fixture(scope="module")
def story(live_server):
    """A new case filed under wangge01's grid although the building is in wangge02's grid."""
    from casework.extensions import db
    from casework.models import Category, User
    from casework.services import intake
    with live_server.app_context():
        staff = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        right = db.session.scalars(select(User).where(User.username == "wangge02")).one().grids[0].buildings[0]
        leader = next(u for u in db.session.scalars(select(User).where(User.role == "building_leader"))
                      if right in u.buildings)
        cat = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(staff, title=TITLE, description="东门口路面下沉，雨后积水。",
                                  category_id=cat.id, building_id=staff.grids[0].buildings[0].id, unit="",
                                  priority="normal", channel="phone", reporter_name="刘先生",
                                  reporter_phone="13912340000")
        db.session.commit()
        return {"id": case.id, "right": right.id, "right_grid": right.grid.name, "leader": leader.username}


def _status(app, case_id):
    from casework.extensions import db
    from casework.models import Case
    with app.app_context():
        return db.session.get(Case, case_id).status


def _as(browser, sign_in, base, username):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, base, username)
    return ctx, page


def test_wrong_grid_rerouted_returned_twice_arbitrated_and_closed(live_server, browser, story, screenshots,
                                                                  sign_in):
    base, case_id = live_server.base_url, story["id"]
    errors: list[str] = []

    ctx, page = _as(browser, sign_in, base, "wangge01")
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "签收")
    page.wait_for_selector(f"#case-{case_id} .status-triage")
    _act(page, case_id, "不属于本网格…", selects={"building": str(story["right"]), "reason": "wrong_grid"},
         note="门牌属第2网格")
    page.wait_for_selector(f"#case-{case_id} .timeline .moved")
    assert story["right_grid"] in page.locator(f"#case-{case_id} .timeline").inner_text()
    screenshots(page, "case-rerouted.png")
    ctx.close()

    ctx, page = _as(browser, sign_in, base, "wangge02")
    page.goto(f"{base}/cases/{case_id}")
    for _ in range(2):  # dispatched to the leader, returned, dispatched again, returned again
        _act(page, case_id, "派给楼栋长")
        assert _status(live_server, case_id) == "building_leader"
        lctx, lpage = _as(browser, sign_in, base, story["leader"])
        lpage.goto(f"{base}/cases/{case_id}")
        _act(lpage, case_id, "退回…", selects={"reason": "not_our_duty"}, note="应由物业处理")
        lctx.close()
        page.goto(f"{base}/cases/{case_id}")
    assert _status(live_server, case_id) == "arbitration"
    ctx.close()

    ctx, page = _as(browser, sign_in, base, "shequ01")
    page.wait_for_selector(f"#cards-arbitration #card-{case_id}")
    screenshots(page, "board-arbitration.png")
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "仲裁…", note="首接负责：楼栋长牵头协调物业")  # the proposed holder: the leader
    assert _status(live_server, case_id) == "building_leader"
    assert "仲裁" in page.locator(f"#case-{case_id} .timeline").inner_text()
    ctx.close()

    ctx, page = _as(browser, sign_in, base, story["leader"])
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "就地解决…", note="已协调物业填平路面")
    ctx.close()

    ctx, page = _as(browser, sign_in, base, "wangge02")
    page.goto(f"{base}/cases/{case_id}")
    _act(page, case_id, "回访办结…", radios={"satisfaction": "satisfied"})
    assert _status(live_server, case_id) == "closed"
    ctx.close()
    assert not errors, errors

"""Community partners (社区合伙人): agreements, annual plans, activities linked to a plan item, and the
community's plan vs held figures per partner."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from case_steps import parse
from conftest import org
from volunteer_steps import community, make_activity

from casework.extensions import db
from casework.models import PartnerAgreement, PartnerPlan


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def agreement_form(**over) -> dict:
    data = {"organisation_id": str(org("和睦调解").id), "community_id": str(community().id),
            "signed_on": "2026-03-01", "starts_on": "2026-03-01", "ends_on": "2027-02-28",
            "content": "每月一次法律咨询进社区", "contact": "何静", "status": "active"}
    data.update(over)
    return data


def plan_form(**over) -> dict:
    data = {"organisation_id": str(org("和睦调解").id), "community_id": str(community().id), "year": "2026",
            "month": "", "title": "法律明白人讲堂", "carriers": "5"}
    data.update(over)
    return data


def figures(html: str) -> list[list[str]]:
    table = parse(html).find("section", id="plan-vs-held")
    return [[c.text for c in tr.find_all() if c.tag in ("td", "th")] for tr in table.find_all("tr")[1:]]


def test_agreement_plans_and_plan_vs_held(app, session, login_as):
    sup = login_as("shequ01")
    assert sup.post("/volunteers/partners/agreements", agreement_form()).status_code == 303
    assert sup.post("/volunteers/partners/plans", plan_form()).status_code == 303
    assert sup.post("/volunteers/partners/plans", plan_form(title="周末亲子普法", carriers="3", month="6")).status_code == 303
    page = sup.get("/volunteers/partners?year=2026")
    assert page.status_code == 200 and "每月一次法律咨询进社区" in page.text
    assert figures(page.text) == [["青松社区", "和睦调解法律服务社", "2", "8", "0", "0"],
                                  ["合计", "", "2", "8", "0", "0"]]
    plan = db.session.scalars(select(PartnerPlan).where(PartnerPlan.title == "法律明白人讲堂")).one()
    held = make_activity(status="done", title="法律讲堂第一期")
    planned = make_activity(status="open", title="法律讲堂第二期")
    activity_page = sup.get(f"/volunteers/activities/{held.id}")
    options = [o.text for o in parse(activity_page.text).find("select", name="plan_id").find_all("option")]
    assert "和睦调解法律服务社 · 法律明白人讲堂" in options
    for a, served in ((held, "60"), (planned, "40")):
        assert sup.post(f"/volunteers/activities/{a.id}/partner",
                        {"plan_id": str(plan.id), "residents_served": served}).status_code == 303
    db.session.refresh(held)
    assert held.partner_id == org("和睦调解").id and held.residents_served == 60
    # Only the held (done) activity counts; another year shows nothing.
    assert figures(sup.get("/volunteers/partners?year=2026").text)[-1] == ["合计", "", "2", "8", "1", "60"]
    assert figures(sup.get("/volunteers/partners?year=2025").text) == [["合计", "", "0", "0", "0", "0"]]
    # The other community's supervisor sees none of it.
    other = login_as("shequ02").get("/volunteers/partners?year=2026")
    assert other.status_code == 200 and figures(other.text) == [["合计", "", "0", "0", "0", "0"]]
    assert "每月一次法律咨询进社区" not in other.text
    # The subdistrict sees every community.
    assert figures(login_as("jiedao").get("/volunteers/partners?year=2026").text)[-1][2:] == ["2", "8", "1", "60"]


@pytest.mark.parametrize("over,field_message", [
    ({"ends_on": "2026-01-01"}, "结束日期不能早于开始日期"),
    ({"starts_on": "soon"}, "请填写正确的日期"),
    ({"content": ""}, "请填写合作内容"),
    ({"organisation_id": "__property__"}, "请选择社区合伙人"),
    ({"community_id": "__other__"}, "请选择您所辖的社区"),
])
def test_bad_agreements_change_nothing(app, session, over, field_message, login_as):
    if over.get("organisation_id") == "__property__":
        over = {"organisation_id": str(org("万家物业").id)}
    if over.get("community_id") == "__other__":
        over = {"community_id": str(community("溪畔社区").id)}
    response = login_as("shequ01").post("/volunteers/partners/agreements", agreement_form(contact="何静女士", **over))
    assert response.status_code == 422 and field_message in response.text
    assert 'value="何静女士"' in response.text and count(PartnerAgreement) == 0


@pytest.mark.parametrize("over,field_message", [
    ({"carriers": "-1"}, "活动载体数应为 0 到 1000"),
    ({"month": "13"}, "月份应为 1 到 12"),
    ({"title": ""}, "请填写计划名称"),
    ({"year": "abc"}, "请填写年度"),
])
def test_bad_plans_change_nothing(app, session, over, field_message, login_as):
    sup = login_as("shequ01")
    sup.post("/volunteers/partners/agreements", agreement_form())
    response = sup.post("/volunteers/partners/plans", plan_form(**over))
    assert response.status_code == 422 and field_message in response.text and count(PartnerPlan) == 0


def test_a_plan_needs_an_agreement_in_force(app, session, login_as):
    sup = login_as("shequ01")
    response = sup.post("/volunteers/partners/plans", plan_form())
    assert response.status_code == 422 and "还没有和该社区签订有效的协议" in response.text
    sup.post("/volunteers/partners/agreements", agreement_form())
    agreement = db.session.scalars(select(PartnerAgreement)).one()
    assert sup.post(f"/volunteers/partners/agreements/{agreement.id}/status", {"status": "terminated"}).status_code == 303
    assert sup.post("/volunteers/partners/plans", plan_form()).status_code == 422
    # Another community's supervisor cannot touch the agreement.
    assert login_as("shequ02").post(f"/volunteers/partners/agreements/{agreement.id}/status",
                                    {"status": "active"}).status_code == 404


def test_bad_activity_links_change_nothing(app, session, login_as):
    sup = login_as("shequ01")
    a = make_activity(status="done")
    response = sup.post(f"/volunteers/activities/{a.id}/partner", {"plan_id": "999999", "residents_served": "-5"})
    assert response.status_code == 422
    assert "请选择本社区当年的合伙人活动计划" in response.text and "服务居民人次应为" in response.text
    db.session.refresh(a)
    assert (a.plan_id, a.partner_id, a.residents_served) == (None, None, None)


@pytest.mark.parametrize("username,status", [("hehuo01", 404), ("louzhang01", 403), ("wangge01", 403)])
def test_partner_screens_are_for_supervisors(app, session, username, status, login_as):
    assert login_as(username).get("/volunteers/partners").status_code == status

"""The volunteer dashboard: every figure checked against a small hand-made data set whose answers
are worked out by hand below (definitions: docs/metrics.md, "Volunteers"), in two scopes and two
periods, on the page and in the CSV export."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from sqlalchemy import select

from case_steps import case_in, parse
from conftest import SUITE_NOW, org
from volunteer_steps import community, make_activity, staff, team

from casework.extensions import db
from casework.models import Building, VolunteerProject, VolunteerRating
from casework.services import transitions
from casework.services.volunteers import casehours, ledger, partners, registry

MAY = dt.datetime(2026, 5, 1, 10, 0, tzinfo=SUITE_NOW.tzinfo)


def volunteer(name, mobile, community_name="青松社区", team_name=None):
    v = registry.register({"name": name, "mobile": mobile, "community_id": community(community_name).id,
                           "consent": "1"})
    if team_name:
        m = registry.request_join(v, team(team_name).id)
        registry.decide_membership(staff("hehuo01"), m, True)
    db.session.commit()
    return v


@pytest.fixture
def data_set(app, session):
    """A: 青松, registered in May with 600 min then; in H2 120 min (activity) + 60 min (a case).
    B: 青松, 60 min earned and a -30 min correction. C: 溪畔, 90 min. Ratings: A 3 stars and C 1 star
    confirmed, B a draft. Activities done: 青松 家长课堂 (30 served, a partner's plan item), 青松 no
    project (10 served), 溪畔 (5 served); one open 青松 activity (100 served, not held)."""
    leader = staff("hehuo01")
    with time_machine.travel(MAY, tick=False):
        a = volunteer("甲", "13900000001", team_name="邻里帮帮志愿维修队")
        ledger.post(a, "hours", "earned", 600, reason="五月", actor=leader)
        db.session.commit()
    b = volunteer("乙", "13900000002")
    c = volunteer("丙", "13900000003", "溪畔社区")
    ledger.post(a, "hours", "earned", 120, reason="活动", actor=leader)
    entry = ledger.post(b, "hours", "earned", 60, reason="活动", actor=leader)
    ledger.reverse(leader, entry.id, "多记了")
    ledger.post(b, "hours", "earned", 30, reason="补记", actor=leader)
    ledger.post(c, "hours", "earned", 90, reason="活动", actor=leader)
    db.session.commit()
    parents = db.session.scalars(select(VolunteerProject).where(VolunteerProject.name == "家长课堂")).one()
    classroom = make_activity(status="done", title="家长课堂")
    classroom.project_id = parents.id
    make_activity(status="done", title="楼道清理").residents_served = 10
    make_activity(status="done", title="溪畔义诊", team_name="溪畔社区红色先锋志愿服务队").residents_served = 5
    make_activity(status="open", title="未开展").residents_served = 100
    sup = staff("shequ01")
    partners.create_agreement(sup, {"organisation_id": org("和睦调解").id, "community_id": community().id,
                                    "starts_on": "2026-01-01", "ends_on": "2026-12-31", "content": "普法"}, None)
    plan = partners.add_plan(sup, {"organisation_id": org("和睦调解").id, "community_id": community().id,
                                   "year": "2026", "title": "普法讲堂", "carriers": "4"}, None)
    partners.link_activity(sup, classroom, {"plan_id": str(plan.id), "residents_served": "30"})
    db.session.commit()
    building = db.session.scalars(select(Building).where(Building.code == "G101-01")).one()
    case = case_in("handling", building, organisation=org("邻里帮帮"), accepted=True)
    with time_machine.travel(SUITE_NOW + dt.timedelta(hours=2), tick=False):
        row = transitions.fire(leader, case, "report_done", {"note": "修好了", f"vh-{a.id}": "1"},
                               version=case.version)
        db.session.commit()
        casehours.confirm(leader, casehours.of_case(case)[0])
        db.session.commit()
    assert row is not None
    for v, stars, status in ((a, 3, "confirmed"), (c, 1, "confirmed"), (b, 2, "draft")):
        db.session.add(VolunteerRating(period="2026H1", volunteer_id=v.id, preset="national", hours_minutes=0,
                                       stars=stars, status=status, computed_at=SUITE_NOW.replace(tzinfo=None),
                                       confirmed_at=SUITE_NOW.replace(tzinfo=None) if status == "confirmed" else None))
    db.session.commit()


def shown(html: str) -> dict:
    page = parse(html)
    figures = {dd.get("id")[4:]: dd.text for dd in page.find_all("dd") if (dd.get("id") or "").startswith("fig-")}
    figures["projects"] = {tr.find("th").text: tr.find("td").text
                           for tr in page.find("table", id="by-project").find_all("tr") if tr.find("th")}
    figures["stars"] = [tr.find("td").text for tr in page.find("table", id="stars").find_all("tr")]
    return figures


def test_subdistrict_figures_for_the_half_year(data_set, login_as):
    page = login_as("jiedao").get("/volunteers/dashboard")
    assert page.status_code == 200
    assert shown(page.text) == {
        "teams": "3", "registered": "3", "active": "3",
        "hours": "5.0",          # 120 + 60 (case) + 60 - 60 + 30 + 90 = 300 min
        "held": "3", "served": "46",   # 30 + 10 + 5 from activities, 1 case
        "plans": "1", "carriers": "4", "partner-held": "1", "partner-served": "30",
        "projects": {"未归入项目": "2", "家长课堂": "1"},
        "stars": ["1", "0", "1", "0", "0"],
    }


def test_a_community_sees_its_own_figures(data_set, login_as):
    figures = shown(login_as("shequ01").get("/volunteers/dashboard").text)
    assert {k: figures[k] for k in ("teams", "registered", "active", "hours", "held", "served")} == {
        "teams": "2", "registered": "2", "active": "2", "hours": "3.5", "held": "2", "served": "41"}
    assert figures["stars"] == ["0", "0", "1", "0", "0"]
    assert shown(login_as("shequ02").get("/volunteers/dashboard").text)["hours"] == "1.5"


def test_other_periods(data_set, login_as):
    client = login_as("jiedao")
    first_half = shown(client.get("/volunteers/dashboard?from=2026-01-01&to=2026-06-30").text)
    assert (first_half["registered"], first_half["active"], first_half["hours"], first_half["held"]) == (
        "1", "1", "10.0", "0")
    year = shown(client.get("/volunteers/dashboard?from=2026-01-01&to=2026-12-31").text)
    assert (year["registered"], year["active"], year["hours"]) == ("3", "3", "15.0")


def test_csv_export_has_the_same_figures(data_set, login_as):
    response = login_as("jiedao").get("/volunteers/dashboard.csv")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = dict(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows["注册志愿者"] == "3" and rows["服务时长（小时）"] == "5.0" and rows["服务居民人次"] == "46"
    assert rows["3 星志愿者"] == "1" and rows["合伙人活动载体"] == "4" and rows["范围"] == "全街道"


@pytest.mark.parametrize("query,message", [("from=2026-13-01", "请填写正确的日期"),
                                           ("from=2026-07-01&to=2026-01-01", "结束日期不能早于开始日期")])
def test_bad_periods_are_refused_next_to_the_field(app, session, query, message, login_as):
    response = login_as("jiedao").get(f"/volunteers/dashboard?{query}")
    assert response.status_code == 422 and message in response.text
    assert login_as("jiedao").get(f"/volunteers/dashboard.csv?{query}").status_code == 422


@pytest.mark.parametrize("username,status", [("hehuo01", 404), ("louzhang01", 403)])
def test_dashboard_is_for_supervisors(app, session, username, status, login_as):
    assert login_as(username).get("/volunteers/dashboard").status_code == status

"""Hotspots (未诉先办), checked against a hand-made data set far from the demo's dates (docs/metrics.md)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select


from casework.extensions import db
from casework.models import Building, Case, CaseEvent, CaseLink, Category, Organisation
from casework.services import hotspots
from tests.conftest import user

CN = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 5, 30, 10, 0)   # no demo case is this old


def _at(when: dt.datetime):
    return time_machine.travel(when.replace(tzinfo=CN), tick=False)


def _buildings():
    """Three buildings of wangge01's grid (青松社区, 万家物业) and one of wangge02's."""
    mine = sorted(user("wangge01").grids[0].buildings, key=lambda b: b.id)
    other = sorted(user("wangge02").grids[0].buildings, key=lambda b: b.id)
    return mine[0], mine[1], mine[2], other[0]


def _cat(code):
    return db.session.scalars(select(Category).where(Category.code == code)).one()


def _case(make_case, building: Building, when: dt.datetime, category="facilities", *, closed_at=None,
          org=None, duplicate_of=None) -> Case:
    with _at(when):
        case = make_case(building, category=category, by="wangge01" if building in user("wangge01").grids[0].buildings else "wangge02")
    if closed_at is not None:
        case.status, case.resolution, case.closed_at = "closed", "solved", closed_at
        case.assigned_org_id = (org or building.property_company).id
    if duplicate_of is not None:
        case.duplicate_of_id = duplicate_of.id
    db.session.commit()
    return case


@pytest.fixture
def data(make_case):
    a, b, c, far = _buildings()
    day = lambda n: NOW - dt.timedelta(days=n)  # noqa: E731
    # A: three facilities cases in 30 days (+ a merged duplicate that does not count) → repeated.
    rep = [_case(make_case, a, day(n)) for n in (2, 10, 25)]
    _case(make_case, a, day(3), duplicate_of=rep[0])
    # A, sanitation: two only → not repeated.
    _case(make_case, a, day(5), category="sanitation")
    _case(make_case, a, day(6), category="sanitation")
    # B: solved and closed 12 days ago, reported again 4 days ago → came back (against 万家).
    _case(make_case, b, day(20), closed_at=day(12))
    back_b = _case(make_case, b, day(4))
    # C: closed 50 days ago, reported again 5 days ago → too late to count as coming back.
    _case(make_case, c, day(60), closed_at=day(50))
    _case(make_case, c, day(5))
    # C, sanitation: closed 9 days ago, back 2 days ago → came back (万家's second).
    _case(make_case, c, day(15), category="sanitation", closed_at=day(9))
    back_c = _case(make_case, c, day(2), category="sanitation")
    # Another grid's building: three cases, seen by the community and not by wangge-scoped views.
    far_cases = [_case(make_case, far, day(n), category="sanitation") for n in (1, 2, 3)]
    return {"a": a, "b": b, "c": c, "far": far, "rep": rep, "back": [back_b, back_c], "far_cases": far_cases}


def test_definitions_on_a_hand_made_set(data):
    found = hotspots.find(user("shequ01"), at=NOW)
    repeated = {(h.building_id, h.category_id): h.cases for h in found.repeated}
    facilities, sanitation = _cat("facilities").id, _cat("sanitation").id
    assert repeated == {(data["a"].id, facilities): 3, (data["far"].id, sanitation): 3}
    came_back = {(h.building_id, h.category_id): h.cases for h in found.came_back}
    assert came_back == {(data["b"].id, facilities): 1, (data["c"].id, sanitation): 1}
    companies = {c.organisation: c.came_back for c in found.companies}
    assert companies == {data["b"].property_company.name: 2}


def test_reopened_case_counts_as_came_back(data):
    case = data["rep"][0]
    with _at(NOW - dt.timedelta(days=1)):
        db.session.add(CaseEvent(case_id=case.id, kind="transition", event="reopen", from_status="resolved",
                                 to_status="handling", created_at=NOW - dt.timedelta(days=1)))
        case.assigned_org_id = data["a"].property_company_id
        db.session.commit()
    found = hotspots.find(user("shequ01"), at=NOW)
    came_back = {(h.building_id, h.category_id): h.cases for h in found.came_back}
    assert came_back[(data["a"].id, _cat("facilities").id)] == 1
    assert {c.organisation: c.came_back for c in found.companies} == {data["b"].property_company.name: 3}


def test_other_community_sees_none_of_it(data):
    found = hotspots.find(user("shequ02"), at=NOW)
    ids = {h.building_id for h in found.repeated + found.came_back}
    assert not ids & {data["a"].id, data["b"].id, data["c"].id, data["far"].id}


def test_page_and_proactive_case(app, session, data, login_as):
    with _at(NOW):
        client = login_as("shequ01")
        page = client.get("/reports/hotspots")
        assert page.status_code == 200
        assert data["a"].name in page.text and "主动立案" in page.text
        response = client.post("/reports/hotspots/open", {"building": data["a"].id,
                                                          "category": _cat("facilities").id,
                                                          "description": "三周内灯坏三次，排查线路"})
    assert response.status_code == 302
    new = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert new.channel == "patrol" and new.building_id == data["a"].id and "未诉先办" in new.title
    links = set(db.session.scalars(select(CaseLink.linked_case_id).where(CaseLink.case_id == new.id)))
    assert links == {c.id for c in data["rep"]}  # the duplicate is not among them
    with _at(NOW):
        detail = client.get(response.headers["Location"]).text
    assert all(c.number in detail for c in data["rep"])
    # Each forming case says so on its timeline (staff only).
    marks = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == data["rep"][0].id,
                                                       CaseEvent.event == "hotspot_linked")).all()
    assert len(marks) == 1 and new.number in marks[0].note and not marks[0].public


@pytest.mark.parametrize("name", ["wangge01", "louzhang01", "wuye01", "admin"])
def test_only_supervisors_see_hotspots(app, session, name, login_as):
    client = login_as(name)
    assert client.get("/reports/hotspots").status_code == 404
    assert client.post("/reports/hotspots/open", {"building": 1, "category": 1}).status_code == 404


def test_bad_hotspot_requests_change_nothing(app, session, data, login_as):
    before = db.session.scalar(select(db.func.count(Case.id)))
    with _at(NOW):
        client = login_as("shequ02")  # another community: the hotspot is not theirs
        assert client.post("/reports/hotspots/open", {"building": data["a"].id,
                                                      "category": _cat("facilities").id}).status_code == 404
        assert client.post("/reports/hotspots/open", {"building": "9" * 30, "category": "1"}).status_code == 404
        too_long = login_as("shequ01").post("/reports/hotspots/open", {
            "building": data["a"].id, "category": _cat("facilities").id, "description": "长" * 2001})
    assert too_long.status_code == 422 and "2000" in too_long.text and "长" * 50 in too_long.text
    assert db.session.scalar(select(db.func.count(Case.id))) == before
    assert Organisation  # imported for readers of the data set

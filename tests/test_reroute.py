"""Working across levels (各级联动): re-routing to the right grid, arbitration after two returns or
a wrong-jurisdiction return, and a supervisor's 督办改派 — each event for every role inside and
outside its jurisdiction, what the timeline, the boards, the notices and the clocks show, and the
dashboard's counts (docs/metrics.md, "Jurisdiction moves") on a hand-made set of cases.

Demo places: 青松社区 holds grids 1-3 (wangge01-03; louzhang01 serves buildings of grid 1; shequ01
supervises), 溪畔社区 grids 4-6 (wangge04-06; shequ02). jiedao supervises the whole subdistrict.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from case_steps import case_in, parse, snapshot, user
from casework import access
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Community, Grid, Notification, Organisation, User
from casework.services import reports, transitions
from casework.services.reports import Period, Scope
from casework.timekeeping import now


def grid_of(username: str) -> Grid:
    return user(username).grids[0]


def building_in(username: str) -> Building:
    """A building of the user's (grid staff's) grid, not one louzhang01 serves unless it is wangge01's."""
    return grid_of(username).buildings[0]


def here() -> Building:
    return user("louzhang01").buildings[0]  # in wangge01's grid, 青松社区, served by 万家物业


def org(name_start: str) -> Organisation:
    return db.session.scalars(select(Organisation).where(Organisation.name.startswith(name_start))).one()


def fire(username: str, case: Case, event: str, data: dict) -> None:
    transitions.fire(user(username), case, event, data, version=case.version)
    db.session.commit()


def in_arbitration(building: Building | None = None) -> Case:
    """A case returned twice (leader → grid, then the leader again): it waits for arbitration."""
    case = case_in("building_leader", building or here())
    fire("louzhang01", case, "return_case", {"reason": "insufficient_info"})
    assert case.status == "triage"
    fire("wangge01", case, "dispatch", {})
    fire("louzhang01", case, "return_case", {"reason": "not_our_duty"})
    assert (case.status, case.return_count) == ("arbitration", 2)
    return case


def last_event(case_id: int) -> CaseEvent:
    return db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                              .order_by(CaseEvent.id.desc())).first()


def board_columns(html: str) -> dict[str, list[int]]:
    """Card ids per column, as the board shows them."""
    return {col.get("data-column"): [int(a.get("id").removeprefix("card-")) for a in col.find_all("article")
                                     if (a.get("id") or "").startswith("card-")]
            for col in parse(html).find_all("div", class_="bcol-cards")}


def control(html: str, name: str):
    """The form control named `name` (select, input or textarea) in an event form."""
    return next(e for e in parse(html).iter() if e.tag in ("select", "input", "textarea") and e.get("name") == name)


def block(html: str, name: str) -> str:
    """The text of the field block around a control: its label, options and error message."""
    return control(html, name).parent.text


def deadline(hours: int = 30) -> str:
    return (now() + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


# ---- who may fire each new event, inside and outside -------------------------------------------

def _outside_building() -> Building:
    return building_in("wangge04")


def _leader_of(b: Building) -> str:
    return next(u.username for u in db.session.scalars(select(User).where(User.role == "building_leader")
                                                       .order_by(User.id)) if b in u.buildings)


def _setup(event: str, inside: bool) -> Case:
    """A case in the state the event leaves from, inside 青松社区 grid 1 or outside (溪畔社区)."""
    b = here() if inside else _outside_building()
    if event == "reroute":
        return case_in("triage", b)
    if event == "arbitrate":
        case = case_in("building_leader", b)
        fire(_leader_of(b), case, "return_case", {"reason": "wrong_jurisdiction"})
        return case
    return case_in("handling", b)  # reassign


def _data(event: str, case: Case, username: str) -> dict:
    """Valid input for the event, as this user's form offers it."""
    if event == "reroute":
        other = next(b for b in case.community.grids[1].buildings)
        return {"building": str(other.id), "reason": "wrong_grid"}
    if event == "arbitrate":
        return {"building": str(case.building_id), "holder": "grid", "note": "由网格研判"}
    return {"organisation": str(case.building.property_company_id), "deadline": deadline(), "note": "限期办理"}


# role → (inside: status code per event), the case "inside" being in 青松社区 grid 1 (wangge01, louzhang01)
MAY = {
    "wangge01": {"reroute": 200, "arbitrate": 409, "reassign": 409},
    "wangge02": {"reroute": 404, "arbitrate": 404, "reassign": 404},
    "louzhang01": {"reroute": 404, "arbitrate": 404, "reassign": 404},  # sees only building_leader+ of its buildings
    "wuye01": {"reroute": 404, "arbitrate": 404, "reassign": 409},
    "hehuo01": {"reroute": 404, "arbitrate": 404, "reassign": 404},
    "shequ01": {"reroute": 200, "arbitrate": 200, "reassign": 200},
    "shequ02": {"reroute": 404, "arbitrate": 404, "reassign": 404},
    "jiedao": {"reroute": 200, "arbitrate": 200, "reassign": 200},
    "admin": {"reroute": 404, "arbitrate": 404, "reassign": 404},
}


def _want(username: str, event: str, case: Case, inside: bool) -> int:
    u = user(username)
    if not access.can_view(u, case):
        return 404
    if inside:
        return MAY[username][event]
    # outside (溪畔社区): the subdistrict supervisor and that community's own supervisor may act
    return 200 if username in ("jiedao", "shequ02") else 409


@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
@pytest.mark.parametrize("event", ["reroute", "arbitrate", "reassign"])
@pytest.mark.parametrize("username", list(MAY))
def test_each_new_event_for_every_role_inside_and_outside(app, session, login_as, username, event, inside):
    case = _setup(event, inside)
    before = snapshot(case.id)
    want = _want(username, event, case, inside)
    if username == "louzhang01" and inside and access.can_view(user(username), case):
        want = 409  # the leader sees the case of its building, but these moves are not its to make
    assert access.may_fire(user(username), case, event) == (want == 200)  # the policy says what the page does
    client = login_as(username)
    response = client.post(f"/cases/{case.id}/events/{event}",
                           {"version": case.version, **_data(event, case, username)}, htmx=True)
    assert response.status_code == want, response.text[:300]
    if want == 200:
        row = last_event(case.id)
        assert (row.event, row.actor.username) == (event, username)
        assert row.from_grid_id is not None and row.to_grid_id is not None  # a jurisdiction move, on the timeline
    else:
        assert snapshot(case.id) == before


# ---- re-route -----------------------------------------------------------------------------------

def test_grid_staff_reroute_a_case_to_the_right_grid(app, session, login_as):
    case = case_in("triage", here())
    due_at, old_grid = case.due_at, case.grid
    target = building_in("wangge02")
    client = login_as("wangge01")
    form = client.get(f"/cases/{case.id}/events/reroute/form", headers={"HX-Request": "true"})
    offered = {o.get("value") for o in control(form.text, "building").find_all("option")}
    assert str(target.id) in offered and str(here().id) not in offered  # another grid, never its own
    assert str(_outside_building().id) not in offered  # across communities only through the supervisors
    response = client.post(f"/cases/{case.id}/events/reroute",
                           {"version": case.version, "building": str(target.id), "reason": "wrong_grid"}, htmx=True)
    assert response.status_code == 200
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.building_id, case.grid_id) == ("triage", target.id, target.grid_id)
    row = last_event(case.id)
    assert (row.from_grid_id, row.to_grid_id, row.reason_code) == (old_grid.id, target.grid_id, "wrong_grid")
    # the clock: the new grid's triage starts now with a full limit; the whole case keeps its due time
    assert case.stage_started_at == row.created_at and case.stage_due_at > row.created_at
    assert case.due_at == due_at and row.stage_seconds is not None
    # the new grid hears of it; the old grid no longer sees it
    assert db.session.scalar(select(Notification.id).where(
        Notification.user_id == user("wangge02").id, Notification.case_id == case.id,
        Notification.kind == "rerouted")) is not None
    assert login_as("wangge01").get(f"/cases/{case.id}").status_code == 404
    page = login_as("wangge02").get(f"/cases/{case.id}")
    timeline = parse(page.text).find("section", class_="timeline").text
    assert "改派网格" in timeline and old_grid.name in timeline and target.grid.name in timeline


def test_a_bad_reroute_is_refused_next_to_the_field_and_changes_nothing(app, session, login_as):
    case = case_in("triage", here())
    before = snapshot(case.id)
    client = login_as("wangge01")
    for building in (here(), _outside_building()):  # its own grid; another community
        response = client.post(f"/cases/{case.id}/events/reroute",
                               {"version": case.version, "building": str(building.id), "reason": "wrong_grid",
                                "note": "门牌在隔壁"}, htmx=True)
        assert response.status_code == 422
        assert "请选择案件所属的楼栋。" in block(response.text, "building")
        assert control(response.text, "note").text == "门牌在隔壁"
    response = client.post(f"/cases/{case.id}/events/reroute",
                           {"version": case.version, "building": str(building_in("wangge02").id)}, htmx=True)
    assert response.status_code == 422 and "请选择原因。" in response.text
    assert snapshot(case.id) == before


# ---- returns going up, arbitration --------------------------------------------------------------

def test_wrong_jurisdiction_return_goes_to_the_supervisor_not_down(app, session, login_as):
    case = case_in("handling", here())
    fire("wuye01", case, "return_case", {"reason": "wrong_jurisdiction"})
    assert (case.status, case.return_count) == ("arbitration", 1)
    assert db.session.scalar(select(Notification.id).where(
        Notification.user_id == user("shequ01").id, Notification.case_id == case.id,
        Notification.kind == "arbitration")) is not None
    # the supervisors' boards show it in their arbitration queue, the grid's board in no column
    assert case.id in board_columns(login_as("shequ01").get("/board/").text)["arbitration"]
    assert case.id in board_columns(login_as("jiedao").get("/board/").text)["arbitration"]
    for name in ("wangge01", "shequ02"):
        assert case.id not in {i for ids in board_columns(login_as(name).get("/board/").text).values() for i in ids}


def test_arbitration_proposes_the_first_receiver_and_binds(app, session, login_as):
    case = in_arbitration()
    client = login_as("shequ01")
    form = client.get(f"/cases/{case.id}/events/arbitrate/form", headers={"HX-Request": "true"}).text
    checked = [i.get("value") for i in parse(form).find_all("input") if i.get("name") == "holder" and
               "checked" in i.attrs]
    assert checked == ["leader"]  # 首接负责: it was first dispatched to the building leader
    # a note is required
    response = client.post(f"/cases/{case.id}/events/arbitrate",
                           {"version": case.version, "building": str(case.building_id), "holder": "organisation",
                            "organisation": str(org("万家").id), "note": ""}, htmx=True)
    assert response.status_code == 422 and "请填写说明。" in response.text
    response = client.post(f"/cases/{case.id}/events/arbitrate",
                           {"version": case.version, "building": str(case.building_id), "holder": "organisation",
                            "organisation": str(org("万家").id), "note": "物业负责公共照明"}, htmx=True)
    assert response.status_code == 200
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.assigned_org_id, case.handler_accepted_at) == ("handling", org("万家").id, None)
    row = last_event(case.id)
    assert (row.event, row.organisation_id, row.note) == ("arbitrate", org("万家").id, "物业负责公共照明")
    assert db.session.scalar(select(Notification.id).where(
        Notification.user_id == user("wuye01").id, Notification.case_id == case.id,
        Notification.kind == "arbitrated")) is not None
    assert "仲裁" in parse(client.get(f"/cases/{case.id}").text).find("section", class_="timeline").text


def test_subdistrict_arbitrates_across_communities(app, session, login_as):
    case = case_in("building_leader", here())
    fire("louzhang01", case, "return_case", {"reason": "wrong_jurisdiction"})
    target = _outside_building()
    # the community supervisor cannot send it to another community
    response = login_as("shequ01").post(f"/cases/{case.id}/events/arbitrate", {
        "version": case.version, "building": str(target.id), "holder": "grid", "note": "属溪畔社区"}, htmx=True)
    assert response.status_code == 422 and "请选择案件所属的楼栋。" in response.text
    response = login_as("jiedao").post(f"/cases/{case.id}/events/arbitrate", {
        "version": case.version, "building": str(target.id), "holder": "grid", "note": "属溪畔社区"}, htmx=True)
    assert response.status_code == 200
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.community_id, case.grid_id) == ("triage", target.grid.community_id, target.grid_id)
    assert login_as("shequ02").get(f"/cases/{case.id}").status_code == 200
    assert login_as("shequ01").get(f"/cases/{case.id}").status_code == 404


# ---- 督办改派 -------------------------------------------------------------------------------------

def test_supervisor_reassigns_with_a_deadline(app, session, login_as):
    case = case_in("handling", here())
    client = login_as("shequ01")
    bad = client.post(f"/cases/{case.id}/events/reassign", {
        "version": case.version, "organisation": str(org("邻里").id), "deadline": "2020-01-01T09:00",
        "note": "限期"}, htmx=True)
    assert bad.status_code == 422 and "办理期限必须晚于现在。" in bad.text
    assert control(bad.text, "deadline").get("value") == "2020-01-01T09:00"
    assert "办理期限必须晚于现在。" in block(bad.text, "deadline")
    when = deadline(20)
    response = client.post(f"/cases/{case.id}/events/reassign", {
        "version": case.version, "organisation": str(org("邻里").id), "deadline": when, "note": "限期"}, htmx=True)
    assert response.status_code == 200
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.assigned_org_id) == ("handling", org("邻里").id)
    assert case.stage_due_at == dt.datetime.fromisoformat(when)
    assert db.session.scalar(select(Notification.id).where(
        Notification.user_id == user("hehuo01").id, Notification.case_id == case.id)) is not None


# ---- the dashboard's counts ---------------------------------------------------------------------

def test_reroutes_and_arbitrations_per_community(app, session, login_as):
    """Hand-made: in 青松社区 two re-routes (one by grid staff, one by an arbitration that moved the
    case) and two arbitrations; in 溪畔社区 one re-route; an arbitration keeping the grid is no re-route."""
    qs = db.session.scalars(select(Community).where(Community.name == "青松社区")).one()
    xp = db.session.scalars(select(Community).where(Community.name == "溪畔社区")).one()
    a = case_in("triage", here())
    fire("wangge01", a, "reroute", {"building": str(building_in("wangge02").id), "reason": "wrong_grid"})
    b = in_arbitration()
    fire("shequ01", b, "arbitrate", {"building": str(building_in("wangge03").id), "holder": "grid", "note": "属3网格"})
    c = in_arbitration()
    fire("shequ01", c, "arbitrate", {"building": str(c.building_id), "holder": "leader", "note": "楼栋长协调"})
    d = case_in("triage", _outside_building())
    fire("wangge04", d, "reroute", {"building": str(building_in("wangge05").id), "reason": "wrong_building"})
    today = now().date()
    period = Period(today, today)
    rows = {r.community_id: (r.reroutes, r.arbitrations) for r in
            reports.moves_by_community(user("jiedao"), Scope(), period)}
    assert rows == {qs.id: (2, 2), xp.id: (1, 0)}
    assert [(r.reroutes, r.arbitrations) for r in reports.moves_by_community(user("shequ01"), Scope(), period)] == [
        (2, 2)]
    yesterday = Period(today - dt.timedelta(days=1), today - dt.timedelta(days=1))
    assert reports.moves_by_community(user("jiedao"), Scope(), yesterday) == []
    page = login_as("jiedao").get(f"/reports/?from={today.isoformat()}&to={today.isoformat()}")
    row = parse(page.text).find("tr", id=f"moves-{qs.id}")
    assert row is not None and [td.text.strip() for td in row.find_all("td")] == ["2", "2"]


# ---- the same events from a board card ----------------------------------------------------------

@pytest.mark.parametrize("username,event", [("wangge01", "reroute"), ("shequ01", "arbitrate"),
                                            ("jiedao", "reassign"), ("shequ02", "arbitrate")])
def test_each_new_event_from_a_card(app, session, login_as, username, event):
    """The card offers the event (under "更多…"), its inline form has the choices, and firing it
    answers with the card; a supervisor of another community gets 404, as on the case page."""
    case = _setup(event, True)
    client = login_as(username)
    if username == "shequ02":
        assert client.get(f"/board/cards/{case.id}?actions=all").status_code == 404
        assert client.post(f"/board/cards/{case.id}/events/{event}",
                           {"version": case.version, **_data(event, case, username)}, htmx=True).status_code == 404
        return
    shown = client.get(f"/board/cards/{case.id}?actions=all").text
    assert f"/board/cards/{case.id}/events/{event}" in shown
    form = client.get(f"/board/cards/{case.id}/events/{event}/form", headers={"HX-Request": "true"}).text
    names = {e.get("name") for e in parse(form).iter() if e.tag in ("select", "input", "textarea")}
    assert {"building", "holder", "deadline", "organisation"} & names
    response = client.post(f"/board/cards/{case.id}/events/{event}",
                           {"version": case.version, **_data(event, case, username)}, htmx=True)
    assert response.status_code == 200, response.text[:300]
    assert response.text.lstrip().startswith(f'<article id="card-{case.id}"')
    assert last_event(case.id).event == event

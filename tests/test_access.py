"""The access policy as a matrix: each demo role × a case inside / outside its jurisdiction × view / act.

Then the policy's four questions (scope_clause, can_view, may_fire, events_for) checked against each
other on the whole demo database, so a page, a list and a button can never disagree.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from case_steps import case_in, snapshot, user
from casework import access
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Community, Organisation, User
from casework.models.people import ROLES
from casework.workflow import EVENTS


def _building(where: str) -> Building:
    """Named places of the demo data the matrix needs."""
    if where == "louzhang01":  # a building of louzhang01, in wangge01's grid, served by 万家物业
        return user("louzhang01").buildings[0]
    if where == "g1-other":  # wangge01's grid, but another building leader's building
        mine = {b.id for b in user("louzhang01").buildings}
        return next(b for b in user("wangge01").grids[0].buildings if b.id not in mine)
    if where == "wangge02":
        return user("wangge02").grids[0].buildings[0]
    if where == "other-community":  # 溪畔社区, outside shequ01's community
        community = db.session.scalars(select(Community).where(Community.id != user("shequ01").community_id)
                                       .order_by(Community.id)).first()
        return community.grids[0].buildings[0]
    raise AssertionError(where)


def _org(name: str) -> Organisation:
    return user(name).organisation


# role: (event it fires, state it fires in, org the case is assigned to, inside place, outside place)
# "outside" for jiedao is simply somewhere else: it sees everything. The admin has no case
# jurisdiction at all (三员分立: the system admin does not read residents' cases), inside or out.
MATRIX = {
    "admin": ("sign", "reported", None, "louzhang01", "other-community"),
    "jiedao": ("sign", "reported", None, "louzhang01", "other-community"),
    "shequ01": ("sign", "reported", None, "louzhang01", "other-community"),
    "wangge01": ("sign", "reported", None, "louzhang01", "wangge02"),
    "wangge02": ("sign", "reported", None, "wangge02", "louzhang01"),
    "louzhang01": ("hand_on", "building_leader", None, "louzhang01", "g1-other"),
    "wuye01": ("accept", "handling", "wuye01", "louzhang01", "louzhang01"),
    "hehuo01": ("accept", "handling", "hehuo01", "louzhang01", "louzhang01"),
}
# The handler's "outside" case is the same building, assigned to the other organisation.
OUTSIDE_ORG = {"wuye01": "hehuo01", "hehuo01": "wuye01"}
SEES_ALL = {"jiedao"}
SUPERVISES = {"jiedao", "shequ01"}
SUPERVISOR_EVENTS = {"reroute", "arbitrate", "reassign"}
SEES_NOTHING = {"admin"}
FIRES_NOTHING = {"admin", "jiedao", "shequ01"}


def expected(role: str, inside: bool) -> tuple[int, int]:
    """(status of GET /cases/<id>, status of POSTing the role's event)."""
    visible = role not in SEES_NOTHING and (inside or role in SEES_ALL)
    if not visible:
        return 404, 404
    return 200, (409 if role in FIRES_NOTHING else 200)


def _case_for(role: str, inside: bool) -> Case:
    event, state, org_user, inside_place, outside_place = MATRIX[role]
    organisation = None
    if org_user:
        organisation = _org(org_user if inside else OUTSIDE_ORG[role])
    return case_in(state, _building(inside_place if inside else outside_place), organisation=organisation)


@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
@pytest.mark.parametrize("role", list(MATRIX))
def test_view(app, session, role, inside, login_as):
    """The detail page opens inside the jurisdiction; outside it the case does not exist (404)."""
    case = _case_for(role, inside)
    case_id, number = case.id, case.number
    client = login_as(role)
    want, _ = expected(role, inside)
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == want
    if want == 200:
        assert number in page.text and "楼道灯不亮" in page.text
    else:
        assert number not in page.text and "找不到页面" in page.text
    # The list agrees with the detail page.
    listing = client.get(f"/cases/?q={number}")
    assert listing.status_code == 200
    assert (f'href="/cases/{case_id}"' in listing.text) == (want == 200)
    # So does the inline form of an event: outside the jurisdiction it does not exist either.
    form = client.get(f"/cases/{case_id}/events/return_case/form", headers={"HX-Request": "true"})
    assert (form.status_code == 404) == (want == 404)


@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
@pytest.mark.parametrize("role", list(MATRIX))
def test_act(app, session, role, inside, login_as):
    """Pressing the role's button works only inside its jurisdiction; a refusal changes nothing."""
    case = _case_for(role, inside)
    case_id = case.id
    event = MATRIX[role][0]
    data = {"version": case.version}
    if event == "hand_on":
        data["organisation"] = _org("wuye01").id
    before = snapshot(case_id)
    client = login_as(role)
    _, want = expected(role, inside)
    response = client.post(f"/cases/{case_id}/events/{event}", data, htmx=True)
    assert response.status_code == want
    after = snapshot(case_id)
    if want == 200:
        assert after.version > before.version and after.events == before.events + 1
        last = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                  .order_by(CaseEvent.id.desc())).first()
        assert (last.event, last.actor.username) == (event, role)
        assert response.text.lstrip().startswith(f'<article id="case-{case_id}"')
    else:
        assert after == before
        assert response.headers.get("HX-Retarget") == "#alerts"
        assert "Traceback" not in response.text
        if want == 409:
            assert "您无权在当前状态下执行此操作。" in response.text
        else:
            assert "您要找的内容不存在，或不在您的辖区内。" in response.text


def test_button_shown_exactly_when_allowed(app, session, login_as):
    """The buttons on the page are the events the policy allows this user now, no more."""
    case = case_in("building_leader", _building("louzhang01"))
    for name in MATRIX:
        client = login_as(name)
        page = client.get(f"/cases/{case.id}")
        if page.status_code != 200:
            continue
        shown = {e for e in EVENTS if f"/cases/{case.id}/events/{e}" in page.text}
        db.session.expire_all()
        assert shown == set(access.events_for(user(name), db.session.get(Case, case.id))), name


def test_returned_case_stays_visible_to_the_handler_but_not_actionable(app, session, login_as):
    """After a handler returns a case (退单), it still sees the case, but may do nothing more."""
    case = case_in("handling", _building("louzhang01"), organisation=_org("wuye01"))
    client = login_as("wuye01")
    response = client.post(f"/cases/{case.id}/events/return_case",
                           {"version": case.version, "reason": "not_our_duty", "note": "非物业职责"}, htmx=True)
    assert response.status_code == 200
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "building_leader" and case.assigned_org_id is None
    wuye = user("wuye01")
    assert access.can_view(wuye, case) and access.events_for(wuye, case) == []
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200 and "当前没有您可执行的操作。" in page.text
    refused = client.post(f"/cases/{case.id}/events/report_done", {"version": case.version, "note": "x"}, htmx=True)
    assert refused.status_code == 409


# ---- unit level: the policy's answers agree with each other ----------------------------------

def _all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.id)))


def test_scope_clause_selects_exactly_the_visible_cases(session):
    cases = list(db.session.scalars(select(Case)))
    for u in _all_users():
        by_query = set(db.session.scalars(select(Case.id).where(access.scope_clause(u))))
        by_rule = {c.id for c in cases if access.can_view(u, c)}
        assert by_query == by_rule, u.username
        if u.role == "admin":
            assert by_rule == set(), "the admin reads no case"
        elif u.role == "subdistrict_supervisor":
            assert by_rule == {c.id for c in cases}
        else:
            assert by_rule, f"{u.username} sees no demo case at all"
            assert len(by_rule) < len(cases), f"{u.username} sees everything"


def test_scope_parts_are_disjoint_and_add_up_to_the_scope(session):
    """Boards count and page each part on its own: the parts must cover the scope exactly once."""
    returned_elsewhere = 0
    for u in _all_users():
        parts = [set(db.session.scalars(select(Case.id).where(p))) for p in access.Jurisdiction.of(u).parts()]
        scope = set(db.session.scalars(select(Case.id).where(access.scope_clause(u))))
        assert set().union(*parts) == scope, u.username
        assert sum(map(len, parts)) == len(scope), f"{u.username}: parts overlap"
        if u.role == "handler":
            assert len(parts) == 3  # assigned, returned elsewhere, assisting (协办)
            returned_elsewhere += len(parts[1])
    assert returned_elsewhere, "the demo data has no case returned by a handler and now elsewhere"


def test_jurisdiction_contains_exactly_what_its_clause_selects(session):
    """`contains` (Python) and `clause` (SQL) are one rule: they agree on every demo case for every demo user."""
    cases = list(db.session.scalars(select(Case)))
    users = _all_users()
    assert len({u.role for u in users}) == 6
    for u in users:
        j = access.Jurisdiction.of(u)
        selected = set(db.session.scalars(select(Case.id).where(j.clause())))
        assert {c.id for c in cases if j.contains(c)} == selected, u.username
        if u.role not in ("admin", "subdistrict_supervisor"):
            assert 0 < len(selected) < len(cases), u.username  # the demo data tells a real jurisdiction apart


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_jurisdiction_contains_exactly_what_its_clause_selects(session, data):
    """Not only the demo users': any role with any ids (empty, unknown, several) — Python and SQL agree."""
    cases = list(db.session.scalars(select(Case)))
    pick = lambda values: st.frozensets(st.sampled_from(sorted(values) + [999_999]), max_size=3)  # noqa: E731
    j = access.Jurisdiction(
        role=data.draw(st.sampled_from(ROLES + ("nobody",))),
        user_id=1,
        organisation_id=data.draw(st.none() | st.sampled_from(sorted({c.assigned_org_id for c in cases} - {None}))),
        community_ids=data.draw(pick({c.community_id for c in cases})),
        grid_ids=data.draw(pick({c.grid_id for c in cases})),
        building_ids=data.draw(pick({c.building_id for c in cases})))
    selected = set(db.session.scalars(select(Case.id).where(j.clause())))
    assert {c.id for c in cases if j.contains(c)} == selected
    parts = [set(db.session.scalars(select(Case.id).where(p))) for p in j.parts()]
    assert sum(map(len, parts)) == len(selected) and set().union(*parts) == selected


def test_jurisdiction_is_a_value_with_a_key(session):
    """Built from the user, compared and hashed by value, and keyed by role, viewer and ids."""
    a, b = access.Jurisdiction.of(user("wangge01")), access.Jurisdiction.of(user("wangge01"))
    assert a == b and hash(a) == hash(b) and a.key == b.key
    assert a.grid_ids == frozenset(g.id for g in user("wangge01").grids) and not a.building_ids
    other = access.Jurisdiction.of(user("wangge02"))
    assert other.key != a.key and other.grid_ids != a.grid_ids
    assert access.jurisdiction_of(a) is a
    nobody = access.Jurisdiction(role="grid_staff")
    assert db.session.scalar(select(db.func.count()).select_from(Case).where(nobody.clause())) == 0
    handler = access.Jurisdiction.of(user("wuye01"))
    assert len(handler.parts()) == 3 and handler.organisation_id == user("wuye01").organisation_id


EXPECTED_SCOPES = {
    # the demo grid tree: who sees which part of it
    "shequ01": lambda u, c: c.community_id == u.community_id,
    "wangge01": lambda u, c: c.grid_id == u.grids[0].id,
    "wangge02": lambda u, c: c.grid_id == u.grids[0].id,
    "louzhang01": lambda u, c: c.building_id in {b.id for b in u.buildings},
    "wuye01": lambda u, c: u.organisation_id in (c.assigned_org_id, c.returned_org_id),
    "hehuo01": lambda u, c: u.organisation_id in (c.assigned_org_id, c.returned_org_id),
}


@pytest.mark.parametrize("name", list(EXPECTED_SCOPES))
def test_scope_matches_the_jurisdiction(session, name):
    u = user(name)
    for c in db.session.scalars(select(Case)):
        assert access.can_view(u, c) == EXPECTED_SCOPES[name](u, c), (name, c.number)


def test_may_fire_and_events_for_agree_with_view_and_workflow(session):
    cases = list(db.session.scalars(select(Case)))
    for name in MATRIX:
        u = user(name)
        for c in cases:
            enabled = [e.id for e in c.workflow.enabled_events()]
            allowed = access.events_for(u, c)
            assert sorted(allowed) == sorted(e for e in enabled if access.may_fire(u, c, e)) if c.is_open else allowed == []
            if not access.can_view(u, c):
                assert not any(access.may_fire(u, c, e) for e in EVENTS), (name, c.number)
                assert allowed == []
            if name in FIRES_NOTHING:  # supervisors fire only the moves across levels (test_reroute.py)
                assert set(allowed) <= SUPERVISOR_EVENTS if name in SUPERVISES else allowed == []


def test_events_for_each_role_in_its_own_state(session):
    """What each role may press in the state that is theirs."""
    here = _building("louzhang01")
    wanjia = _org("wuye01")
    cases = {state: case_in(state, here, organisation=wanjia)
             for state in ("reported", "triage", "building_leader", "handling", "resolved")}
    accepted = case_in("handling", here, organisation=wanjia, accepted=True)
    assert access.events_for(user("wangge01"), cases["reported"]) == ["sign", "merge", "reject", "withdraw"]
    assert set(access.events_for(user("wangge01"), cases["triage"])) == {
        "merge", "reject", "withdraw", "dispatch", "dispatch_handler", "resolve", "reroute"}
    assert set(access.events_for(user("louzhang01"), cases["building_leader"])) == {
        "resolve", "hand_on", "return_case"}
    assert set(access.events_for(user("wuye01"), cases["handling"])) == {"accept", "report_done", "return_case"}
    assert set(access.events_for(user("wuye01"), accepted)) == {"report_done", "return_case"}
    assert set(access.events_for(user("wangge01"), cases["resolved"])) == {"close", "reopen"}
    for state, case in cases.items():
        for name in ("admin", "wangge02", "hehuo01"):
            assert access.events_for(user(name), case) == [], (name, state)
        for name in SUPERVISES:  # 督办改派 (and re-routing from triage) inside their jurisdiction
            want = {"triage": {"reroute", "reassign"}, "building_leader": {"reassign"},
                    "handling": {"reassign"}}.get(state, set())
            assert set(access.events_for(user(name), case)) == want, (name, state)
        others = {"wangge01", "louzhang01", "wuye01"} - {
            {"reported": "wangge01", "triage": "wangge01", "building_leader": "louzhang01",
             "handling": "wuye01", "resolved": "wangge01"}[state]}
        for name in others:
            assert access.events_for(user(name), case) == [], (name, state)

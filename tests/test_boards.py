"""Kanban boards: each role's columns and scope, acting from cards, drops, bulk actions, the poll, the cost."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, insert, select

from case_steps import parse, snapshot
from conftest import Client, org, user
from casework import access
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Grid, Organisation, User
from casework.services import boards, transitions
from casework.services.boards import reading
from casework.services.clock import calendar
from casework.timekeeping import now



@pytest.fixture(autouse=True)
def _steady_clock(monkeypatch):
    """The ETag's clock bucket must not roll over between two requests of one test."""
    monkeypatch.setattr(reading, "ETAG_BUCKET_SECONDS", 10**9)


def columns(html: str) -> dict[str, list[int]]:
    """Card ids per column, as the board shows them."""
    return {col.get("data-column"): [int(a.get("id").removeprefix("card-")) for a in col.find_all("article")
                                     if (a.get("id") or "").startswith("card-")]
            for col in parse(html).find_all("div", class_="bcol-cards")}


def card_ids(html: str) -> list[int]:
    """The ids of the cards in a page or fragment, in order."""
    return [int(a.get("id").removeprefix("card-")) for a in parse(html).find_all("article")
            if (a.get("id") or "").startswith("card-")]


def counts(html: str) -> dict[str, int]:
    """The count shown beside each column's heading."""
    out = {}
    for section in parse(html).find_all("section"):
        heading, count = section.find("h2"), section.find("span", class_="bcol-count")
        if heading is not None and count is not None:
            out[heading.get("id").removeprefix("bcol-").removesuffix("-h")] = int(count.text)
    return out


def card_html(html: str, case_id: int) -> str:
    start = html.index(f'<article id="card-{case_id}"')
    return html[start:html.index("</article>", start)]


def version_of(case_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Case, case_id).version


def events_of(case_id: int) -> list[str]:
    return db.session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()


def advance(case: Case, *steps) -> Case:
    """Walk a case through events as the right people, straight through the service."""
    for username, event, data in steps:
        transitions.fire(user(username), case, event, data, version=case.version)
    db.session.commit()
    return case


def wanjia() -> Organisation:
    return org("万家物业")


def at_leader(make_case) -> Case:
    c = make_case(user("louzhang01").buildings[0], by="wangge01")
    return advance(c, ("wangge01", "sign", {}), ("wangge01", "dispatch", {}))


def at_handler(make_case, accepted=False) -> Case:
    c = at_leader(make_case)
    advance(c, ("louzhang01", "hand_on", {"organisation": str(wanjia().id)}))
    if accepted:
        advance(c, ("wuye01", "accept", {}))
    return c


# ---- landing and scope ----------------------------------------------------------------------------

@pytest.mark.parametrize("username,home", [
    ("wangge01", "/board/"), ("louzhang01", "/board/"), ("wuye01", "/board/"), ("hehuo01", "/board/"),
    ("shequ01", "/board/"), ("jiedao", "/board/"), ("admin", "/admin/limits"),
])
def test_each_role_lands_on_its_board(app, session, username, home):
    c = Client(app)
    assert c.login_as(username).headers["Location"] == home


def _expected(username: str) -> dict[str, set[int]]:
    """What each column should hold, worked out here from the cases themselves (not from the board's SQL)."""
    u = user(username)
    cut = now() - dt.timedelta(days=boards.RECENT_DAYS)
    recent = lambda c: c.status == "closed" and c.closed_at is not None and c.closed_at >= cut  # noqa: E731
    # (the board reads "closed within 7 days" from updated_at: closing is a case's last change)
    cases = db.session.scalars(select(Case)).all()
    if u.role == "grid_staff":
        mine = [c for c in cases if c.grid_id in {g.id for g in u.grids}]
    elif u.role == "building_leader":
        mine = [c for c in cases if c.building_id in {b.id for b in u.buildings}]
    elif u.role == "community_supervisor":
        mine = [c for c in cases if c.community_id == u.community_id]
    elif u.role == "handler":
        o = u.organisation_id
        return {
            "to_sign": {c.id for c in cases if c.assigned_org_id == o and c.status == "handling" and not c.handler_accepted_at},
            "in_progress": {c.id for c in cases if c.assigned_org_id == o and c.status == "handling" and c.handler_accepted_at},
            "assisting": {c.id for c in cases if o in access.assisting_orgs(c) and o not in (c.assigned_org_id, c.returned_org_id)
                          and (c.status != "closed" or recent(c))},
            "done": {c.id for c in cases if c.assigned_org_id == o and (c.status == "resolved" or recent(c))},
            "returned": {c.id for c in cases if c.returned_org_id == o and c.assigned_org_id != o
                         and (c.status != "closed" or recent(c))},
        }
    else:
        mine = cases
    by = lambda *s: {c.id for c in mine if c.status in s}  # noqa: E731
    if u.role == "building_leader":
        return {"mine": by("building_leader"), "handed_on": by("handling"), "callback": by("resolved"),
                "closed": {c.id for c in mine if recent(c)}}
    grid = {"new": by("reported"), "triage": by("triage"), "leader": by("building_leader"),
            "handler": by("handling"), "callback": by("resolved"), "closed": {c.id for c in mine if recent(c)}}
    if u.role in ("community_supervisor", "subdistrict_supervisor"):  # their arbitration queue first
        return {"arbitration": by("arbitration"), **grid}
    return grid


@pytest.mark.parametrize("username", ["wangge01", "wangge04", "louzhang01", "wuye01", "hehuo01", "shequ01", "jiedao"])
def test_board_shows_exactly_the_cases_in_scope_in_the_right_columns(login_as, username):
    page = login_as(username).get("/board/")
    assert page.status_code == 200
    expected = _expected(username)
    shown, numbers = columns(page.text), counts(page.text)
    assert list(shown) == list(expected), "the role's columns, in order"
    for key, ids in expected.items():
        assert numbers[key] == len(ids), key
        if len(ids) <= boards.PAGE_SIZE:
            assert set(shown[key]) == ids, key
        else:  # a full column shows one page and offers the rest
            assert len(shown[key]) == boards.PAGE_SIZE and set(shown[key]) <= ids
            assert "显示更多" in page.text
    assert sum(map(len, expected.values())) > 0, "the demo gives every role something to see"


def test_cards_show_what_matters_and_never_the_residents_phone(login_as, make_case):
    case = make_case(title="单元门禁损坏无法关闭", phone="13912345678", priority="urgent")
    page = login_as("wangge01").get("/board/")
    card = card_html(page.text, case.id)
    for text in (case.number, "单元门禁损坏无法关闭", "设施维修", case.building.name, "1单元101", "紧急", "▲"):
        assert text in card
    assert "13912345678" not in page.text and "139****5678" not in page.text
    assert f'id="card-{case.id}"' in page.text and 'hx-target="this"' in card


def test_show_more_loads_the_next_page_of_a_column(login_as):
    client = login_as("jiedao")
    page = client.get("/board/")
    total = counts(page.text)["handler"]
    assert total > boards.PAGE_SIZE
    more = client.get("/board/columns/handler?page=2", headers={"HX-Request": "true"})
    assert more.status_code == 200
    first, second = set(columns(page.text)["handler"]), set(card_ids(more.text))
    assert len(second) == total - boards.PAGE_SIZE and not first & second
    assert client.get("/board/columns/nonsense?page=2").status_code == 404
    assert 'data-page="3"' in more.text or len(second) < boards.PAGE_SIZE


def test_a_refresh_keeps_the_pages_opened_with_show_more(login_as):
    """The live board asks for the pages each column has open, so a change does not fold them away."""
    client = login_as("jiedao")
    headers = {"HX-Request": "true", "HX-Target": "board"}
    first = client.get("/board/", headers=headers)
    total = counts(first.text)["handler"]
    assert total > boards.PAGE_SIZE and 'data-pages="1"' in first.text
    refreshed = client.get("/board/?pages=handler:2", headers=headers)
    shown = columns(refreshed.text)["handler"]
    more = client.get("/board/columns/handler?page=2", headers={"HX-Request": "true"})
    # The same cards as page 1 + "show more", in the same order, and the next button asks for page 3.
    assert shown == columns(first.text)["handler"] + card_ids(more.text)
    assert len(shown) == min(total, 2 * boards.PAGE_SIZE)
    assert 'id="cards-handler" data-column="handler" data-pages="2"' in refreshed.text
    if total > 2 * boards.PAGE_SIZE:
        assert "/board/columns/handler?page=3" in refreshed.text
    # Other columns stay at one page; the ETag is about the data, not the pages shown.
    assert len(columns(refreshed.text)["new"]) <= boards.PAGE_SIZE
    assert refreshed.headers["ETag"] == first.headers["ETag"]


@pytest.mark.parametrize("raw", ["handler:abc", "nosuch:2", "handler", ",,,", "handler:-1", "handler:2:3"])
def test_unreadable_pages_are_ignored(login_as, raw):
    client = login_as("jiedao")
    page = client.get("/board/", query_string={"pages": raw})
    assert page.status_code == 200
    assert len(columns(page.text)["handler"]) == boards.PAGE_SIZE


def test_pages_are_capped(login_as):
    assert boards.parse_pages(user("jiedao"), "handler:999,new:0,triage:3") == {
        "handler": boards.MAX_PAGES, "new": 1, "triage": 3}


def test_filters_live_in_the_url(login_as, make_case):
    case = make_case(title="井盖缺失请尽快处理", category="safety", priority="emergency")
    client = login_as("wangge01")
    page = client.get("/board/?q=井盖缺失&priority=emergency")
    assert columns(page.text)["new"] == [case.id]
    # The poll keeps the filter, so a bookmarked board stays filtered.
    hx_get = parse(page.text).find(id="board").get("hx-get")
    assert hx_get.startswith("/board/?") and "priority=emergency" in hx_get
    other = client.get(f"/board/?q={case.number}&priority=normal")
    assert case.id not in sum(columns(other.text).values(), [])


def test_overdue_only_filter(login_as, make_case):
    late, fresh = make_case(title="超时案件"), make_case(title="未超时案件")
    late.stage_due_at = now() - dt.timedelta(hours=1)
    fresh.stage_due_at = now() + dt.timedelta(days=2)
    db.session.commit()
    page = login_as("wangge01").get("/board/?overdue=1")
    shown = sum(columns(page.text).values(), [])
    assert late.id in shown and fresh.id not in shown
    card = card_html(page.text, late.id)
    assert 'data-due-state="overdue"' in card
    # An hour late reads "超时 1 工作小时" when that hour was working time, "已超时" when none of it was.
    expected = "超时 1 工作小时" if calendar().is_workday(now().date()) else "已超时"  # every suite clock is 10:30
    assert expected in card


# ---- acting from a card ---------------------------------------------------------------------------

def test_sign_from_a_card(login_as, make_case):
    case = make_case()
    client = login_as("wangge01")
    assert f'hx-post="/board/cards/{case.id}/events/sign"' in card_html(client.get("/board/").text, case.id)
    response = client.post(f"/board/cards/{case.id}/events/sign", {"version": case.version}, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<article id="card-{case.id}"')
    assert response.headers["HX-Trigger"] == "board-refresh"
    assert 'data-column="triage"' in response.text
    assert snapshot(case.id)[0] == "triage"
    row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())).first()
    assert (row.event, row.actor.username, row.from_status, row.to_status) == ("sign", "wangge01", "reported", "triage")


def test_event_with_inputs_opens_an_inline_form_and_keeps_typed_input(login_as, make_case):
    case = advance(make_case(), ("wangge01", "sign", {}))
    client = login_as("wangge01")
    form = client.get(f"/board/cards/{case.id}/events/dispatch_handler/form", headers={"HX-Request": "true"})
    assert form.status_code == 200 and 'class="kform"' in form.text and 'name="organisation"' in form.text
    before = snapshot(case.id)
    bad = client.post(f"/board/cards/{case.id}/events/dispatch_handler",
                      {"version": case.version, "note": "请物业尽快处理"}, htmx=True)
    assert bad.status_code == 422
    assert "请选择承办单位" in bad.text and "请物业尽快处理" in bad.text
    assert snapshot(case.id) == before
    ok = client.post(f"/board/cards/{case.id}/events/dispatch_handler",
                     {"version": case.version, "organisation": str(wanjia().id), "note": "直派"}, htmx=True)
    assert ok.status_code == 200 and "万家物业" in ok.text
    db.session.expire_all()
    assert (case.status, case.assigned_org_id) == ("handling", wanjia().id)
    assert events_of(case.id)[-1] == "dispatch_handler"


@pytest.mark.parametrize("who,setup,event,data,status", [
    ("louzhang01", "leader", "hand_on", {"organisation": "WANJIA"}, "handling"),
    ("louzhang01", "leader", "resolve", {"note": "现场协调解决"}, "resolved"),
    ("louzhang01", "leader", "return_case", {"reason": "not_our_duty"}, "triage"),
    ("louzhang01", "leader", "return_case", {"reason": "wrong_jurisdiction"}, "arbitration"),
    ("wuye01", "handler", "accept", {}, "handling"),
    ("wuye01", "handler", "report_done", {"note": "已维修"}, "resolved"),
    ("wuye01", "handler", "return_case", {"reason": "not_our_duty"}, "building_leader"),
])
def test_each_card_action_writes_its_event(login_as, make_case, who, setup, event, data, status):
    case = at_leader(make_case) if setup == "leader" else at_handler(make_case)
    data = {k: (str(wanjia().id) if v == "WANJIA" else v) for k, v in data.items()}
    client = login_as(who)
    # Forward events are buttons on the card; the others (return, ...) come with "更多…".
    shown = card_html(client.get("/board/").text, case.id) + client.get(f"/board/cards/{case.id}?actions=all").text
    assert f"/board/cards/{case.id}/events/{event}" in shown
    response = client.post(f"/board/cards/{case.id}/events/{event}", {"version": case.version, **data}, htmx=True)
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith(f'<article id="card-{case.id}"')
    assert snapshot(case.id)[0] == status
    row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())).first()
    assert (row.event, row.actor.username) == (event, who)


def test_buttons_come_from_the_policy(login_as, make_case):
    case = at_leader(make_case)
    # The grid worker sees the case on the leader column but has nothing to press there.
    card = card_html(login_as("wangge01").get("/board/").text, case.id)
    assert "/events/" not in card and 'kcard-move' not in card
    leader = login_as("louzhang01")
    leader_card = card_html(leader.get("/board/").text, case.id)
    for ev in ("hand_on", "resolve"):
        assert f"/events/{ev}/form" in leader_card
    # Returning to the grid leads off this board: it waits behind "更多…".
    assert "/events/return_case/form" not in leader_card and "更多…" in leader_card
    more = leader.get(f"/board/cards/{case.id}?actions=all", headers={"HX-Request": "true"})
    assert more.text.lstrip().startswith(f'<article id="card-{case.id}"')
    for ev in ("hand_on", "resolve", "return_case"):
        assert f"/events/{ev}/form" in more.text


# ---- drag and drop ("move to…") -------------------------------------------------------------------

def test_drop_on_the_next_column_fires_the_event(login_as, make_case):
    case = make_case()
    client = login_as("wangge01")
    card = card_html(client.get("/board/").text, case.id)
    assert 'data-allowed="triage"' in card
    response = client.post(f"/board/cards/{case.id}/move", {"to": "triage", "version": case.version}, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "board-refresh"
    assert snapshot(case.id)[0] == "triage" and events_of(case.id)[-1] == "sign"
    # Then on to the building leader's column.
    response = client.post(f"/board/cards/{case.id}/move", {"to": "leader", "version": version_of(case.id)}, htmx=True)
    assert response.status_code == 200
    assert snapshot(case.id)[0] == "building_leader" and events_of(case.id)[-1] == "dispatch"


def test_drop_that_needs_input_opens_the_form_first(login_as, make_case):
    case = at_handler(make_case, accepted=True)
    client = login_as("wuye01")
    card = card_html(client.get("/board/").text, case.id)
    assert 'data-allowed="done returned"' in card and 'data-form-targets="done returned"' in card
    before = snapshot(case.id)
    response = client.post(f"/board/cards/{case.id}/move", {"to": "done", "version": case.version}, htmx=True)
    assert response.status_code == 200 and 'class="kform"' in response.text
    assert 'name="to" value="done"' in response.text
    assert snapshot(case.id) == before
    done = client.post(f"/board/cards/{case.id}/events/report_done",
                       {"version": case.version, "note": "已修好", "to": "done"}, htmx=True)
    assert done.status_code == 200 and snapshot(case.id)[0] == "resolved"


def _assert_refused(response, *words):
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#alerts"
    assert response.headers["HX-Trigger"] == "board-refresh", "the board re-reads the database: the card snaps back"
    for w in words:
        assert w in response.text


def test_refused_drop_wrong_column(login_as, make_case):
    case = make_case()
    client = login_as("wangge01")
    before = snapshot(case.id)
    _assert_refused(client.post(f"/board/cards/{case.id}/move", {"to": "closed", "version": case.version}, htmx=True),
                    "不能把这件案件移到", "近7天办结")
    _assert_refused(client.post(f"/board/cards/{case.id}/move", {"to": "new", "version": case.version}, htmx=True),
                    "已经在")
    _assert_refused(client.post(f"/board/cards/{case.id}/move", {"to": "nowhere", "version": case.version}, htmx=True),
                    "没有这一列")
    assert snapshot(case.id) == before


def test_refused_drop_wrong_role(login_as, make_case):
    case = at_leader(make_case)
    before = snapshot(case.id)
    # The grid worker sees the card in the leader column but cannot hand it on.
    _assert_refused(login_as("wangge01").post(f"/board/cards/{case.id}/move",
                                             {"to": "handler", "version": case.version}, htmx=True), "不能把这件案件")
    # A handler of another organisation does not even see it.
    assert login_as("wuye02").post(f"/board/cards/{case.id}/move",
                                  {"to": "in_progress", "version": case.version}, htmx=True).status_code == 404
    assert snapshot(case.id) == before


def test_refused_drop_stale_version(login_as, make_case):
    case = make_case()
    seen = case.version
    advance(case, ("wangge01", "sign", {}))
    before = snapshot(case.id)
    client = login_as("wangge01")
    _assert_refused(client.post(f"/board/cards/{case.id}/move", {"to": "leader", "version": seen}, htmx=True),
                    "请刷新后再操作")
    # A stale drop onto a column whose event needs a form is refused too, before the form opens.
    _assert_refused(client.post(f"/board/cards/{case.id}/move", {"to": "handler", "version": seen}, htmx=True),
                    "请刷新后再操作")
    assert snapshot(case.id) == before


def test_drop_that_would_land_elsewhere_is_refused(login_as, make_case):
    """A call-back 'not solved' on a case no handler worked goes back to triage, not to the handler column."""
    case = advance(make_case(), ("wangge01", "sign", {}), ("wangge01", "resolve", {"note": "就地解决"}))
    client = login_as("wangge01")
    card = card_html(client.get("/board/").text, case.id)
    assert "handler" not in card.split('data-allowed="')[1].split('"')[0]
    before = snapshot(case.id)
    bad = client.post(f"/board/cards/{case.id}/events/reopen",
                      {"version": case.version, "note": "仍未解决", "to": "handler"}, htmx=True)
    _assert_refused(bad, "请用卡片上的按钮")
    assert snapshot(case.id) == before


# ---- bulk --------------------------------------------------------------------------------------------

def test_grid_staff_sign_several_at_once(login_as, make_case):
    a, b, c = make_case(title="批量一"), make_case(title="批量二"), make_case(title="批量三")
    stale = c.version
    advance(c, ("wangge01", "sign", {}))
    response = login_as("wangge01").post("/board/bulk/sign", {"cases": [f"{a.id}:{a.version}", f"{b.id}:{b.version}",
                                                                       f"{c.id}:{stale}"]}, htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#alerts" and response.headers["HX-Trigger"] == "board-refresh"
    assert "已签收 2 件" in response.text and c.number in response.text and "请刷新后再操作" in response.text
    assert snapshot(a.id)[0] == snapshot(b.id)[0] == "triage"
    assert events_of(a.id) == events_of(b.id) == ["report", "sign"]
    assert events_of(c.id) == ["report", "sign"], "the stale one was not signed twice"


def test_bulk_sign_ignores_cases_outside_scope(login_as, make_case):
    theirs = make_case(user("wangge04").grids[0].buildings[0], by="wangge04")
    response = login_as("wangge01").post("/board/bulk/sign", {"cases": [f"{theirs.id}:{theirs.version}"]}, htmx=True)
    assert response.status_code == 409 and "不在您的辖区内" in response.text
    assert snapshot(theirs.id)[0] == "reported"
    assert login_as("wangge01").post("/board/bulk/sign", {}, htmx=True).status_code == 422


def test_supervisor_urges_several(login_as, make_case):
    a, b = make_case(title="催办一"), at_handler(make_case)
    closed = db.session.scalars(select(Case).where(Case.status == "closed", Case.community_id == a.community_id)).first()
    client = login_as("shequ01")
    page = client.get("/board/")
    assert 'form="board-bulk"' in card_html(page.text, a.id) and 'id="board-bulk"' in page.text
    before = snapshot(a.id)
    response = client.post("/board/bulk/urge", {"cases": [f"{a.id}:{a.version}", f"{b.id}:{b.version}",
                                                          f"{closed.id}:{closed.version}"], "note": "请今天内办结"},
                           htmx=True)
    assert response.status_code == 200 and "已催办 2 件" in response.text and closed.number in response.text
    for case in (a, b):
        row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())).first()
        assert (row.kind, row.event, row.note, row.public, row.actor.username) == ("urge", "urge", "请今天内办结", False, "shequ01")
    assert snapshot(a.id)[:2] == before[:2], "an urge does not move the case"
    assert login_as("wangge01").post("/board/bulk/urge", {"cases": [f"{a.id}:1"]}, htmx=True).status_code == 403
    # Another community's supervisor cannot urge it.
    other = login_as("shequ02").post("/board/bulk/urge", {"cases": [f"{a.id}:{a.version}"]}, htmx=True)
    assert other.status_code == 409 and events_of(a.id).count("urge") == 1


# ---- live: the conditional poll ----------------------------------------------------------------------

def test_poll_answers_304_until_something_in_scope_changes(login_as, make_case):
    client = login_as("wangge01")
    headers = {"HX-Request": "true", "HX-Target": "board"}
    first = client.get("/board/", headers=headers)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and first.text.lstrip().startswith('<section id="board"')
    assert "HX-Request" in first.headers["Vary"]
    assert f'data-etag="{tag.strip(chr(34))}"' in first.text
    again = client.get("/board/", headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""

    # A change outside the user's scope changes nothing here.
    advance(make_case(user("wangge04").grids[0].buildings[0], by="wangge04"), ("wangge04", "sign", {}))
    assert client.get("/board/", headers={**headers, "If-None-Match": tag}).status_code == 304

    # Someone else signs a case in scope: the next poll brings it, in its new column.
    case = make_case(title="他人刚签收")
    advance(case, ("wangge01", "sign", {}))
    changed = client.get("/board/", headers={**headers, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert case.id in columns(changed.text)["triage"]


def test_two_changes_in_the_same_second_both_show(login_as, make_case):
    a, b = make_case(), make_case()
    client = login_as("wangge01")
    advance(a, ("wangge01", "sign", {}))
    tag = client.get("/board/").headers["ETag"]
    advance(b, ("wangge01", "sign", {}))  # same updated_at second, same count, same max id
    assert client.get("/board/", headers={"If-None-Match": tag}).status_code == 200


def test_etag_depends_on_filters_and_language(login_as):
    client = login_as("wangge01")
    plain = client.get("/board/").headers["ETag"]
    assert client.get("/board/?priority=urgent").headers["ETag"] != plain
    client.post("/lang/en", {"next": "/board/"})
    assert client.get("/board/").headers["ETag"] != plain


def test_a_board_left_open_all_day_keeps_its_csrf_token(app):
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None


# ---- fast: a fixed number of queries -----------------------------------------------------------------

def _bulk_cases(grid: Grid, building: Building, n: int) -> None:
    """n cases spread over every column, inserted in one statement."""
    statuses = ["reported", "triage", "building_leader", "handling", "resolved", "closed"]
    category_id = db.session.scalar(select(func.min(Case.category_id)))
    at = now()
    rows = []
    for i in range(n):
        status = statuses[i % len(statuses)]
        rows.append(dict(
            number=f"QC-{secrets.token_hex(6)}", tracking_code=secrets.token_hex(6), title=f"批量案件{i}",
            description="", category_id=category_id, priority=["normal", "urgent", "emergency"][i % 3],
            channel="phone", building_id=building.id, grid_id=grid.id, community_id=grid.community_id,
            unit="1单元", status=status, assigned_org_id=building.property_company_id if status in ("handling", "resolved", "closed") else None,
            return_count=i % 2, via_leader=True, created_at=at, updated_at=at - dt.timedelta(minutes=i),
            stage_started_at=at, closed_at=at if status == "closed" else None, version=1,
        ))
    db.session.execute(insert(Case), rows)
    db.session.commit()


def test_board_costs_the_same_number_of_queries_for_10_and_500_cases(app, login_as, query_counter):
    grid = db.session.scalars(select(Grid).order_by(Grid.id)).first()
    building = Building(grid=grid, name="测速楼", address="测速路1号",
                        property_company_id=grid.buildings[0].property_company_id)
    fresh_grid = Grid(community_id=grid.community_id, code="QC01", name="测速网格")
    building.grid = fresh_grid
    staff = User(username="cesu01", display_name="测速网格员", role="grid_staff", grids=[fresh_grid])
    staff.set_password("demo")
    db.session.add_all([fresh_grid, building, staff])
    db.session.commit()
    _bulk_cases(fresh_grid, building, 10)
    client = login_as("cesu01")
    with query_counter as small:
        page = client.get("/board/")
    assert sum(counts(page.text).values()) == 10
    _bulk_cases(fresh_grid, building, 490)
    with query_counter as big:
        page = client.get("/board/")
    assert sum(counts(page.text).values()) == 500
    assert sum(map(len, columns(page.text).values())) == 6 * boards.PAGE_SIZE
    assert big.count == small.count, (small.count, big.count)
    # 17: the user and their grids, the scope counters (ETag), counts, page ids, cards, the names of
    # categories / buildings / organisations (twice: cards and filters), assisting parts (协办 marks),
    # the call-back quotes (done notes, 重办 reasons), the unread bell, and the test's SAVEPOINT.
    assert big.count <= 17, "\n".join(big.statements)
    # The poll that finds nothing new is a single aggregate query.
    tag = page.headers["ETag"]
    with query_counter as poll:
        assert client.get("/board/", headers={"If-None-Match": tag}).status_code == 304
    assert poll.count <= 3


def test_columns_sort_by_due_time(login_as, make_case):
    """sort=due puts the soonest stage due time first; the default is the longest waiting first."""
    first, second = make_case(title="先到"), make_case(title="后到")
    first.stage_due_at = now() + dt.timedelta(days=3)
    second.stage_due_at = now() + dt.timedelta(hours=1)
    db.session.commit()
    client = login_as("wangge01")
    default = columns(client.get("/board/?q=SX-&category=").text)["new"]
    assert default.index(first.id) < default.index(second.id)
    by_due = columns(client.get("/board/?sort=due").text)["new"]
    assert by_due.index(second.id) < by_due.index(first.id)
    # Every card with a due time shows the badge from the clock service.
    page = client.get("/board/?sort=due").text
    assert 'data-due-state="' in card_html(page, second.id)

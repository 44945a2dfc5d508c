"""The board's poll (issue 14): an ETag from per-scope change counters, one statement besides the user.

Every kind of write changes the ETag of exactly the boards that show the case it wrote (before or
after the write), and no other; a rolled-back write changes none; a 304 costs two statements.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from case_steps import case_in, handler_of, leader_of, new_case, parse, staff_of
from conftest import user
from casework import access
from casework.access import CASE_COUNTER_COLUMNS, Jurisdiction, case_counter_keys
from casework.extensions import db
from casework.models import Building, Case, Category, Grid, User
from casework.services import escalation, queries, residents, structure, timeliness, transitions
from casework.services.boards import changes, reading
from casework.timekeeping import now


@pytest.fixture(autouse=True)
def _steady_clock(monkeypatch):
    """The ETag's clock bucket must not roll over between two readings of one test."""
    monkeypatch.setattr(reading, "ETAG_BUCKET_SECONDS", 10**9)


def board_users() -> list[User]:
    return [u for u in db.session.scalars(select(User).order_by(User.id)) if access.may_use_board(u) and u.active]


def tags() -> dict[str, str]:
    """Every board user's unfiltered board ETag now."""
    f = queries.CaseFilters.from_args({})
    return {u.username: reading.etag(Jurisdiction.of(u), f, at=now()) for u in board_users()}


def values(case: Case) -> dict:
    return {name: getattr(case, name) for name in CASE_COUNTER_COLUMNS}


def seen_by(*snapshots: dict) -> set[str]:
    """The users whose board shows a case with any of these column values."""
    return {u.username for u in board_users()
            if any(Jurisdiction.of(u).contains(SimpleNamespace(**v)) for v in snapshots)}


def changed(before: dict[str, str]) -> set[str]:
    after = tags()
    return {name for name, tag in before.items() if after[name] != tag}


def test_every_users_counter_keys_meet_every_case_they_may_see(session):
    """What the ETag relies on: `counter_keys` (viewer) and `case_counter_keys` (case) agree with `contains`."""
    cases = db.session.scalars(select(Case)).all()
    communities = {c.community_id for c in cases}
    for u in board_users():
        j = Jurisdiction.of(u)
        keys = {(k, i) for k, i in j.counter_keys() if i is not None}
        keys |= {(k, c) for k, i in j.counter_keys() if i is None for c in communities}
        for case in cases:
            meets = bool(keys & case_counter_keys(values(case)))
            assert meets == j.contains(case), (u.username, case.id)


def building_of(username: str) -> Building:
    u = user(username)
    return u.buildings[0] if u.buildings else u.grids[0].buildings[0]


def fire(actor: User, case: Case, event: str, **data):
    transitions.fire(actor, case, event, data, version=case.version)
    db.session.commit()


@pytest.mark.parametrize("step", ["intake", "sign", "dispatch", "hand_on", "accept", "report_done",
                                  "return_case", "close", "urge", "extension"])
def test_each_write_changes_exactly_the_boards_that_show_it(session, step):
    building = building_of("louzhang01")
    org = building.property_company
    start = {"intake": None, "sign": "reported", "dispatch": "triage", "hand_on": "building_leader",
             "accept": "handling", "report_done": "handling", "return_case": "handling", "close": "resolved",
             "urge": "triage", "extension": "handling"}[step]
    case = case_in(start, building, accepted=step in ("report_done", "extension")) if start else None
    seen_before = values(case) if case else None
    before = tags()
    if step == "intake":
        case = new_case(building)
    elif step == "urge":
        escalation.urge(user("shequ01"), [case], "请尽快")
        db.session.commit()
    elif step == "extension":
        timeliness.request_extension(handler_of(org), case, kind="extend", hours="8", reason="等配件", version=case.version)
        db.session.commit()
    else:
        actor = {"sign": staff_of(building), "dispatch": staff_of(building), "hand_on": leader_of(building),
                 "close": staff_of(building)}.get(step) or handler_of(org)
        fire(actor, case, step, organisation=str(org.id), note="说明", reason="not_our_duty",
             satisfaction="satisfied")
    expected = seen_by(*([seen_before] if seen_before else []), values(case))
    assert "jiedao" in expected and "wangge01" in expected and "wangge04" not in expected
    assert changed(before) == expected


def counter(kind: str, i: int) -> int:
    return db.session.scalar(select(changes.ScopeCounter.value).where(changes.ScopeCounter.kind == kind,
                                                                       changes.ScopeCounter.id == i)) or 0


def test_a_building_moved_to_another_grid_changes_both_grids_boards(session):
    building = building_of("louzhang01")
    case = case_in("triage", building)
    old_grid = case.grid_id
    other = db.session.scalars(select(Grid).where(Grid.id != building.grid_id, Grid.community_id == building.grid.community_id)
                               .order_by(Grid.id)).first()
    before, counts = tags(), (counter("grid", old_grid), counter("grid", other.id))
    structure.move_building(None, building, other, building.property_company_id)
    db.session.commit()
    db.session.refresh(case)
    assert case.grid_id == other.id
    # The case left one grid's board and entered the other's: both grids' counters moved on; the
    # building row changed too (its grid is on every card's place line), so every board refreshes.
    assert (counter("grid", old_grid), counter("grid", other.id)) == (counts[0] + 1, counts[1] + 1)
    assert changed(before) == set(before)


def test_names_and_bulk_statements_change_every_board(session):
    before = tags()
    category = db.session.scalars(select(Category).order_by(Category.id)).first()
    category.name_zh = category.name_zh + "（改）"
    db.session.commit()
    assert changed(before) == set(before)
    before = tags()
    residents.purge_personal_data(retention_days=0)
    db.session.commit()
    assert changed(before) == set(before)


def test_a_rolled_back_write_changes_no_board(session):
    case = case_in("reported", building_of("louzhang01"))
    before = tags()
    transitions.fire(staff_of(case.building), case, "sign", {}, version=case.version)
    db.session.flush()
    db.session.rollback()
    assert changed(before) == set()


def test_counters_read_by_primary_key_add_up(session):
    """Each committed case write adds one to each of its counters, once per transaction."""
    case = case_in("reported", building_of("louzhang01"))
    keys = changes.keys_of([case])
    def current():
        return {(k, i): v for k, i, v in db.session.execute(select(*changes.ScopeCounter.__table__.c))
                if (k, i) in keys}
    first = current()
    fire(staff_of(case.building), case, "sign")
    assert {k: v - first.get(k, 0) for k, v in current().items()} == {k: 1 for k in keys}


@pytest.mark.parametrize("username", ["wangge01", "louzhang01", "wuye01", "shequ01", "jiedao"])
def test_a_304_poll_is_two_statements(login_as, query_counter, username):
    client = login_as(username)
    headers = {"HX-Request": "true", "HX-Target": "board", "HX-Trigger": "board"}
    tag = client.get("/board/", headers=headers).headers["ETag"]
    with query_counter as poll:
        response = client.get("/board/", headers={**headers, "If-None-Match": tag})
    assert response.status_code == 304 and response.data == b""
    # The user with their grids and buildings (one statement), the viewer's change counters (one).
    assert poll.count <= 2, poll.count


# ---- lighter cards: the "移到…" menu is fetched when opened ------------------------------------------

def card_of(html: str, case_id: int):
    return parse(html).find("article", id=f"card-{case_id}")


def test_the_move_menu_is_fetched_when_opened(login_as, make_case):
    case = make_case(title="移到测试")
    client = login_as("wangge01")
    card = card_of(client.get("/board/").text, case.id)
    assert card.find("select") is None
    opener = card.find("button", class_="btn btn-small kcard-move-open")
    assert opener.text == "移到…" and opener.get("hx-get") == f"/board/cards/{case.id}?menu=move"
    # Opened: the card again, now with the menu of the columns this user may move it to.
    opened = client.get(opener.get("hx-get"), headers={"HX-Request": "true"})
    assert opened.status_code == 200
    menu = card_of(opened.text, case.id).find("select", name="to")
    assert [o.get("value") for o in menu.find_all("option")] == ["", "triage"]
    assert menu.get("hx-post") == f"/board/cards/{case.id}/move" and "autofocus" in menu.attrs
    # Choosing from it posts the move (with the CSRF header and the version the card carries).
    moved = client.post(menu.get("hx-post"), {"to": "triage", "version": card.get("data-version")}, htmx=True)
    assert moved.status_code == 200 and db.session.get(Case, case.id).status == "triage"
    assert client.post(menu.get("hx-post"), {"to": "triage", "version": card.get("data-version")}, htmx=True,
                       csrf=False).status_code == 400


def test_the_move_menu_is_not_shown_outside_the_jurisdiction(login_as, make_case):
    case = make_case(title="别人的")
    assert login_as("wangge04").get(f"/board/cards/{case.id}?menu=move").status_code == 404
    # The supervisor sees the card but may not move it: no menu, no button.
    supervisor = login_as("shequ01").get(f"/board/cards/{case.id}?menu=move")
    assert supervisor.status_code == 200 and 'kcard-move' not in supervisor.text


def test_board_cards_are_light(login_as):
    """No card carries a form control but its buttons (and a bulk tick); a card (with its share of the columns) stays under 1.6 kB."""
    for username in ("wangge01", "jiedao", "wuye01"):
        page = login_as(username).get("/board/", headers={"HX-Request": "true", "HX-Target": "board"})
        cards = parse(page.text).find_all("article")
        assert cards and not parse(page.text).find_all("select")
        assert len(page.data) / len(cards) < 1600, (username, len(page.data) / len(cards))
        packed = login_as(username).get("/board/", headers={"Accept-Encoding": "br"})
        assert len(packed.data) < 60_000

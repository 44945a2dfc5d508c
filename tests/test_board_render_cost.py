"""The board's per-render shortcuts give exactly what the per-card computations gave.

Three shortcuts (issue #14, docs/benchmarks.md "Fourth round"): the policy asked once per class
of cards (`reading.policy_class`), due badges from the calendar's memoized cumulative working time
(`WorkingCalendar.working_from_origin`, one calendar per content per process), and the counts and
page-id statements composed once and kept (`reading._statement`, the recent-closed window bound
as a parameter). Each test compares the shortcut with the computation it replaces, on the demo
data of every role, and the boards' HTML byte for byte.
"""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select

from conftest import user
from casework.access import Jurisdiction
from casework.extensions import db
from casework.models import Case
from casework.services import boards, clock
from casework.services.boards import reading
from casework.services.queries import CaseFilters
from casework.timekeeping import WorkingCalendar, now, time_left, working_time_between

USERS = ["wangge01", "wangge04", "louzhang01", "wuye01", "hehuo01", "shequ01", "jiedao"]
ALL_PAGES = {key: boards.MAX_PAGES for key in ("new", "triage", "leader", "handler", "callback", "closed", "arbitration",
                                               "mine", "handed_on", "to_sign", "in_progress", "assisting", "done",
                                               "returned")}


@pytest.fixture(autouse=True)
def _steady_clock(monkeypatch):
    """The ETag's clock bucket must not roll over between two renders of one test."""
    monkeypatch.setattr(reading, "ETAG_BUCKET_SECONDS", 10**9)


def per_card_policy(monkeypatch) -> None:
    """The old computation: every card its own class (the policy asked per card)."""
    monkeypatch.setattr(reading, "policy_class", lambda j, case, key: (case.id, key))


def direct_working_time(monkeypatch) -> None:
    """The old computation: due badges through `time_left` on a calendar built for the request."""
    monkeypatch.setattr(clock, "_left", time_left)
    monkeypatch.setattr(clock, "shared_calendar", lambda cal: cal)


def fresh_statements(monkeypatch) -> None:
    """The old computation: board statements composed afresh with the instant as a value."""
    monkeypatch.setattr(reading, "_filters_key", lambda f: None)


# ---- the policy per class of cards ----------------------------------------------------------------

@pytest.mark.parametrize("username", USERS)
def test_classed_cards_get_what_the_policy_gives_each_card(app, session, username):
    j = Jurisdiction.of(user(username))
    board = boards.load_board(j, CaseFilters(), pages={k: v for k, v in ALL_PAGES.items() if boards.column(j, k)})
    cards = [v for col in board.columns for v in col.cards]
    assert cards, "the demo gives every role cards"
    classes = {reading.policy_class(j, v.case, v.column) for v in cards}
    for v in cards:
        orm = db.session.get(Case, v.case.id)
        for case in (v.case, orm):  # the snapshot and the ORM row alike
            alone = boards.card_view(j, case, v.column, v.assist)
            assert (v.events, v.moves, v.pick, v.assist) == (alone.events, alone.moves, alone.pick, alone.assist), v.case.id
    assert len(classes) < len(cards), "cards share classes (that is the point)"


def test_cards_of_one_class_differ_only_by_the_case(app, session, make_case):
    """Two cases in one class, one of them out of the viewer's own role: the relation splits the class."""
    j = Jurisdiction.of(user("wangge01"))
    mine = make_case()
    other_grid = next(c for c in db.session.scalars(select(Case).where(Case.status == "reported"))
                      if c.grid_id not in j.grid_ids)
    assert reading.policy_class(j, mine, "new") != reading.policy_class(j, other_grid, "new")
    assert boards.card_view(j, mine, "new").events != boards.card_view(j, other_grid, "new").events


# ---- due badges from cumulative working time ------------------------------------------------------

def test_working_time_as_a_difference_equals_the_direct_computation():
    rng = random.Random(14)
    base = dt.datetime(2026, 1, 1)
    overrides = {dt.date(2026, 2, 14): True, dt.date(2026, 3, 2): False, dt.date(2027, 1, 4): False}
    for cal in (WorkingCalendar(), WorkingCalendar(overrides=overrides)):
        for _ in range(2000):
            a = base + dt.timedelta(seconds=rng.randrange(0, 800 * 86400))
            b = a + dt.timedelta(seconds=rng.randrange(-90 * 86400, 90 * 86400))
            assert cal.working_between(a, b) == working_time_between(cal, a, b), (a, b)
        # whole days and period edges, where the clipped ends meet
        for day in range(0, 30):
            for t in ("08:30", "12:00", "13:30", "17:30", "00:00", "23:59:59"):
                a = dt.datetime.combine(base.date() + dt.timedelta(days=day), dt.time.fromisoformat(t))
                b = a + dt.timedelta(days=3, hours=1)
                assert cal.working_between(a, b) == working_time_between(cal, a, b)


def test_a_shared_calendar_is_one_of_equal_content():
    one, same, other = WorkingCalendar(), WorkingCalendar(), WorkingCalendar(overrides={dt.date(2026, 10, 10): True})
    assert clock.shared_calendar(one) is clock.shared_calendar(same)
    assert clock.shared_calendar(other) is not clock.shared_calendar(one)


def _badge_directly(case, at, cal, warn_ratio, hours_per_day):
    """clock.badge as it was: time_left on the calendar, per card."""
    from casework.timekeeping import format_span
    if case.status == "closed" or case.stage_due_at is None:
        return clock.Badge("none")
    wall = case.priority == "emergency"
    if case.parked_at is not None:
        if not clock.is_late(case, at):
            return clock.Badge("parked")
        stop = min(at, case.parked_at)
        amount, unit = format_span(time_left(cal, case.stage_due_at, stop, wall), 24 if wall else hours_per_day)
        return clock.Badge("parked", amount, unit)
    due = case.stage_due_at
    left = time_left(cal, due, at, wall)
    if at > due:
        state = "overdue"
    else:
        allowed = time_left(cal, due, case.stage_started_at, wall)
        state = "due_soon" if left < allowed * warn_ratio else "on_time"
    amount, unit = format_span(abs(left), 24 if wall else hours_per_day)
    return clock.Badge(state, amount, unit)


@pytest.mark.parametrize("hours_later", [0, 3, 26, 24 * 9])
def test_due_badges_equal_the_per_card_computation(app, session, hours_later):
    at = now() + dt.timedelta(hours=hours_later)
    cal = clock.calendar()
    _cal, warn_ratio, hours_per_day = clock.badge_context()
    cases = db.session.scalars(select(Case).where(Case.status != "closed", Case.stage_due_at.is_not(None))).all()
    states = set()
    for case in cases:
        expected = _badge_directly(case, at, cal, warn_ratio, hours_per_day)
        assert clock.badge(case, at) == expected, case.id
        states.add(expected.state)
    assert len(states) >= 2, states


# ---- statements kept per process ------------------------------------------------------------------

@pytest.mark.parametrize("days_later", [0, 3, 8])
def test_kept_statements_follow_the_clock_and_match_fresh_ones(app, session, days_later, monkeypatch):
    """The recently-closed window is a parameter of the kept statement: moving the clock moves it."""
    at = now() + dt.timedelta(days=days_later)
    for username in USERS:
        j = Jurisdiction.of(user(username))
        boards.load_board(j, CaseFilters(), at=now())  # kept at one instant...
        kept = boards.load_board(j, CaseFilters(), at=at)  # ...and used at another
        with monkeypatch.context() as m:
            fresh_statements(m)
            fresh = boards.load_board(j, CaseFilters(), at=at)
        assert [(c.key, c.count, [v.case.id for v in c.cards]) for c in kept.columns] == \
               [(c.key, c.count, [v.case.id for v in c.cards]) for c in fresh.columns], username


def test_overdue_filter_is_never_kept(app, session):
    j = Jurisdiction.of(user("wangge01"))
    assert reading._filters_key(CaseFilters(overdue=True)) is None
    boards.load_board(j, CaseFilters(overdue=True))
    assert not [k for k in reading._STATEMENTS if k[2] is None]


def test_colleagues_of_one_scope_share_the_kept_statements(app, session):
    me = Jurisdiction.of(user("wangge01"))
    colleague = Jurisdiction(role=me.role, user_id=(me.user_id or 0) + 1000, grid_ids=me.grid_ids)
    reading._STATEMENTS.clear()
    boards.load_board(me, CaseFilters())
    kept = len(reading._STATEMENTS)
    assert kept == 2  # counts and page ids
    boards.load_board(colleague, CaseFilters())
    assert len(reading._STATEMENTS) == kept


# ---- the whole board, byte for byte ---------------------------------------------------------------

@pytest.mark.parametrize("username", USERS)
def test_board_html_is_byte_identical_to_the_per_card_computation(app, login_as, username, monkeypatch):
    client = login_as(username)
    app.extensions["casework_card_cache"] = None
    shortcut = client.get("/board/")
    assert shortcut.status_code == 200
    again = client.get("/board/")  # from the card cache and the kept statements
    with monkeypatch.context() as m:
        per_card_policy(m)
        direct_working_time(m)
        fresh_statements(m)
        m.setitem(app.config, "BOARD_CARD_CACHE_SIZE", 0)
        m.setitem(app.extensions, "casework_card_cache", None)
        old = client.get("/board/")
    assert old.status_code == 200
    assert shortcut.data == old.data == again.data
    assert b'<article id="card-' in old.data

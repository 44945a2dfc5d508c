"""The board's card cache (casework/boards/cards.py): reused cards, never stale ones.

Every test looks at what the user sees (a card's HTML on the board) and at the cache's counters.
Each test gets its own empty cache, built from the config on the first board render like the
app's own; time is frozen wherever two renders are compared, so a card only changes when its
data, its viewer or the clock does.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import render_template
from sqlalchemy import update

from case_steps import parse
from test_boards import at_handler, card_html, card_ids, columns, version_of, wanjia
from casework.boards import cards
from casework.boards.views import card_words
from casework.services.boards import CardView, MoveOption, Names
from casework.ui import DueView
from casework.extensions import db
from casework.models import Building, Case, Category

CN = ZoneInfo("Asia/Shanghai")
CACHE = "casework_card_cache"  # the cache's key in app.extensions
ROOMY = 1000  # a cache size with room for a whole board (6 columns of 50 cards)


@pytest.fixture(autouse=True)
def fresh_cache(app, monkeypatch):
    """An empty cache per test, created from the config by the first board render (the shared one is put back)."""
    monkeypatch.setitem(app.extensions, CACHE, None)


def frozen(at: dt.datetime | None = None):
    """Stop the clock (China time; now by default). Log in inside it: a session from "the future" is refused."""
    return time_machine.travel(at or dt.datetime.now(CN).replace(microsecond=0), tick=False)


def board(client) -> str:
    page = client.get("/board/")
    assert page.status_code == 200
    return page.text


def counters() -> tuple[int, int]:
    c = cards.cache()
    return c.hits, c.misses


def age_of(card: str) -> str:
    """The card's age as labelled on it ("已报 3小时")."""
    return " ".join(parse(card).find(class_="kage").text.split())


def due_of(card: str) -> tuple[str, str] | None:
    badge = parse(card).find(data_due_state=True)
    return (badge.get("data-due-state"), badge.text) if badge is not None else None


def use_cache_size(app, monkeypatch, size: int) -> None:
    """BOARD_CARD_CACHE_SIZE = size, and a new cache that the next render builds from it."""
    monkeypatch.setitem(app.config, "BOARD_CARD_CACHE_SIZE", size)
    monkeypatch.setitem(app.extensions, CACHE, None)


# ---- reuse ----------------------------------------------------------------------------------------

def test_second_render_reuses_every_card_and_matches_a_fresh_render(login_as, make_case):
    """The second render is all hits, and what it serves is byte for byte what rendering afresh gives."""
    with frozen():
        make_case(title="缓存复用")
        client = login_as("wangge01")
        first = board(client)
        n = len(card_ids(first))
        assert n > 10 and counters() == (0, n) and len(cards.cache()) == n
        second = board(client)
        assert counters() == (n, n), "every card reused, none rendered again"
        assert second == first
        cards.cache().clear()
        fresh = board(client)
        assert counters() == (0, n)
        assert second == fresh


# ---- never stale: data ------------------------------------------------------------------------------

def test_case_changed_through_the_app_shows_its_new_state(login_as, make_case):
    """Signed from its card: next render shows it in triage with the new version and the next buttons."""
    with frozen():
        case = make_case(title="签收后换列")
        client = login_as("wangge01")
        before = board(client)
        old = card_html(before, case.id)
        seen = case.version
        assert 'data-column="new"' in old and f'data-version="{seen}"' in old and '/events/sign"' in old
        signed = client.post(f"/board/cards/{case.id}/events/sign", {"version": seen}, htmx=True)
        assert signed.status_code == 200
        version = version_of(case.id)
        assert version == seen + 1
        hits, misses = counters()
        after = board(client)
        card = card_html(after, case.id)
        assert case.id in columns(after)["triage"]
        assert 'data-column="triage"' in card and f'data-version="{version}"' in card
        assert f'"version": "{version}"' in card and f'value="{case.id}:' not in card
        assert "/events/sign" not in card and "/events/dispatch" in card
        # Only the signed card (and any card newly in view) was rendered again.
        new_in_view = set(card_ids(after)) - set(card_ids(before))
        assert counters()[1] - misses == len(new_in_view) + 1
        assert counters()[0] - hits == len(card_ids(after)) - len(new_in_view) - 1


def test_version_bump_alone_shows_the_new_version(login_as, make_case):
    """An edit off the card (the description) bumps the version: the card must carry it, or its next action is refused."""
    with frozen():
        case = make_case(title="只改版本")
        seen = case.version
        client = login_as("wangge01")
        assert f'data-version="{seen}"' in card_html(board(client), case.id)
        case.description = "补充说明：卡片上看不到"
        db.session.commit()
        version = version_of(case.id)
        assert version == seen + 1
        card = card_html(board(client), case.id)
        assert f'data-version="{version}"' in card and f'value="{case.id}:{version}"' in card
        # The sign button posts the version the card carries: accepted, not refused as stale.
        carried = parse(card).find("article").get("data-version")
        assert client.post(f"/board/cards/{case.id}/events/sign", {"version": carried}, htmx=True).status_code == 200


def test_renamed_category_building_and_organisation_show_without_a_case_change(login_as, make_case):
    """Names are not on the case row: each rename alone shows on the next render, the version unchanged."""
    with frozen():
        case = at_handler(make_case)
        version = version_of(case.id)
        client = login_as("wangge01")
        card = card_html(board(client), case.id)
        category, building = db.session.get(Category, case.category_id), db.session.get(Building, case.building_id)
        organisation = wanjia()
        for old in (category.name_zh, building.name, organisation.name):
            assert old in card
        renames = [(category, "name_zh", "公共设施报修"), (building, "name", "更名楼"),
                   (organisation, "name", "安居物业")]
        for row, attr, new in renames:
            old = getattr(row, attr)
            setattr(row, attr, new)
            db.session.commit()
            card = card_html(board(client), case.id)
            assert new in card and old not in card, f"{type(row).__name__}.{attr} renamed"
        assert version_of(case.id) == version, "the case row itself never changed"


def test_title_changed_behind_the_orm_without_a_version_bump_shows(login_as, make_case):
    """A Core UPDATE leaves the version alone: the key holds the title itself, so the new one shows."""
    with frozen():
        case = make_case(title="原来的标题")
        client = login_as("wangge01")
        assert "原来的标题" in card_html(board(client), case.id)
        table = Case.__table__
        db.session.execute(update(table).where(table.c.id == case.id).values(title="改过的标题"))
        db.session.commit()
        assert version_of(case.id) == case.version, "the statement did not bump the version"
        card = card_html(board(client), case.id)
        assert "改过的标题" in card and "原来的标题" not in card


# ---- never stale: the clock -----------------------------------------------------------------------------

def test_time_passing_changes_age_and_due_badge(app, login_as, make_case, monkeypatch):
    """Nothing on the case changes, yet its age and due badge move on with the clock, each on its own."""
    # One login watches six hours go by: longer than the session's idle timeout (30 min) allows.
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 24 * 60)
    monday = dt.datetime(2026, 11, 30, 9, 0, tzinfo=CN)  # a working Monday: sign within 4 working hours, by 14:30
    steps = [
        (dt.time(9, 0), "0分钟", ("on_time", "剩余 4 工作小时")),
        (dt.time(12, 0), "3小时", ("on_time", "剩余 1 工作小时")),
        (dt.time(13, 0), "4小时", ("on_time", "剩余 1 工作小时")),    # lunch: no working time passes, only the age moves
        (dt.time(13, 45), "4小时", ("due_soon", "剩余 0.8 工作小时")),  # the same age words, only the badge moves
        (dt.time(15, 0), "6小时", ("overdue", "超时 0.5 工作小时")),
    ]
    with frozen(monday) as clock:
        case = make_case(title="时间在走")
        version = case.version
        client = login_as("wangge01")
        for at, age, due in steps:
            clock.move_to(dt.datetime.combine(monday.date(), at, tzinfo=CN))
            card = card_html(board(client), case.id)
            assert (age_of(card), due_of(card)) == (f"已报 {age}", due), at
        assert version_of(case.id) == version


# ---- never someone else's card ------------------------------------------------------------------------

def test_two_viewers_of_one_case_get_their_own_cards(login_as, make_case):
    """Grid staff may sign and move the case; the community supervisor may only tick it to urge."""
    with frozen():
        case = make_case(title="两人同看")
        staff, supervisor = login_as("wangge01"), login_as("shequ01")
        mine = card_html(board(staff), case.id)
        assert f'hx-post="/board/cards/{case.id}/events/sign"' in mine
        assert 'kcard-move-open' in mine and 'data-allowed="triage"' in mine  # the "移到…" menu's button
        assert f'value="{case.id}:{case.version}"' in mine  # ticked for bulk signing

        page = board(supervisor)
        theirs = card_html(page, case.id)
        assert "/events/" not in theirs and 'kcard-move' not in theirs and 'data-allowed=""' in theirs
        assert f'value="{case.id}:{case.version}"' in theirs and "/board/bulk/urge" in page  # ticked for urging

        misses = counters()[1]
        assert card_html(board(staff), case.id) == mine
        assert counters()[1] == misses, "the grid staff's own cards are still there"


def test_language_switch_renders_the_card_in_that_language(login_as, make_case):
    """Chinese, then English (priority, button, category name), then Chinese again from the cache."""
    with frozen():
        case = make_case(title="语言切换", priority="urgent")
        client = login_as("wangge01")
        chinese = card_html(board(client), case.id)
        for word in ("紧急", ">签收<", "设施维修"):
            assert word in chinese

        client.post("/lang/en", {"next": "/board/"})
        english = card_html(board(client), case.id)
        for word in ("Urgent", ">Sign for<", "Facility repair"):
            assert word in english
        for word in ("紧急", "签收", "设施维修"):
            assert word not in english

        client.post("/lang/zh_Hans_CN", {"next": "/board/"})
        hits, misses = counters()
        page = board(client)
        assert card_html(page, case.id) == chinese
        assert counters() == (hits + len(card_ids(page)), misses), "the Chinese cards were kept"


# ---- configuration ---------------------------------------------------------------------------------

def test_size_zero_stores_nothing_and_renders_the_same_board(app, login_as, make_case, monkeypatch):
    """BOARD_CARD_CACHE_SIZE = 0: every card rendered every time, nothing kept, the same HTML."""
    use_cache_size(app, monkeypatch, 0)
    with frozen():
        make_case(title="不缓存")
        client = login_as("wangge01")
        first = board(client)
        n = len(card_ids(first))
        assert n > 0 and len(cards.cache()) == 0 and counters() == (0, n)
        assert board(client) == first
        assert len(cards.cache()) == 0 and counters() == (0, 2 * n)

        use_cache_size(app, monkeypatch, ROOMY)
        assert board(client) == first and len(cards.cache()) == n


def test_cache_is_bounded_and_the_board_stays_correct(app, login_as, monkeypatch):
    """With room for 5 cards and a board of many more, the cache never holds more than 5."""
    use_cache_size(app, monkeypatch, 5)
    small = cards.cache()
    sizes = []
    put = small.put

    def put_and_measure(key, html):
        put(key, html)
        sizes.append(len(small))
    monkeypatch.setattr(small, "put", put_and_measure)

    with frozen():
        client = login_as("wangge01")
        first = board(client)
        n = len(card_ids(first))
        assert n > 5 and small.size == 5
        second = board(client)
        assert small.misses >= n and len(sizes) == small.misses, "every card rendered was offered to the cache"
        assert max(sizes) == len(small) == 5

        use_cache_size(app, monkeypatch, ROOMY)
        unbounded = board(client)
        assert first == second == unbounded


# ---- the facts: everything a card shows, and its key ---------------------------------------------------

def _facts(**changes) -> cards.CardFacts:
    """A card's facts written by hand: no case, no database row behind them."""
    values = dict(
        id=7, version=3, number="QS-20261202-0007", title="手写的卡片", priority="urgent", column="new",
        category="设施维修", building="青松苑9幢", unit="2单元301", organisation="万家物业", age="3小时",
        return_count=2, due=DueView("overdue", "alert", "已超时", "本环节时限"),
        events=("sign", "merge"), moves=(MoveOption("triage", "sign", False),), pick="sign",
        links=cards.Links("/m/7", "/d/7", "/c/7", {"sign": "/fire/sign/7", "merge": "/fire/merge/7"},
                          {"sign": "/form/sign/7", "merge": "/form/merge/7"}))
    values.update(changes)
    return cards.CardFacts(**values)


def test_a_card_renders_from_its_facts_alone(app):
    """The card template reads nothing but the facts and the words: a hand-made CardFacts is a whole card."""
    with app.test_request_context("/board/"):
        html = render_template("boards/_card.html", facts=_facts(), W=card_words("grid_staff"))
    root = parse(html).find("article")
    assert root.get("id") == "card-7" and root.get("data-version") == "3"
    assert (root.get("data-column"), root.get("data-allowed"), root.get("data-move-url")) == ("new", "triage", "/m/7")
    for shown in ("QS-20261202-0007", '<a href="/d/7">手写的卡片</a>', "设施维修", "青松苑9幢 2单元301",
                  "3小时", "万家物业", "退回 2 次", 'data-due-state="overdue"', "已超时", "紧急",
                  'value="7:3"', 'hx-post="/fire/sign/7"', 'hx-get="/c/7?menu=move"'):
        assert shown in html, shown
    assert "/fire/merge/7" not in html and "/form/merge/7" not in html  # behind "更多…"
    assert 'hx-get="/c/7?actions=all"' in html
    assert "<select" not in html  # the "移到…" menu is fetched when opened
    with app.test_request_context("/board/"):
        opened = render_template("boards/_card.html", facts=_facts(), W=card_words("grid_staff"), move_menu=True)
    assert '<option value="triage">网格研判</option>' in opened and 'hx-post="/m/7"' in opened


def test_reopen_mark_done_note_and_after_thumbnail_render_from_the_facts(app):
    """A reopened case shows 重办 and the resident's reason; a call-back card the done note and the
    "after" thumbnail; the age is labelled (issue #10 §5: 2, 6, 9)."""
    with app.test_request_context("/board/"):
        words = card_words("grid_staff")
        reopened = render_template("boards/_card.html", W=words, facts=_facts(quote=("reopen", "水管还在漏")))
        callback = render_template("boards/_card.html", W=words, facts=_facts(
            quote=("done", "已更换阀门"), after_photo=11,
            links=_facts().links._replace(thumb="/cases/7/photos/11/thumb")))
    page = parse(reopened)
    assert page.find(class_="ktag ktag-reopen").text == "重办"
    assert "居民反馈：水管还在漏" in page.find("p", class_="kcard-reopen").text
    assert page.find(class_="kage").text == "已报 3小时"
    done = parse(callback).find(class_="kcard-done")
    assert "办结说明：已更换阀门" in done.text
    assert done.find("img").get("src") == "/cases/7/photos/11/thumb" and done.find("img").get("alt") == "完工照片"
    assert parse(callback).find("p", class_="kcard-reopen") is None


def test_the_cache_key_is_the_facts(app):
    """Facts equal → one key; any fact changed (what this viewer may do included) → another key.

    The links follow from id and events (and the URL root in the key), so they are left out.
    """
    base = _facts()
    assert base == _facts(links=None) and hash(base) == hash(_facts(links=None))
    changed = dict(id=8, version=4, number="X", title="别的", priority="normal", column="triage", category="c",
                   building="b", unit="u", organisation="", age="4小时", return_count=0, due=None,
                   events=("sign",), moves=(), pick=None, quote=("reopen", "还是漏水"), after_photo=5,
                   assist=(1, 2, None))
    assert set(changed) == {f for f in cards.CardFacts.__dataclass_fields__ if f != "links"}
    for name, value in changed.items():
        assert _facts(**{name: value}) != base, name


def test_viewers_whose_facts_differ_never_share_a_rendered_card(app):
    """Two viewers of one case with the same role: equal facts share the card, a difference (here the
    bulk pick, as a future "assigned to me" mark would be) renders each viewer their own."""
    case = SimpleNamespace(id=7, version=3, number="N7", title="同一件", priority="normal", category_id=None,
                           building_id=None, assigned_org_id=None, unit="", created_at=None, return_count=0,
                           stage_due_at=None, status="reported")
    names = Names({}, {}, {})
    rendered = []

    def macro(facts):
        rendered.append(facts)
        return f"<article>{facts.pick}</article>"
    with app.test_request_context("/board/"):
        links = cards.CardLinks()

        def renderer():
            return cards.CardRenderer("grid_staff", "zh_Hans_CN", names, lambda c: None, lambda t: "0分钟", links)
        one = CardView(case=case, column="new", events=["sign"], pick="sign")
        assert renderer()(one, macro) == "<article>sign</article>"
        assert renderer()(CardView(case=case, column="new", events=["sign"], pick="sign"), macro) == "<article>sign</article>"
        assert len(rendered) == 1, "equal facts: the second viewer got the first one's card"
        other = CardView(case=case, column="new", events=["sign"], pick=None)
        assert renderer()(other, macro) == "<article>None</article>" and len(rendered) == 2
        assert rendered[0].links is not None and rendered[0].links.detail.endswith("/7")

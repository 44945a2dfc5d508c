"""Every level sees its own figures (issue #10 §3) and one lateness rule and wording (§5.5).

A hand-made community (层级社区) in June 2024, far from the demo's dates, with a second community
next to it whose case must never count. The answers below are worked out by hand from the table in
`levels()`. The period is 2024-06-03 (Mon) .. 2024-06-16 (Sun): ISO weeks 2024-W23 and W24.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from case_steps import parse
from casework.models import Building, Case, CaseEvent, Category, Community, Grid, Organisation, Subdistrict, User
from casework.services import reports, tallies
from casework.services.reports import Period, Scope

PASSWORD_HASH = generate_password_hash("demo")
PERIOD = Period(dt.date(2024, 6, 3), dt.date(2024, 6, 16))
RANGE = {"from": "2024-06-03", "to": "2024-06-16"}
LONG = Period(dt.date(2024, 5, 1), dt.date(2024, 8, 31))   # longer than 92 days: per month
FAR = dt.datetime(2099, 1, 1, 9, 0)


def T(day: int, hour: int = 9, minute: int = 0, month: int = 6) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute)


@pytest.fixture
def levels(session):
    """Grids G1 (buildings B11, B12) and G2 (B21) in 层级社区; GX (BX) in 层级外社区.

    | case | bld | received | returns (day, from, reason) | clock |
    |---|---|---|---|---|
    | k1 | B11 | 06-03 | 06-04 leader wrong_category; 06-11 handler not_our_duty | due 2099 |
    | k2 | B12 | 06-04 | 06-05 leader not_our_duty | due 2099 |
    | k3 | B21 | 06-05 | 06-06 leader insufficient_info | due 2099 |
    | k4 | B11 | 06-10 | 06-12 leader, no reason recorded | due 2099 |
    | k5 | B11 | 05-20 | 05-21 leader wrong_category (before the period) | due 2099 |
    | kx | BX  | 06-04 | 06-04 leader wrong_category (another community) | due 2099 |
    | p1 | B12 | 06-03 | — handling, stage and case due 06-07 17:30, never parked | late |
    | p2 | B12 | 06-03 | — handling, due 06-05 17:30, parked 06-07 09:00 (already late) | late |
    | p3 | B12 | 06-04 | — handling, due 06-14 17:30, parked 06-10 09:00 (in time) | not late |

    Stage times of B11 (k1, k4): signed in 1 h; at the building leader 2 h (k1) and 0.5 h (k4).
    """
    s = session
    sd = s.scalars(select(Subdistrict)).first()
    community = Community(subdistrict=sd, name="层级社区")
    elsewhere = Community(subdistrict=sd, name="层级外社区")
    g1 = Grid(community=community, code="CJ1", name="层级第1网格")
    g2 = Grid(community=community, code="CJ2", name="层级第2网格")
    gx = Grid(community=elsewhere, code="CJX", name="层级外网格")
    o = Organisation(name="层级物业公司", kind="property")
    b11 = Building(grid=g1, name="层级11幢", property_company=o)
    b12 = Building(grid=g1, name="层级12幢", property_company=o)
    b21 = Building(grid=g2, name="层级21幢", property_company=o)
    bx = Building(grid=gx, name="层级外1幢", property_company=o)
    s.add_all([community, elsewhere, g1, g2, gx, o, b11, b12, b21, bx])

    def person(username, role, **kw):
        u = User(username=username, display_name=username, role=role, password_hash=PASSWORD_HASH, **kw)
        s.add(u)
        return u

    people = SimpleNamespace(
        sup=person("cj_sup", "community_supervisor", community=community),
        wg1=person("cj_wg1", "grid_staff", grids=[g1]),
        wg12=person("cj_wg12", "grid_staff", grids=[g1, g2]),
        lz11=person("cj_lz11", "building_leader", buildings=[b11]),
        lz21=person("cj_lz21", "building_leader", buildings=[b21]),
        handler=person("cj_wuye", "handler", organisation=o),
    )
    s.flush()
    cat = s.scalars(select(Category).where(Category.code == "sanitation")).one()
    counter = iter(range(1, 100))

    def new_case(building, created, **kw):
        n = next(counter)
        kw.setdefault("status", "triage")
        kw.setdefault("stage_due_at", FAR)
        kw.setdefault("due_at", FAR)
        c = Case(number=f"CJ-{n:04d}", title=f"层级案件{n}", category_id=cat.id, building_id=building.id,
                 grid_id=building.grid_id, community_id=building.grid.community_id, created_at=created,
                 updated_at=created, stage_started_at=created, reporter_name="层级居民",
                 reporter_phone=f"1370000{n:04d}", **kw)
        s.add(c)
        s.flush()
        ev(c, "report", None, "reported", created)
        return c

    def ev(c, event, frm, to, at, secs=None, reason=None, actor=None):
        s.add(CaseEvent(case_id=c.id, kind="transition", event=event, from_status=frm, to_status=to, created_at=at,
                        stage_seconds=secs, reason_code=reason, actor_id=actor))

    def back(c, at, reason, frm="building_leader", secs=None):
        ev(c, "return_case", frm, "triage", at, secs=secs, reason=reason)
        c.return_count = (c.return_count or 0) + 1

    k1 = new_case(b11, T(3))
    ev(k1, "sign", "reported", "triage", T(3, 10), secs=3600)
    ev(k1, "dispatch", "triage", "building_leader", T(3, 11))
    back(k1, T(4, 10), "wrong_category", secs=7200)
    ev(k1, "dispatch_handler", "triage", "handling", T(5, 10))
    back(k1, T(11, 10), "not_our_duty", frm="handling")
    k2 = new_case(b12, T(4))
    back(k2, T(5, 10), "not_our_duty")
    k3 = new_case(b21, T(5))
    back(k3, T(6, 10), "insufficient_info")
    k4 = new_case(b11, T(10))
    back(k4, T(12, 10), None, secs=1800)
    k5 = new_case(b11, T(20, month=5))
    back(k5, T(21, 10, month=5), "wrong_category")
    kx = new_case(bx, T(4))
    back(kx, T(4, 11), "wrong_category")
    p1 = new_case(b12, T(3), status="handling", assigned_org_id=o.id, stage_due_at=T(7, 17, 30), due_at=T(7, 17, 30))
    p2 = new_case(b12, T(3), status="handling", assigned_org_id=o.id, stage_due_at=T(5, 17, 30),
                  due_at=T(5, 17, 30), parked_at=T(7, 9))
    p3 = new_case(b12, T(4), status="handling", assigned_org_id=o.id, stage_due_at=T(14, 17, 30),
                  due_at=T(14, 17, 30), parked_at=T(10, 9))
    s.flush()
    cases = dict(k1=k1, k2=k2, k3=k3, k4=k4, k5=k5, kx=kx, p1=p1, p2=p2, p3=p3)
    tallies.add_cases([c.id for c in cases.values()])  # written by hand: count them into the rollups
    return SimpleNamespace(community=community, elsewhere=elsewhere, g1=g1, g2=g2, gx=gx, o=o, b11=b11, b12=b12,
                           b21=b21, bx=bx, **vars(people), **cases)


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


def by_reason(row) -> dict:
    return {code: n for code, n in row.counts.items() if n}


# --- the figures of each level, on the hand-made set (service level, both databases) --------------

@pytest.mark.usefixtures("rctx")
def test_grid_staff_see_their_grid_by_building(levels):
    report = reports.build_report(levels.wg1, PERIOD, Scope(), "building")
    assert report.totals.received == 6            # k1 k2 k4 p1 p2 p3 (k3 is in G2, kx elsewhere, k5 in May)
    assert report.totals.returns == 4             # k1 twice, k2, k4
    assert report.totals.on_time.num == 0 and report.totals.on_time.den == 2   # p1, p2 late; p3 parked in time
    assert {r.label: r.figures.received for r in report.ranking} == {"层级11幢": 2, "层级12幢": 4}
    rt = report.returns
    assert rt.reasons == ["not_our_duty", "wrong_category", ""]   # workflow order, unstated last
    assert {r.label: by_reason(r) for r in rt.units} == {
        "层级11幢": {"wrong_category": 1, "not_our_duty": 1, "": 1}, "层级12幢": {"not_our_duty": 1}}
    assert rt.every == "week"
    assert [(r.label, by_reason(r)) for r in rt.periods] == [
        ("2024-W23", {"wrong_category": 1, "not_our_duty": 1}), ("2024-W24", {"not_our_duty": 1, "": 1})]
    assert dict(rt.totals) == {"wrong_category": 1, "not_our_duty": 2, "": 1} and rt.total == 4
    # Per unit the returns add up to the ranking's returns column.
    assert {r.label: r.figures.returns for r in report.ranking} == {r.label: r.total for r in rt.units}
    assert [c.number for c in report.overdue] == [levels.p2.number, levels.p1.number]


@pytest.mark.usefixtures("rctx")
def test_grid_staff_of_two_grids_and_the_community(levels):
    for who in (levels.wg12, levels.sup):
        report = reports.build_report(who, PERIOD, Scope(), "grid")
        assert report.totals.received == 7 and report.totals.returns == 5
        assert {r.label: by_reason(r) for r in report.returns.units} == {
            "层级第1网格": {"wrong_category": 1, "not_our_duty": 2, "": 1},
            "层级第2网格": {"insufficient_info": 1}}
    # Grid staff of two grids may narrow to one of them.
    one = reports.build_report(levels.wg12, PERIOD, Scope(grid_id=levels.g2.id), "building")
    assert one.totals.received == 1 and {r.label: r.total for r in one.returns.units} == {"层级21幢": 1}


@pytest.mark.usefixtures("rctx")
def test_building_leaders_see_only_their_buildings(levels):
    report = reports.build_report(levels.lz11, PERIOD, Scope(), "building")
    assert report.totals.received == 2 and report.totals.returns == 3     # k1, k4
    assert {r.label: by_reason(r) for r in report.returns.units} == {
        "层级11幢": {"wrong_category": 1, "not_our_duty": 1, "": 1}}
    assert report.overdue_total == 0
    # Stage times come from the timeline rows of the leader's building: 1 h to sign; 2 h and 0.5 h
    # at the building leader (nearest rank: median the lower value, 90th percentile the higher).
    assert {s.status: (s.count, s.median_seconds, s.p90_seconds) for s in report.stages} == {
        "reported": (1, 3600, 3600), "building_leader": (2, 1800, 7200)}
    other = reports.build_report(levels.lz21, PERIOD, Scope(), "organisation")
    assert other.totals.received == 1 and dict(other.returns.totals) == {"insufficient_info": 1}


@pytest.mark.usefixtures("rctx")
def test_returns_per_month_over_a_long_period(levels):
    rt = reports.build_report(levels.wg1, LONG, Scope(), "building").returns
    assert rt.every == "month"
    assert [(r.label, r.total) for r in rt.periods] == [("2024-05", 1), ("2024-06", 4), ("2024-07", 0),
                                                       ("2024-08", 0)]
    assert {r.label: r.total for r in rt.units} == {"层级11幢": 4, "层级12幢": 1}   # k5 counts in May


@pytest.mark.usefixtures("rctx")
def test_returns_by_leader_fold_buildings_onto_their_leaders(levels):
    rt = reports.build_report(levels.sup, PERIOD, Scope(), "leader").returns
    # B11 → cj_lz11; B21 → cj_lz21; B12 has no leader.
    assert {r.label: r.total for r in rt.units} == {"cj_lz11": 3, "未设楼栋长": 1, "cj_lz21": 1}


# --- the pages and exports, per role ------------------------------------------------------------

def table_rows(html: str, table_id: str) -> dict[str, list[str]]:
    """Row header → cell texts of a table on the page."""
    table = parse(html).find("table", id=table_id)
    assert table is not None, f"no table {table_id}"
    return {tr.find("th").text: [td.text for td in tr.find_all("td")] for tr in table.find_all("tr")
            if tr.find("th") is not None and tr.find("td") is not None}


def tile_value(html: str, name: str) -> str:
    return parse(html).find("div", id=f"fig-{name}").find("p", class_="tile-value").text


def test_grid_staff_page_and_exports(levels, login_as):
    c = login_as("cj_wg1")
    r = c.get("/reports/", query_string=RANGE)
    assert r.status_code == 200
    page = r.text
    assert tile_value(page, "received") == "6" and tile_value(page, "returns") == "4"
    head = [th.text for th in parse(page).find("table", id="returns-by-unit").find("thead").find_all("th")]
    assert head == ["楼栋", "非本单位职责", "分类错误", "未注明原因", "合计"]
    assert table_rows(page, "returns-by-unit") == {"层级11幢": ["1", "1", "1", "3"], "层级12幢": ["1", "0", "0", "1"],
                                                   "合计": ["2", "1", "1", "4"]}
    assert table_rows(page, "returns-by-time") == {"2024-W23": ["1", "1", "0", "2"], "2024-W24": ["1", "0", "1", "2"]}
    assert "层级第2网格" not in page and "层级外" not in page and "层级21幢" not in page
    # Only their grid to pick from: no grid picker at all.
    assert parse(page).find("select", name="grid") is None

    rows = list(csv.reader(io.StringIO(c.get("/reports/export.csv", query_string=RANGE).data.decode("utf-8-sig"))))
    assert ["层级11幢", "1", "1", "1", "3"] in rows and ["2024-W24", "1", "0", "1", "2"] in rows
    book = load_workbook(io.BytesIO(c.get("/reports/export.xlsx", query_string=RANGE).data))
    assert list(book["退回原因"].iter_rows(min_row=2, values_only=True))[0] == (
        "楼栋", "非本单位职责", "分类错误", "未注明原因", "合计")
    listed = list(csv.DictReader(io.StringIO(c.get("/reports/cases.csv", query_string=RANGE | {
        "figure": "returned"}).data.decode("utf-8-sig"))))
    assert {row["编号"] for row in listed} == {levels.k1.number, levels.k2.number, levels.k4.number}


def test_building_leader_page(levels, login_as):
    c = login_as("cj_lz11")
    page = c.get("/reports/", query_string=RANGE).text
    assert tile_value(page, "received") == "2"
    assert table_rows(page, "returns-by-unit")["层级11幢"] == ["1", "1", "1", "3"]
    assert "层级12幢" not in page
    for url, extra in (("/reports/export.csv", {}), ("/reports/export.xlsx", {}),
                       ("/reports/cases.csv", {"figure": "received"})):
        r = c.get(url, query_string=RANGE | extra)
        assert r.status_code == 200 and r.data  # read it all: the case list streams from a server cursor


@pytest.mark.parametrize("username, args", [
    ("cj_wg1", {"grid": "g2"}),          # a grid that is not theirs
    ("cj_wg1", {"grid": "gx"}),
    ("cj_wg1", {"community": "community"}),
    ("cj_lz11", {"grid": "g1"}),         # building leaders pick no place
    ("cj_wg12", {"grid": "gx"}),
])
def test_no_level_passes_its_own_jurisdiction(levels, login_as, username, args):
    c = login_as(username)
    query = RANGE | {k: getattr(levels, v).id for k, v in args.items()}
    for url, extra in (("/reports/", {}), ("/reports/export.csv", {}), ("/reports/export.xlsx", {}),
                       ("/reports/cases.csv", {"figure": "received"})):
        assert c.get(url, query_string=query | extra).status_code == 404, url


def test_grid_staff_of_two_grids_pick_one(levels, login_as):
    page = login_as("cj_wg12").get("/reports/", query_string=RANGE | {"grid": levels.g2.id}).text
    options = [o.get("value") for o in parse(page).find("select", name="grid").find_all("option")]
    assert options == ["", str(levels.g1.id), str(levels.g2.id)]
    assert tile_value(page, "received") == "1"


@pytest.mark.parametrize("username", ["admin"])
def test_others_still_get_404(levels, login_as, username):
    c = login_as(username)
    for url in ("/reports/", "/reports/export.csv", "/reports/cases.csv?figure=received"):
        assert c.get(url).status_code == 404


def test_staff_without_grids_or_buildings_get_404(levels, login_as, session):
    session.add_all([User(username="cj_nogrid", display_name="无网格", role="grid_staff", password_hash=PASSWORD_HASH),
                     User(username="cj_nobld", display_name="无楼栋", role="building_leader",
                          password_hash=PASSWORD_HASH)])
    session.commit()
    for username in ("cj_nogrid", "cj_nobld"):
        assert login_as(username).get("/reports/").status_code == 404


# --- §5.5: one lateness rule and one wording on the board and the dashboard ----------------------

def card_due(html: str, case_id: int) -> str | None:
    """The due badge's words on a board card."""
    card = parse(html).find("article", id=f"card-{case_id}")
    assert card is not None, f"no card {case_id}"
    for span in card.find_all("span"):
        if span.get("data-due-state"):
            return span.text
    return None


def test_board_overdue_filter_and_dashboard_list_agree_on_parked_cases(levels, login_as):
    c = login_as("cj_wg1")
    board = c.get("/board/", query_string={"overdue": "1"}).text
    on_board = {int(a.get("id").removeprefix("card-")) for a in parse(board).find_all("article")
                if (a.get("id") or "").startswith("card-")}
    page = c.get("/reports/", query_string=RANGE).text
    listed = {int(tr.get("id").removeprefix("overdue-")) for tr in parse(page).find("table", id="overdue").find_all("tr")
              if (tr.get("id") or "").startswith("overdue-")}
    # Late before it was parked: on both. Parked in time: on neither, although its due time is long past.
    assert on_board == listed == {levels.p1.id, levels.p2.id}
    assert tile_value(page, "overdue") == "2"
    # The same words for the same case: p2 was 8 working hours late when parked (Thu 7.5 h + Fri 0.5 h)
    # = 1.07 working days, shown to one decimal.
    cells = {int(tr.get("id").removeprefix("overdue-")): tr.find("td", class_="late").text
             for tr in parse(page).find("table", id="overdue").find_all("tr") if tr.get("id")}
    assert cells[levels.p2.id] == "超时 1.1 个工作日（挂账中）"
    assert card_due(board, levels.p2.id) == "挂账中，超时 1.1 个工作日"
    assert cells[levels.p1.id] == card_due(board, levels.p1.id)
    assert cells[levels.p1.id].startswith("超时 ") and cells[levels.p1.id].endswith(" 个工作日")
    # The case list behind the figure says the same.
    rows = list(csv.DictReader(io.StringIO(c.get("/reports/cases.csv", query_string=RANGE | {
        "figure": "overdue"}).data.decode("utf-8-sig"))))
    assert {r["编号"]: r["已超时"] for r in rows} == {levels.p1.number: cells[levels.p1.id],
                                                   levels.p2.number: "超时 1.1 个工作日"}
    # And the XLSX's overdue sheet.
    book = load_workbook(io.BytesIO(c.get("/reports/export.xlsx", query_string=RANGE).data))
    sheet = {row[0]: row[4:] for row in book["当前超时"].iter_rows(min_row=3, values_only=True)}
    assert sheet[levels.p2.number] == ("超时 1.1 个工作日", "是")


def test_emergency_lateness_reads_in_wall_clock_days(app):
    from casework.services.clock import Badge
    from casework.ui import DueViews
    with app.test_request_context():
        words = DueViews()
        assert words.late_text(Badge("overdue", 1.5, "days"), emergency=True) == "超时 1.5 天"
        assert words.late_text(Badge("overdue", 3, "hours"), emergency=False) == "超时 3 工作小时"
        assert words.late_text(Badge("overdue", 0, "hours"), emergency=False) == "已超时"

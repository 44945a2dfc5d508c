"""The timeliness dashboard: every figure on a hand-made pilot community, exports, bad input, access.

The pilot community (试点社区) is built in each test's transaction with chosen timestamps, due
times and stage seconds; the expected answers below are worked out by hand from the table in
`pilot()`. The period is 2025-03-03 (Mon) .. 2025-03-16 (Sun): ISO weeks 2025-W10 and W11.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from casework.extensions import db
from casework.models import (
    Building, Case, CaseEvent, Category, Community, Extension, Grid, Organisation, Subdistrict, User,
)
from casework.models.cases import ReportTally
from casework.services import charts, reports, tallies
from casework.services.reports import Period, Scope
from casework.timekeeping import now
from tests.case_steps import parse
from tests.conftest import user
from conftest import SUITE_NOW

PASSWORD_HASH = generate_password_hash("demo")
PERIOD = Period(dt.date(2025, 3, 3), dt.date(2025, 3, 16))
RANGE = {"from": "2025-03-03", "to": "2025-03-16"}
FAR = dt.datetime(2099, 1, 1, 9, 0)


def T(day: int, hour: int = 9, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute)


@pytest.fixture
def pilot(session):
    """A community with grids GA (buildings A1, A2; leader LA) and GB (B1; leader LB), two handler
    organisations (O1 property, O2 volunteers), and nine cases c1..c9:

    | case | bld | cat | received | ends | due_at | completion | notes |
    |---|---|---|---|---|---|---|---|
    | c1 | A1 | S | 03-03 | closed, satisfied | 03-07 | 03-05 | signed in time; park (not an extension) |
    | c2 | A2 | F | 03-04 | closed, basically satisfied | 03-07 | 03-12 | signed late; reopened once; refused extension |
    | c3 | B1 | S | 03-05 | open in triage, stage due 03-07 | 03-10 | — | handler O2 returned it; approved extension |
    | c4 | B1 | F | 03-10 | still reported, stage due 03-10 12:00 | 03-14 | — | never signed: late response |
    | c5 | A1 | F | 03-11 | still reported, due 2099 | 2099 | — | not judged |
    | c6 | A1 | S | 03-12 | closed, dissatisfied | 03-19 | 03-12 | leader returned once, then resolved |
    | c7 | A2 | S | 02-20 | closed, satisfied | 03-05 | 03-04 | received before the period |
    | c8 | B1 | S | 03-15 | triage, due 2099 | 2099 | — | signed 03-17 (after the period), in time |
    | c9 | A2 | F | 03-13 | merged as duplicate | 03-14 | 03-13 (closed) | answered by merging, in time |
    """
    s = session
    sd = s.scalars(select(Subdistrict)).first()
    community = Community(subdistrict=sd, name="试点社区")
    ga = Grid(community=community, code="T01", name="试点第1网格")
    gb = Grid(community=community, code="T02", name="试点第2网格")
    o1 = Organisation(name="试点物业服务公司", kind="property")
    o2 = Organisation(name="试点志愿维修队", kind="volunteer_team")
    a1 = Building(grid=ga, name="试点A1幢", property_company=o1)
    a2 = Building(grid=ga, name="试点A2幢", property_company=o1)
    b1 = Building(grid=gb, name="试点B1幢", property_company=o1)
    s.add_all([community, ga, gb, o1, o2, a1, a2, b1])

    def person(username, role, **kw):
        u = User(username=username, display_name=username, role=role, password_hash=PASSWORD_HASH, **kw)
        s.add(u)
        return u

    sup = person("shidian_sup", "community_supervisor", community=community)
    la = person("shidian_la", "building_leader", buildings=[a1, a2])
    lb = person("shidian_lb", "building_leader", buildings=[b1])
    staff = person("shidian_wg", "grid_staff", grids=[ga, gb])
    handler = person("shidian_wuye", "handler", organisation=o1)
    s.flush()
    cat = {c.code: c for c in s.scalars(select(Category))}
    S, F = cat["sanitation"], cat["facilities"]
    counter = iter(range(1, 100))

    def new_case(building, category, created, *, title="试点案件", **kw):
        n = next(counter)
        c = Case(number=f"TST-{n:04d}", title=f"{title}{n}", category_id=category.id, building_id=building.id,
                 grid_id=building.grid_id, community_id=building.grid.community_id, created_at=created,
                 updated_at=created, stage_started_at=created, reporter_name="试点居民甲",
                 reporter_phone=f"1390000{n:04d}", **kw)
        s.add(c)
        s.flush()
        ev(c, "report", None, "reported", created)
        return c

    def ev(c, event, frm, to, at, due=None, secs=None, kind="transition", org=None, actor=None):
        s.add(CaseEvent(case_id=c.id, kind=kind, event=event, from_status=frm, to_status=to, created_at=at,
                        stage_due_at=due, stage_seconds=secs, organisation_id=org, actor_id=actor))
        if frm == "reported" and to != "reported":  # what fire() records on the case when it is answered
            c.responded_at, c.response_due_at = at, due

    def ext(c, kind, state, created):
        s.add(Extension(case_id=c.id, kind=kind, state=state, created_at=created, requested_by_id=handler.id,
                        hours=8, reason="需要采购配件"))

    c1 = new_case(a1, S, T(3), status="closed", resolution="solved", satisfaction="satisfied",
                  assigned_org_id=o1.id, resolved_at=T(5, 16), closed_at=T(6, 10), due_at=T(7, 17, 30))
    ev(c1, "sign", "reported", "triage", T(3, 10), due=T(3, 12), secs=3600, actor=staff.id)
    ev(c1, "dispatch", "triage", "building_leader", T(3, 14), due=T(4, 9), secs=9000)
    ev(c1, "hand_on", "building_leader", "handling", T(4, 10), due=T(5, 10), secs=28800, org=o1.id, actor=la.id)
    ev(c1, "accept", "handling", "handling", T(4, 11), secs=999)  # not a stage end: ignored
    ev(c1, "report_done", "handling", "resolved", T(5, 16), due=T(7, 17, 30), secs=50000)
    ev(c1, "close", "resolved", "closed", T(6, 10), due=T(7, 17, 30), secs=3000)
    ext(c1, "park", "approved", T(5, 9))

    c2 = new_case(a2, F, T(4), status="closed", resolution="solved", satisfaction="basically_satisfied",
                  assigned_org_id=o1.id, resolved_at=T(12, 10), closed_at=T(13, 10), due_at=T(7, 17, 30))
    ev(c2, "sign", "reported", "triage", T(4, 15), due=T(4, 12), secs=16200)
    ev(c2, "dispatch_handler", "triage", "handling", T(4, 16), due=T(5, 16), secs=7200, org=o1.id)
    ev(c2, "report_done", "handling", "resolved", T(10, 10), due=T(7, 17, 30), secs=100000)
    ev(c2, "reopen", "resolved", "handling", T(11, 9), due=T(12, 9), secs=4000)
    ev(c2, "report_done", "handling", "resolved", T(12, 10), due=T(14, 9), secs=30000)
    ev(c2, "close", "resolved", "closed", T(13, 10), due=T(14, 10), secs=5000)
    ext(c2, "extend", "refused", T(6, 9))

    c3 = new_case(b1, S, T(5), status="triage", returned_org_id=o2.id, return_count=1,
                  due_at=T(10, 17, 30), stage_due_at=T(7, 17, 30))
    ev(c3, "sign", "reported", "triage", T(5, 9, 30), due=T(5, 12), secs=1800)
    ev(c3, "dispatch_handler", "triage", "handling", T(5, 10), due=T(6, 10), secs=3600, org=o2.id)
    ev(c3, "return_case", "handling", "triage", T(6, 10), due=T(7, 10), secs=20000)
    ev(c3, "urge", "triage", "triage", T(9, 10), kind="urge")  # a notice, not a move
    ext(c3, "extend", "approved", T(5, 12))

    new_case(b1, F, T(10), status="reported", stage_due_at=T(10, 12), due_at=T(14, 17, 30))
    new_case(a1, F, T(11), status="reported", stage_due_at=FAR, due_at=FAR + dt.timedelta(days=4))  # c5

    c6 = new_case(a1, S, T(12), status="closed", resolution="solved", satisfaction="dissatisfied",
                  resolved_at=T(12, 15), closed_at=T(13, 11), due_at=T(19, 17, 30), return_count=1)
    ev(c6, "sign", "reported", "triage", T(12, 9, 10), due=T(12, 12), secs=600)
    ev(c6, "dispatch", "triage", "building_leader", T(12, 9, 30), due=T(12, 17), secs=1200)
    ev(c6, "return_case", "building_leader", "triage", T(12, 11), due=T(13, 9), secs=1800, actor=la.id)
    ev(c6, "dispatch", "triage", "building_leader", T(12, 11, 10), due=T(12, 17), secs=600)
    ev(c6, "resolve", "building_leader", "resolved", T(12, 15), due=T(13, 11), secs=3000, actor=la.id)
    ev(c6, "close", "resolved", "closed", T(13, 11), due=T(14, 15), secs=6000)

    c7 = new_case(a2, S, T(20, month=2), status="closed", resolution="solved", satisfaction="satisfied",
                  assigned_org_id=o1.id, resolved_at=T(4, 10), closed_at=T(6, 11), due_at=T(5, 17, 30),
                  return_count=1)
    ev(c7, "sign", "reported", "triage", T(20, 10, month=2), due=T(20, 12, month=2), secs=3600)
    ev(c7, "dispatch", "triage", "building_leader", T(20, 11, month=2), secs=5000)
    ev(c7, "hand_on", "building_leader", "handling", T(21, 11, month=2), secs=5000, org=o1.id)
    ev(c7, "return_case", "handling", "building_leader", T(25, 11, month=2), secs=5000)
    ev(c7, "hand_on", "building_leader", "handling", T(26, 11, month=2), secs=5000, org=o1.id)
    ev(c7, "report_done", "handling", "resolved", T(4, 10))  # stage seconds unknown: left out
    ev(c7, "close", "resolved", "closed", T(6, 11), due=T(7, 11), secs=7000)
    ext(c7, "extend", "approved", T(28, 9, month=2))

    c8 = new_case(b1, S, T(15), status="triage", stage_due_at=FAR, due_at=FAR + dt.timedelta(days=9))
    ev(c8, "sign", "reported", "triage", T(17, 9), due=T(17, 12), secs=1000)

    c9 = new_case(a2, F, T(13), status="closed", resolution="duplicate", closed_at=T(13, 10),
                  due_at=T(14, 17, 30), duplicate_of_id=c2.id)
    ev(c9, "merge", "reported", "closed", T(13, 10), due=T(13, 12), secs=3600)
    s.flush()
    cases = {f"c{i}": c for i, c in enumerate(
        s.scalars(select(Case).where(Case.community_id == community.id).order_by(Case.id)), start=1)}
    # Written by hand, not through intake and fire(): count them into the dashboard's rollups.
    tallies.add_cases([c.id for c in cases.values()])
    return SimpleNamespace(community=community, ga=ga, gb=gb, o1=o1, o2=o2, la=la, lb=lb, sup=sup,
                           staff=staff, handler=handler, cats=SimpleNamespace(S=S, F=F), **cases)


@pytest.fixture
def rctx(app):
    """Service calls name groups in the user's language, which needs a request context."""
    with app.test_request_context():
        yield


def numbers(p, *names) -> set[str]:
    return {getattr(p, n).number for n in names}


def build(p, dim="grid", who=None, scope=None):
    who = who or p.sup
    return reports.build_report(who, PERIOD, scope or Scope(), dim)


def figures_of(report_row) -> tuple:
    f = report_row
    return (f.received, f.response.percent, f.on_time.percent, f.resolution.percent, f.satisfaction.percent,
            f.returns, f.extensions)


# --- every figure on the hand-made set (service level, both databases) ----------------------

@pytest.mark.usefixtures("rctx")
def test_totals_match_the_hand_worked_answers(pilot):
    report = build(pilot)
    t = report.totals
    assert t.received == 8                       # c1 c2 c3 c4 c5 c6 c8 c9 (c7 came in February)
    assert (t.response.num, t.response.den) == (5, 7)    # late: c2 (signed 15:00 > 12:00), c4 (never); c5 not due
    assert (t.on_time.num, t.on_time.den) == (3, 6)      # due in period: c1 ok, c2 late, c3 c4 open late, c7 ok, c9 ok
    assert (t.resolution.num, t.resolution.den) == (4, 5)  # closes c1 c2 c6 c7, one reopen (c2)
    assert (t.satisfaction.num, t.satisfaction.den) == (3, 4)  # c6 dissatisfied
    assert t.returns == 2                        # c3 (handler), c6 (leader); c7's was in February
    assert t.extensions == 1                     # c3; c2 refused, c1 parked, c7 February
    assert (t.response.percent, t.on_time.percent) == ("71.4%", "50.0%")
    assert (t.resolution.percent, t.satisfaction.percent) == ("80.0%", "75.0%")


def test_stage_time_buckets():
    """Stage times are rounded up to two significant digits of hours (0.1 h steps below 10 h, …)."""
    assert [tallies.bucket(s) for s in (0, 1, 360, 361, 600, 3000, 36_000, 36_001, 100_000)] == [
        0, 360, 360, 720, 720, 3240, 36_000, 39_600, 100_800]
    assert [tallies.bucket(s) for s in (360_000, 360_001, 3_600_000, 3_600_001)] == [
        360_000, 396_000, 3_600_000, 3_960_000]


# The stage ends of the period, each rounded up by tallies.bucket (seconds → bucket):
STAGES_EXPECTED = {
    "reported": (5, 3600, 16200),            # [600 1800 3600 3600 16200] → [720 1800 3600 3600 16200]
    "triage": (5, 3600, 9000),               # [600 1200 3600 7200 9000] → [720 1440 3600 7200 9000]
    "building_leader": (3, 3240, 28800),     # [1800 3000 28800] → [1800 3240 28800]
    "handling": (4, 30240, 100800),          # [20000 30000 50000 100000] → [20160 30240 50400 100800]: lower median
    "resolved": (5, 5040, 7200),             # [3000 4000 5000 6000 7000] → [3240 4320 5040 6120 7200]
}


@pytest.mark.usefixtures("rctx")
def test_stage_median_and_90th_percentile(pilot):
    stages = {s.status: (s.count, s.median_seconds, s.p90_seconds) for s in build(pilot).stages}
    assert stages == STAGES_EXPECTED


@pytest.mark.usefixtures("rctx")
def test_rollup_and_timeline_paths_agree(pilot):
    """The histogram rollup gives what the timeline rows themselves give, for every kind of scope."""
    def as_dict(rows):
        return {s: (int(n), int(m), int(p)) for s, n, m, p in rows}

    assert as_dict(reports.stage_times_live(pilot.sup, Scope(), PERIOD)) == STAGES_EXPECTED
    jiedao = user("jiedao")
    wide = Period(dt.date(2024, 1, 1), SUITE_NOW.date())  # up to the suite's named clock
    for who, scope, period in [(pilot.sup, Scope(), PERIOD), (pilot.sup, Scope(grid_id=pilot.gb.id), PERIOD),
                               (pilot.handler, Scope(), PERIOD), (jiedao, Scope(), wide),
                               (jiedao, Scope(community_id=pilot.community.id), wide),
                               (user("shequ01"), Scope(), wide), (user("wuye01"), Scope(), wide)]:
        rollup = as_dict(reports.stage_times_rollup(who, scope, period))
        assert rollup == as_dict(reports.stage_times_live(who, scope, period)), (who.username, scope)
        assert rollup  # every one of these has stage ends to compare


@pytest.mark.parametrize("start, end", [
    (dt.date(2025, 3, 3), dt.date(2025, 3, 16)),   # two whole weeks, no single days
    (dt.date(2025, 3, 4), dt.date(2025, 3, 13)),   # single days at both ends, no whole week
    (dt.date(2025, 2, 26), dt.date(2025, 3, 12)),  # days, one whole week, days
    (dt.date(2025, 3, 5), dt.date(2025, 3, 5)),    # one day
])
@pytest.mark.usefixtures("rctx")
def test_rollup_slices_cover_the_period_exactly(pilot, start, end):
    """Whole weeks plus edge days count each day of the period once: same as summing the days."""
    period = Period(start, end)
    t = ReportTally
    by_days = db.session.execute(select(func.sum(t.received), func.sum(t.returns), func.sum(t.closes)).where(
        t.span == "d", t.slice >= start, t.slice <= end, t.community_id == pilot.community.id)).one()
    figures = reports.figures(pilot.sup, Scope(), period, now(), None).get(0, reports.Figures())
    assert (figures.received, figures.returns, figures.resolution.num) == tuple(v or 0 for v in by_days)


def test_rollups_follow_every_transition(session, make_case):
    """Intake, fire() and extension approvals keep the rollups equal to a recomputation from the
    cases, timelines and extensions, through changes of handler organisation (everything the case
    counted moves with it), an approved extension, a return, a reopen."""
    from casework.services import timeliness
    from casework.services.transitions import fire

    # The building's property company, then a partner (a case only goes to organisations its form offers).
    orgs = session.scalars(select(Organisation).where(Organisation.kind == "property").order_by(Organisation.id)).all()
    orgs[1] = session.scalars(select(Organisation).where(Organisation.kind != "property").order_by(Organisation.id)).first()
    handler = session.scalars(select(User).where(User.role == "handler", User.organisation_id == orgs[0].id)).first()
    case = make_case()
    other = make_case(category="sanitation")

    def step(target, event, **data):
        fire(None, target, event, data, version=target.version)
        session.flush()

    step(case, "sign")
    step(case, "dispatch_handler", organisation=str(orgs[0].id))
    ext = timeliness.request_extension(handler, case, kind="extend", hours="8", reason="等配件",
                                       version=case.version)
    timeliness.decide_extension(user("jiedao"), case, ext.id, approve=True)
    session.flush()
    assert tallies.stored_rows() == tallies.expected_rows()
    step(case, "return_case", reason="not_our_duty")
    step(case, "dispatch_handler", organisation=str(orgs[1].id))
    step(case, "report_done", note="修好了")
    step(case, "reopen", note="还是不亮")
    step(case, "report_done", note="换了灯泡")
    step(case, "close", satisfaction="basically_satisfied")
    step(other, "reject", reason="not_in_scope")
    assert case.responded_at is not None and case.response_due_at is not None
    assert tallies.stored_rows() == tallies.expected_rows()
    figures, stages = tallies.expected_rows([case.id])

    def total(column, org=None):
        return sum(n for k, n in figures.items() if k[0] == "d" and k[-1] == column and org in (None, k[6]))

    assert (total("returns"), total("reopens"), total("closes"), total("extensions")) == (1, 1, 1, 1)
    assert total("extensions", orgs[1].id) == 1 and total("received", orgs[1].id) == 1  # moved with the case
    assert {k[3] for k in stages if k[2] == "o"} == {orgs[1].id}


def test_backfill_and_rebuild_for_a_migration(session):
    """What a migration runs on existing data gives what intake and fire() would have recorded."""
    copied = set(session.execute(select(Case.id, Case.responded_at, Case.response_due_at)).all())
    assert sum(1 for _, responded, _ in copied if responded) > 100  # the demo cases carry them
    session.execute(Case.__table__.update().values(responded_at=None, response_due_at=None))
    tallies.backfill_response()
    session.expire_all()
    assert set(session.execute(select(Case.id, Case.responded_at, Case.response_due_at)).all()) == copied
    stored = tallies.stored_rows()
    tallies.rebuild()
    assert tallies.stored_rows() == stored == tallies.expected_rows()


@pytest.mark.usefixtures("rctx")
def test_weekly_trend(pilot):
    weeks = [(w.label, w.monday, w.received, w.completed) for w in build(pilot).weeks]
    assert weeks == [("2025-W10", dt.date(2025, 3, 3), 3, 2),   # received c1 c2 c3; completed c1, c7
                     ("2025-W11", dt.date(2025, 3, 10), 5, 3)]  # c4 c5 c6 c8 c9; completed c2 c6 c9


@pytest.mark.usefixtures("rctx")
def test_overdue_list_is_most_late_first(pilot):
    report = build(pilot)
    assert report.overdue_total == 2
    assert [c.number for c in report.overdue] == [pilot.c3.number, pilot.c4.number]
    # How late: working time since the stage's due time, in working days of 7.5 h (the board's measure).
    from casework.services.clock import calendar
    from casework.timekeeping import working_time_between
    worked = working_time_between(calendar(), pilot.c3.stage_due_at, report.now) / dt.timedelta(hours=7.5)
    assert (report.overdue[0].late.amount, report.overdue[0].late.unit) == (round(worked, 1), "days")


@pytest.mark.parametrize("dim, expected", [
    ("grid", {"试点第1网格": (1, (5, "75.0%", "75.0%", "80.0%", "75.0%", 1, 0)),
              "试点第2网格": (2, (3, "66.7%", "0.0%", "—", "—", 1, 1))}),
    ("leader", {"shidian_la": (1, (5, "75.0%", "75.0%", "80.0%", "75.0%", 1, 0)),
                "shidian_lb": (2, (3, "66.7%", "0.0%", "—", "—", 1, 1))}),
    ("organisation", {"试点物业服务公司": (1, (2, "50.0%", "66.7%", "75.0%", "100.0%", 0, 0)),
                      "未转承办单位": (2, (6, "80.0%", "33.3%", "100.0%", "0.0%", 2, 1))}),
    ("category", {"环境卫生": (1, (4, "100.0%", "66.7%", "100.0%", "66.7%", 2, 1)),
                  "设施维修": (2, (4, "33.3%", "33.3%", "50.0%", "100.0%", 0, 0))}),
    ("community", {"试点社区": (1, (8, "71.4%", "50.0%", "80.0%", "75.0%", 2, 1))}),
])
@pytest.mark.usefixtures("rctx")
def test_ranking_per_dimension(pilot, dim, expected):
    report = build(pilot, dim)
    assert {r.label: (r.rank, figures_of(r.figures)) for r in report.ranking} == expected
    # Totals are the same whichever way the ranking is cut (summed groups or their own query).
    assert figures_of(report.totals) == (8, "71.4%", "50.0%", "80.0%", "75.0%", 2, 1)


def test_equal_groups_share_a_rank():
    rows = [reports.GroupRow(k, name, reports.Figures(received=r, on_time=reports.Rate(*ot)))
            for k, name, r, ot in [(1, "甲", 3, (1, 2)), (2, "乙", 3, (2, 4)), (3, "丙", 1, (0, 0)), (4, "丁", 9, (1, 1))]]
    ranked = reports.ranked(rows)
    assert [(r.label, r.rank) for r in ranked] == [("丁", 1), ("乙", 2), ("甲", 2), ("丙", 4)]


@pytest.mark.usefixtures("rctx")
def test_handler_sees_only_its_own_organisation(pilot):
    report = build(pilot, "grid", who=pilot.handler)
    assert figures_of(report.totals) == (2, "50.0%", "66.7%", "75.0%", "100.0%", 0, 0)  # c1 c2 c7
    assert report.overdue_total == 0


@pytest.mark.usefixtures("rctx")
def test_grid_filter_narrows_everything(pilot):
    report = build(pilot, "category", scope=Scope(grid_id=pilot.gb.id))
    assert figures_of(report.totals) == (3, "66.7%", "0.0%", "—", "—", 1, 1)
    assert [c.number for c in report.overdue] == [pilot.c3.number, pilot.c4.number]


@pytest.mark.parametrize("figure, dim, group, expected", [
    ("received", None, None, ("c1", "c2", "c3", "c4", "c5", "c6", "c8", "c9")),
    ("responded_late", None, None, ("c2", "c4")),
    ("late", None, None, ("c2", "c3", "c4")),
    ("on_time", None, None, ("c1", "c7", "c9")),
    ("overdue", None, None, ("c3", "c4")),
    ("returned", None, None, ("c3", "c6")),
    ("reopened", None, None, ("c2",)),
    ("dissatisfied", None, None, ("c6",)),
    ("extended", None, None, ("c3",)),
    ("late", "grid", "gb", ("c3", "c4")),
    ("late", "leader", "la", ("c2",)),
    ("late", "organisation", "o1", ("c2",)),
    ("late", "organisation", 0, ("c3", "c4")),
])
@pytest.mark.usefixtures("rctx")
def test_case_list_behind_each_figure(pilot, figure, dim, group, expected):
    group_id = getattr(pilot, group).id if isinstance(group, str) else group
    stmt = reports.figure_cases(pilot.sup, PERIOD, Scope(), figure, dim=dim, group=group_id)
    assert {r.number for r in db.session.execute(stmt)} == numbers(pilot, *expected)


# --- the page ---------------------------------------------------------------------------------

def tile(html: str, name: str) -> tuple[str, str]:
    """The figure tile's value and the line under it."""
    box = parse(html).find(id=f"fig-{name}")
    assert box is not None, f"no tile {name}"
    return box.find("p", class_="tile-value").text, box.find("p", class_="tile-sub muted").text


def cells(row) -> list[str]:
    """The texts of a table row's cells, header cells included, in order."""
    return [c.text for c in row.children if c.tag in ("td", "th")]


def rank_row(html: str, key) -> list[str]:
    row = parse(html).find("tr", id=f"rank-{key}")
    assert row is not None, f"no ranking row {key}"
    return cells(row)


def test_page_shows_the_figures(pilot, login_as):
    r = login_as("shidian_sup").get("/reports/", query_string=RANGE | {"dim": "grid"})
    assert r.status_code == 200
    html = r.text
    assert tile(html, "received") == ("8", "件")
    assert tile(html, "response") == ("71.4%", "（5/7）")
    assert tile(html, "on_time") == ("50.0%", "（3/6）")
    assert tile(html, "resolution") == ("80.0%", "（4/5）")
    assert tile(html, "satisfaction") == ("75.0%", "（3/4）")
    assert tile(html, "returns")[0] == "2" and tile(html, "extensions")[0] == "1"
    assert tile(html, "overdue")[0] == "2"
    assert rank_row(html, pilot.ga.id)[:9] == ["1", "试点第1网格", "5", "75.0%", "75.0%", "80.0%", "75.0%", "1", "0"]
    assert rank_row(html, pilot.gb.id)[:9] == ["2", "试点第2网格", "3", "66.7%", "0.0%", "—", "—", "1", "1"]
    stage = parse(html).find("tr", id="stage-handling")
    assert [c.text for c in stage.find_all("td", class_="num")] == ["4", "8.4", "28.0"]  # 30240 s, 100800 s
    # The overdue list links to the cases, most late first.
    assert html.index(f'href="/cases/{pilot.c3.id}"') < html.index(f'href="/cases/{pilot.c4.id}"')
    assert [c.text for c in parse(html).find("tr", id="week-2025-W10").find_all("td", class_="num")] == ["3", "2"]
    # The chart is inline SVG with no style attribute anywhere on the page (CSP style-src 'self').
    assert "<svg" in html and "style=" not in html
    assert "13900000" not in html  # no resident phone on the dashboard


def test_page_default_period_is_last_30_days(login_as):
    r = login_as("jiedao").get("/reports/")
    assert r.status_code == 200
    from casework.timekeeping import now
    today = now().date()
    assert f'value="{(today - dt.timedelta(days=29)).isoformat()}"' in r.text
    assert f'value="{today.isoformat()}"' in r.text


def test_htmx_filter_change_returns_the_report_body(pilot, login_as):
    c = login_as("shidian_sup")
    r = c.get("/reports/", query_string=RANGE, headers={"HX-Request": "true", "HX-Target": "report-page"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="report-page"') and "<html" not in r.text
    assert "HX-Request" in r.headers.get("Vary", "")


def test_subdistrict_supervisor_picks_a_community(pilot, login_as):
    r = login_as("jiedao").get("/reports/", query_string=RANGE | {"community": pilot.community.id, "dim": "leader"})
    assert r.status_code == 200
    assert tile(r.text, "response") == ("71.4%", "（5/7）")
    assert rank_row(r.text, pilot.lb.id)[:3] == ["2", "shidian_lb", "3"]


# --- bad date ranges (§6) ---------------------------------------------------------------------

@pytest.mark.parametrize("args, field, message", [
    ({"from": "", "to": "2025-03-16"}, "from", "请填写开始日期"),
    ({"from": "2025-03-03", "to": ""}, "to", "请填写结束日期"),
    ({"from": "2025-03-16", "to": "2025-03-03"}, "to", "结束日期不能早于开始日期"),
    ({"from": "2025-02-30", "to": "2025-03-16"}, "from", "无法识别的日期"),
    ({"from": "三月一日", "to": "2025-03-16"}, "from", "无法识别的日期"),
    ({"from": "2021-03-01", "to": "2024-03-02"}, "to", "时间跨度不能超过 3 年"),
])
def test_bad_range_is_refused_next_to_the_field(pilot, login_as, args, field, message):
    c = login_as("shidian_sup")
    r = c.get("/reports/", query_string=args)
    assert r.status_code == 422
    page = parse(r.text)
    error = page.find("p", class_="field-error")
    assert error is not None and message in error.text
    assert error.get("id") == {"from": "date_from", "to": "date_to"}[field] + "-error"
    for name, typed in args.items():  # what the user typed is still in the fields
        assert page.find("input", name=name).get("value") == typed
    assert 'id="fig-received"' not in r.text
    if message == "无法识别的日期":  # a date input would show an unreadable value as blank
        assert page.find("input", name="from").get("type") == "text"
    for url, extra in (("/reports/export.csv", {}), ("/reports/export.xlsx", {}),
                       ("/reports/cases.csv", {"figure": "received"})):
        assert c.get(url, query_string=args | extra).status_code == 422


def test_three_years_exactly_and_loose_formats_are_fine(pilot, login_as):
    c = login_as("shidian_sup")
    assert c.get("/reports/", query_string={"from": "2021-03-01", "to": "2024-03-01"}).status_code == 200
    r = c.get("/reports/", query_string={"from": "2025/3/3", "to": "2025年3月16日"})
    assert r.status_code == 200 and tile(r.text, "received")[0] == "8"


def test_grid_of_another_community_than_the_one_picked(pilot, login_as):
    other = db.session.scalars(select(Grid).where(Grid.community_id != pilot.community.id)).first()
    r = login_as("jiedao").get("/reports/", query_string=RANGE | {"community": pilot.community.id, "grid": other.id})
    assert r.status_code == 422
    assert "所选网格不属于所选社区" in r.text


# --- exports ------------------------------------------------------------------------------------

def test_csv_export_opens_and_matches_the_page(pilot, login_as):
    c = login_as("shidian_sup")
    page = c.get("/reports/", query_string=RANGE | {"dim": "grid"}).text
    r = c.get("/reports/export.csv", query_string=RANGE | {"dim": "grid"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 Chinese
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    summary = {row[0]: row[1:] for row in rows if len(row) == 4}
    assert summary["受理量"][0] == tile(page, "received")[0] == "8"
    assert summary["响应率"] == ["71.4%", "5", "7"] and tile(page, "response")[0] == "71.4%"
    assert summary["按时办结率"] == ["50.0%", "3", "6"]
    assert summary["解决率"] == ["80.0%", "4", "5"]
    assert summary["满意率"] == ["75.0%", "3", "4"]
    assert summary["退回次数"][0] == "2" and summary["延期次数（已批准）"][0] == "1"
    assert summary["当前超时未办结"][0] == "2"
    ranking = {row[1]: row for row in rows if len(row) == 9 and row[0].isdigit()}
    assert ranking["试点第1网格"] == rank_row(page, pilot.ga.id)[:9]
    assert ranking["试点第2网格"] == rank_row(page, pilot.gb.id)[:9]
    stages = {row[0]: row[1:] for row in rows if len(row) == 4 and row[0] in ("签收", "承办")}
    assert stages == {"签收": ["5", "1.0", "4.5"], "承办": ["4", "8.4", "28.0"]}
    assert ["2025-W11", "2025-03-10", "5", "3"] in rows


def test_xlsx_export_opens_and_matches_the_page(pilot, login_as):
    c = login_as("shidian_sup")
    page = c.get("/reports/", query_string=RANGE | {"dim": "organisation"}).text
    r = c.get("/reports/export.xlsx", query_string=RANGE | {"dim": "organisation"})
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.data))
    assert book.sheetnames == ["汇总", "各阶段用时", "排名", "周趋势", "退回原因", "退回趋势", "当前超时"]
    summary = {row[0]: row[1:] for row in book["汇总"].iter_rows(min_row=3, values_only=True)}
    assert summary["受理量"][0] == 8
    assert f"{summary['响应率'][0]:.1%}" == tile(page, "response")[0] == "71.4%"
    assert summary["响应率"][1:] == (5, 7)
    assert f"{summary['按时办结率'][0]:.1%}" == "50.0%"
    assert book["汇总"]["B4"].number_format == "0.0%"
    ranking = {row[1]: row for row in book["排名"].iter_rows(min_row=3, values_only=True)}
    page_row = rank_row(page, pilot.o1.id)
    xl = ranking["试点物业服务公司"]
    assert [str(xl[0]), xl[1], str(xl[2])] == page_row[:3]
    assert [f"{v:.1%}" for v in xl[3:7]] == page_row[3:7] == ["50.0%", "66.7%", "75.0%", "100.0%"]
    none_row = ranking["未转承办单位"]
    assert none_row[5:7] == (1.0, 0.0)
    weeks = list(book["周趋势"].iter_rows(min_row=3, values_only=True))
    assert weeks == [("2025-W10", "2025-03-03", 3, 2), ("2025-W11", "2025-03-10", 5, 3)]


def test_case_list_csv(pilot, login_as):
    c = login_as("shidian_sup")
    r = c.get("/reports/cases.csv", query_string=RANGE | {"figure": "late", "dim": "grid", "group": pilot.gb.id})
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert {row["编号"] for row in rows} == numbers(pilot, "c3", "c4")
    c3 = next(row for row in rows if row["编号"] == pilot.c3.number)
    assert (c3["状态"], c3["网格"], c3["办结时限"]) == ("网格研判", "试点第2网格", "2025-03-10 17:30")
    assert c.get("/reports/cases.csv", query_string=RANGE | {"figure": "nonsense"}).status_code == 404
    assert c.get("/reports/cases.csv", query_string=RANGE | {"figure": "late", "group": "x"}).status_code == 404


def _all_text(response) -> bytes:
    """The bytes to scan: an XLSX is a zip, so scan every member's content."""
    if response.data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(response.data)) as z:
            return b"".join(z.read(n) for n in z.namelist())
    return response.data


def test_no_resident_phone_or_name_in_any_export(pilot, login_as):
    c = login_as("jiedao")
    today = dt.date.today()
    wide = {"from": (today - dt.timedelta(days=400)).isoformat(), "to": today.isoformat()}
    residents = db.session.execute(select(Case.reporter_phone, Case.reporter_name)).all()
    phones = {p for p, _ in residents if p}
    names = {n for _, n in residents if n}
    assert len(phones) > 300
    bodies = []
    for dim in reports.DIMENSIONS:
        for fmt in ("csv", "xlsx"):
            bodies.append(_all_text(c.get(f"/reports/export.{fmt}", query_string=wide | {"dim": dim})))
    for period in (wide, RANGE):
        for figure in reports.FIGURES:
            r = c.get("/reports/cases.csv", query_string=period | {"figure": figure})
            assert r.status_code == 200
            bodies.append(r.data)
            text = r.data.decode("utf-8-sig")
            assert not any(name in text for name in names), figure  # names only checked in case lists
    received = bodies[len(reports.DIMENSIONS) * 2].decode("utf-8-sig")
    assert received.count("\n") > 300  # the list really holds the demo cases
    for body in bodies:
        text = body.decode("utf-8", errors="replace")
        leaked = [p for p in phones if p in text]
        assert not leaked


def test_titles_cannot_smuggle_formulas_or_phone_numbers(pilot, login_as):
    pilot.c4.title = '=HYPERLINK("http://evil.example","点我") 联系13812345678'
    db.session.flush()
    r = login_as("shidian_sup").get("/reports/cases.csv", query_string=RANGE | {"figure": "overdue"})
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    title = next(row["标题"] for row in rows if row["编号"] == pilot.c4.number)
    assert title.startswith("'=HYPERLINK") and "138****5678" in title and "13812345678" not in title


# --- access -------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["admin"])
@pytest.mark.parametrize("url", ["/reports/", "/reports/export.csv", "/reports/export.xlsx",
                                 "/reports/cases.csv?figure=received"])
def test_admin_gets_404(pilot, login_as, username, url):
    """Grid staff and building leaders have their own dashboard now (tests/test_report_levels.py)."""
    assert login_as(username).get(url).status_code == 404


def test_anonymous_is_sent_to_login(client):
    r = client.get("/reports/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_community_supervisor_cannot_pass_another_community(pilot, login_as):
    c = login_as("shequ01")
    mine = user("shequ01").community_id
    other = db.session.scalars(select(Community).where(Community.id != mine)).first()
    other_grid = db.session.scalars(select(Grid).where(Grid.community_id != mine)).first()
    for args in ({"community": other.id}, {"grid": other_grid.id}, {"grid": 999999}):
        for url in ("/reports/", "/reports/export.csv", "/reports/export.xlsx"):
            assert c.get(url, query_string=args).status_code == 404, (url, args)
        assert c.get("/reports/cases.csv", query_string=args | {"figure": "received"}).status_code == 404
    # Its own community and grid are fine, and it sees nothing of the pilot community.
    own_grid = db.session.scalars(select(Grid).where(Grid.community_id == mine)).first()
    r = c.get("/reports/", query_string=RANGE | {"community": mine, "grid": own_grid.id})
    assert r.status_code == 200 and "试点" not in r.text


def test_handler_cannot_filter_by_place_and_sees_its_own_cases(pilot, login_as):
    c = login_as("shidian_wuye")
    assert c.get("/reports/", query_string={"community": pilot.community.id}).status_code == 404
    r = c.get("/reports/", query_string=RANGE | {"dim": "category"})
    assert r.status_code == 200
    assert tile(r.text, "received")[0] == "2" and tile(r.text, "on_time")[0] == "66.7%"
    rows = list(csv.DictReader(io.StringIO(
        c.get("/reports/cases.csv", query_string=RANGE | {"figure": "received"}).data.decode("utf-8-sig"))))
    assert {row["编号"] for row in rows} == numbers(pilot, "c1", "c2")


@pytest.mark.parametrize("username, shown", [("shequ01", True), ("jiedao", True), ("wuye01", True),
                                             ("wangge01", True), ("louzhang01", True), ("admin", False)])
def test_nav_link_only_for_dashboard_roles(login_as, username, shown):
    assert (">统计<" in login_as(username).get("/cases/").text) is shown


# --- the chart's geometry --------------------------------------------------------------------

def test_trend_chart_geometry():
    chart = charts.trend_chart([3, 5], [2, 3], width=400, height=200)
    assert chart.y_max == 5
    assert chart.bars[1].height == pytest.approx(chart.plot_height)  # the tallest bar fills the plot
    assert chart.bars[0].y + chart.bars[0].height == pytest.approx(chart.bottom)
    assert chart.line_points.count(",") == 2
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 101)] == [1, 1, 5, 10, 20, 200]
    many = charts.trend_chart(list(range(157)), list(range(157)))
    assert len(many.x_labels) <= 12


def test_rebuild_tallies_command_restores_the_summary(app, session):
    """The repair command recounts the summary tables; the dashboard figures come back the same."""
    from casework.services import tallies
    before = tallies.stored_rows()
    db.session.execute(db.text("DELETE FROM report_tally"))
    db.session.commit()
    assert tallies.stored_rows() != before
    result = app.test_cli_runner().invoke(args=["casework", "rebuild-tallies"])
    assert result.exit_code == 0 and "tallies rebuilt" in result.output
    assert tallies.stored_rows() == before

"""Demo data: a believable subdistrict, its people, and cases in every state (bulk, for benchmarks too)."""
from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
from collections import Counter
from types import SimpleNamespace

from sqlalchemy import func, insert, select

from casework import events
from casework.extensions import db
from casework.models import (
    STAGE_OF_STATUS, Building, Case, CaseEvent, Category, Community, Grid, Organisation, Subdistrict, User,
)
from casework.services.numbering import TRACKING_ALPHABET, TRACKING_LENGTH, case_number, next_value
from casework.services import tallies
from casework.services.clock import calendar, rule_for
from casework.timekeeping import add_working_time, due_time, now, working_time_between
from casework.workflow import CaseWorkflow

log = logging.getLogger(__name__)

CATEGORIES = [
    ("sanitation", "环境卫生", "Sanitation", "normal"),
    ("facilities", "设施维修", "Facility repair", "normal"),
    ("dispute", "邻里纠纷", "Neighbour dispute", "normal"),
    ("property", "物业服务", "Property service", "normal"),
    ("safety", "安全隐患", "Safety hazard", "urgent"),
    ("utilities", "水电气暖", "Water, power, gas, heating", "urgent"),
    ("greening", "绿化养护", "Greening", "normal"),
    ("other", "其他", "Other", "normal"),
]

TITLES = {
    "sanitation": ["楼道堆放杂物无人清理", "垃圾桶满溢散发异味", "单元门口有建筑垃圾", "小区内宠物粪便较多"],
    "facilities": ["楼道声控灯不亮", "单元门禁损坏无法关闭", "电梯按钮失灵", "楼顶防水层破损漏雨", "路灯不亮"],
    "dispute": ["楼上噪音扰民", "邻居占用公共楼道", "空调外机滴水到楼下", "停车位纠纷"],
    "property": ["物业维修迟迟未上门", "小区大门道闸故障", "公共区域保洁不到位", "消防通道被车辆占用"],
    "safety": ["楼道电动车充电有隐患", "外墙瓷砖松动有坠落风险", "井盖缺失", "消防栓无水"],
    "utilities": ["地下室水管漏水", "单元停水未通知", "燃气管道有异味", "暖气不热"],
    "greening": ["绿化带树木遮挡窗户", "草坪被踩踏需补种", "枯树枝有折断风险"],
    "other": ["建议增设休息座椅", "咨询老旧小区改造进度", "快递柜位置不便"],
}
DESCRIPTIONS = [
    "已经持续好几天了，希望尽快处理。", "家里有老人，出行不方便，麻烦尽快安排。",
    "之前反映过一次，还没有解决。", "晚上特别明显，影响休息。", "请网格员帮忙协调一下。",
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "丽娟", "海燕", "德明", "淑珍", "文博", "子涵", "浩然", "雅婷"]


def _phone(rng: random.Random) -> str:
    return rng.choice(["138", "139", "150", "158", "186", "177", "135"]) + f"{rng.randrange(10**8):08d}"


def _code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def load_places_and_people(password: str = "demo") -> dict:
    """The grid tree, organisations, categories and the demo accounts."""
    sd = Subdistrict(name="松溪街道")
    db.session.add(sd)
    wanjia = Organisation(code="WY01", name="万家物业服务有限公司", kind="property", phone="0571-88001234")
    anju = Organisation(code="WY02", name="安居物业管理有限公司", kind="property", phone="0571-88005678")
    volunteers = Organisation(code="ZY01", name="邻里帮帮志愿维修队", kind="volunteer_team", phone="13900001111")
    legal = Organisation(code="SZ01", name="和睦调解法律服务社", kind="social_group", phone="0571-88009999")
    db.session.add_all([wanjia, anju, volunteers, legal])
    for code, zh, en, prio in CATEGORIES:
        db.session.add(Category(code=code, name_zh=zh, name_en=en, default_priority=prio))
    communities, grids, buildings = [], [], []
    for ci, (cname, company) in enumerate([("青松社区", wanjia), ("溪畔社区", anju)], start=1):
        community = Community(subdistrict=sd, name=cname, code=f"C{ci:02d}")
        communities.append(community)
        for gi in range(1, 4):
            grid = Grid(community=community, code=f"G{ci}{gi:02d}", name=f"{cname[:2]}第{gi}网格")
            grids.append(grid)
            for bi in range(1, 6):
                number = (gi - 1) * 5 + bi
                buildings.append(Building(grid=grid, code=f"{grid.code}-{bi:02d}", name=f"{cname[:2]}苑{number}幢",
                                          address=f"松溪路{ci * 100 + number}号", property_company=company))
    db.session.add_all(communities + grids + buildings)
    db.session.flush()

    def user(username, name, role, **kw):
        u = User(username=username, display_name=name, role=role, **kw)
        u.set_password(password)
        db.session.add(u)
        return u

    user("admin", "系统管理员", "admin")
    user("jiedao", "周明", "subdistrict_supervisor")
    user("shequ01", "林芳", "community_supervisor", community=communities[0])
    user("shequ02", "郭强", "community_supervisor", community=communities[1])
    # Grid staff: wangge01 and wangge02 look after two different grids of 青松社区.
    for i, grid in enumerate(grids, start=1):
        user(f"wangge{i:02d}", f"{SURNAMES[i]}{GIVEN[i]}", "grid_staff", grids=[grid])
    # One building leader per two to three buildings; louzhang01 serves buildings in wangge01's grid.
    leaders = 0
    for grid in grids:
        blds = [b for b in buildings if b.grid is grid]
        for chunk in (blds[:3], blds[3:]):
            leaders += 1
            user(f"louzhang{leaders:02d}", f"{SURNAMES[leaders + 5]}{GIVEN[leaders % 12]}",
                 "building_leader", buildings=chunk)
    user("wuye01", "陈敏", "handler", organisation=wanjia)
    user("wuye02", "赵磊", "handler", organisation=anju)
    user("hehuo01", "马师傅", "handler", organisation=volunteers)
    user("hehuo02", "何静", "handler", organisation=legal)
    db.session.flush()
    return {"buildings": buildings}


# Paths through the workflow that end in each state; each is walked on the machine to prove it.
PATHS = [
    ["report"],
    ["report", "sign"],
    ["report", "sign", "dispatch"],
    ["report", "sign", "dispatch", "hand_on"],
    ["report", "sign", "dispatch", "hand_on", "accept"],
    ["report", "sign", "dispatch_handler", "accept"],
    ["report", "sign", "dispatch", "hand_on", "accept", "return_case"],
    ["report", "sign", "dispatch", "hand_on", "accept", "report_done"],
    ["report", "sign", "dispatch", "resolve"],
    ["report", "sign", "dispatch", "hand_on", "accept", "report_done", "close"],
    ["report", "sign", "dispatch", "hand_on", "accept", "report_done", "close"],
    ["report", "sign", "dispatch_handler", "accept", "report_done", "close"],
    ["report", "sign", "resolve", "close"],
    ["report", "sign", "dispatch", "resolve", "close"],
    ["report", "sign", "dispatch", "hand_on", "accept", "report_done", "reopen", "report_done", "close"],
    ["report", "reject"],
    ["report", "sign", "merge"],
]


class _Row:
    """A case's column values (a dict, as bulk-inserted) seen as attributes, so that the machine's guards
    and each event's effect and resolution (`events.EventSpec.apply`, as the transitions service runs
    them) read and set them: the demo copies no event's effect."""

    def __init__(self, values: dict):
        object.__setattr__(self, "values", values)

    def __getattr__(self, name):
        return self.values[name]

    def __setattr__(self, name, value):
        self.values[name] = value


def _inputs(event: str, organisation: int | None, satisfaction: str | None = None) -> dict:
    """The checked inputs an effect reads. Demo duplicates point at no earlier case (bulk-made cases have
    no real twin): a merge gets a stand-in without an id, so duplicate_of_id stays empty."""
    return {"organisation": SimpleNamespace(id=organisation), "satisfaction": satisfaction,
            "duplicate_of": SimpleNamespace(id=None), "note": "", "reason": None}


def _fire(row: _Row, event: str, source: str, clean: dict, at) -> None:
    """The event's effect and resolution on the row (the status itself moved by the machine)."""
    events.spec(event).apply(row, clean, at, source)


_FACTS = ("status", "via_leader", "assigned_org_id", "handler_accepted_at", "return_count", "resolved_at",
          "returned_org_id", "satisfaction", "duplicate_of_id", "resolution", "closed_at")


def _walk(path: list[str]) -> list[tuple[str, str | None, str, bool, int]]:
    """Walk a path on the real machine once: (event, source, target, via_leader, return_count) per step."""
    row = _Row(dict.fromkeys(_FACTS) | {"status": "reported", "via_leader": False, "return_count": 0})
    machine = CaseWorkflow(model=row, state_field="status")
    steps = []
    for event in path:
        source = None if event == "report" else row.status
        if event != "report":
            machine.send(event)
            _fire(row, event, source, _inputs(event, 1), 1)
        steps.append((event, source, row.status, row.via_leader, row.return_count))
    return steps


STEPS = [_walk(p) for p in PATHS]
# Some returned cases are returned a second time and wait for the supervisor's arbitration (仲裁). Picked
# by position among the returned ones, not by the random draw, so every other case stays as it was.
_RETURNED = STEPS[PATHS.index(["report", "sign", "dispatch", "hand_on", "accept", "return_case"])]
_RETURNED_TWICE = _walk(["report", "sign", "dispatch", "hand_on", "accept", "return_case", "return_case"])


def generate_cases(count: int, seed: int = 7, days: int = 60) -> int:
    """Insert `count` cases with their timelines in bulk (100,000 in well under a minute)."""
    rng = random.Random(seed)
    categories = db.session.scalars(select(Category).order_by(Category.id)).all()
    buildings = db.session.scalars(select(Building).order_by(Building.id)).all()
    grids = {g.id: g for g in db.session.scalars(select(Grid))}
    users = db.session.scalars(select(User)).all()
    staff_of_grid = {g.id: next((u.id for u in users if u.role == "grid_staff" and g in u.grids), None)
                     for g in grids.values()}
    leader_of_building = {}
    for u in users:
        if u.role == "building_leader":
            for b in u.buildings:
                leader_of_building[b.id] = u.id
    handler_of_org = {}
    for u in users:
        if u.role == "handler":
            handler_of_org.setdefault(u.organisation_id, u.id)
    cal = calendar()
    stage_of = STAGE_OF_STATUS
    partners = [o.id for o in db.session.scalars(select(Organisation).where(Organisation.kind != "property"))]
    end = now()
    last_seq = next_value(f"case-{end.year}", count)
    first_seq = last_seq - count + 1
    max_id = db.session.scalar(select(func.max(Case.id))) or 0
    batch_cases, batch_events = [], []
    tally_figures, tally_stages = Counter(), Counter()  # the dashboard's rollups (services/tallies.py)
    inserted = 0

    for i in range(count):
        steps = rng.choice(STEPS)
        if steps is _RETURNED and i % 4 == 0:
            steps = _RETURNED_TWICE
        category = rng.choice(categories)
        building = rng.choice(buildings)
        grid = grids[building.grid_id]
        priority = "emergency" if rng.random() < 0.03 else ("urgent" if rng.random() < 0.15 else category.default_priority)
        # Open cases are mostly recent (a working office keeps up); closed ones spread over the period.
        still_open = steps[-1][2] != "closed"
        created = end - dt.timedelta(days=rng.uniform(0.05, 9 if still_open else days))
        org = building.property_company_id if rng.random() < 0.8 or not partners else rng.choice(partners)
        case_id = max_id + i + 1
        values = dict(
            id=case_id, number=case_number(end.year, first_seq + i), tracking_code=_code(),
            title=rng.choice(TITLES[category.code]), description=rng.choice(DESCRIPTIONS),
            category_id=category.id, priority=priority, channel=rng.choice(["phone", "walk_in", "web", "patrol"]),
            building_id=building.id, grid_id=grid.id, community_id=grid.community_id,
            unit=f"{rng.randint(1, 4)}单元{rng.randint(1, 18)}0{rng.randint(1, 4)}",
            reporter_name=rng.choice(SURNAMES) + rng.choice(GIVEN), reporter_phone=_phone(rng),
            created_at=created, returned_org_id=None, resolution=None, satisfaction=None,
            resolved_at=None, closed_at=None, duplicate_of_id=None, version=1,
            responded_at=None, response_due_at=None, assigned_org_id=None, handler_accepted_at=None,
        )
        row = _Row(values)
        at = created
        wall = priority == "emergency"

        def due(stage: str, start: dt.datetime, category=category, priority=priority) -> dt.datetime:
            hours, wall_clock = rule_for(category.id, category.code, priority, stage)
            return due_time(cal, start, hours, wall_clock)

        stage_start, stage_due = created, due("sign", created)
        first_event = len(batch_events)
        values["due_at"] = due("case", created)
        for event, source, target, _via, _returns in steps:
            if event != "report":
                # People act in working hours: each step takes some working time, never past now.
                nxt = add_working_time(cal, at, dt.timedelta(hours=rng.uniform(0.1, 10)))
                at = nxt if nxt < end else at + (end - at) / 3
            # Who acts and what they write; what the event does to the case is its spec's (_fire below).
            actor = staff_of_grid[grid.id]
            assigned_org = values["assigned_org_id"]
            org_id = satisfaction = None
            note, reason = "", None
            if event in ("hand_on", "dispatch_handler"):
                org_id = org
            elif event == "accept":
                actor = handler_of_org.get(assigned_org)
            elif event == "report_done":
                actor, note = handler_of_org.get(assigned_org), "已安排师傅上门处理完毕。"
            elif event == "return_case":
                actor, reason = handler_of_org.get(assigned_org), "not_our_duty"
                note = "该事项不属于物业服务范围，请协调相关部门。"
            elif event == "resolve":
                if source == "building_leader":
                    actor = leader_of_building.get(building.id)
                note = "现场协调，已解决。"
            elif event == "close":
                satisfaction = rng.choice(["satisfied"] * 6 + ["basically_satisfied"] * 3 + ["dissatisfied"])
                note = "电话回访，居民表示问题已解决。"
            elif event == "reopen":
                note = "回访时居民反映仍未解决。"
            elif event == "reject":
                reason = "not_in_scope"
            elif event == "merge":
                note = "与同楼栋已有案件重复。"
            if event != "report":
                _fire(row, event, source, _inputs(event, org, satisfaction), at)
            if event == "hand_on":
                actor = leader_of_building.get(building.id)
            if event == "report":
                actor = None if values["channel"] == "web" else actor
            stage_seconds = stage_due_at = None
            if event != "report":
                stage_due_at = stage_due
                span = (at - stage_start) if wall else working_time_between(cal, stage_start, at)
                stage_seconds = int(span.total_seconds())
                if source == "reported" and target != source and values["responded_at"] is None:
                    values["responded_at"], values["response_due_at"] = at, stage_due_at
                if target != source:
                    stage_start = at
                    stage_due = due(stage_of[target], at) if target in stage_of else None
            batch_events.append(dict(
                stage_due_at=stage_due_at, stage_seconds=stage_seconds,
                case_id=case_id, kind="transition", event=event, actor_id=actor,
                actor_label="resident" if actor is None and event == "report" else None,
                from_status=source, to_status=target,
                note=note, reason_code=reason, organisation_id=org_id, public=True, created_at=at,
            ))
        _event, _source, target, via_leader, return_count = steps[-1]
        values.update(status=target, via_leader=via_leader, return_count=return_count,
                      updated_at=at, stage_started_at=stage_start, stage_due_at=stage_due,
                      created_by_id=None, parked_at=None, extension_count=0)
        figures, stages = tallies.case_tallies(values, batch_events[first_event:])
        tally_figures.update(figures)
        tally_stages.update(stages)
        batch_cases.append(values)
        if len(batch_cases) >= 5000:
            inserted += _flush(batch_cases, batch_events)
    inserted += _flush(batch_cases, batch_events)
    tallies.add_rows(tally_figures, tally_stages)
    _fix_sequences()
    return inserted


def _flush(cases: list[dict], events: list[dict]) -> int:
    n = len(cases)
    if cases:
        # Core inserts: executemany without the ORM's per-row bookkeeping.
        db.session.execute(insert(Case.__table__), cases)
        db.session.execute(insert(CaseEvent.__table__), events)
    cases.clear()
    events.clear()
    return n


def _fix_sequences() -> None:
    """PostgreSQL: explicit ids leave the serial sequence behind; move it past the highest id."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text(
            "SELECT setval(pg_get_serial_sequence('\"case\"', 'id'), (SELECT MAX(id) FROM \"case\"))"))


def load_demo(cases: int = 360) -> None:
    """Everything the demo needs, into an empty database."""
    if db.session.scalar(select(func.count()).select_from(User)):
        raise RuntimeError("the database already has users; demo data goes into an empty database")
    load_places_and_people()
    from casework.services.volunteers.demo import load_volunteer_demo
    load_volunteer_demo()
    generate_cases(cases)
    log.info("demo data loaded: %d cases", cases)

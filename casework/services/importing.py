"""Import and export of the whole structure: workbook → plan (dry run) → apply, keyed by codes.

One XLSX workbook with the sheets 社区 / 网格 / 楼栋 / 单位 / 人员 (or one CSV file per sheet, named
after it). `read_files` turns the upload into rows, `build_plan` checks every row against the file
and the database and says what would be added, changed, deactivated or left alone, with every error
by sheet, row and column; `apply` carries out a plan without errors in the caller's transaction (the
caller commits once, or rolls everything back). Importing the same file twice changes nothing, and
`export_workbook` writes the current structure in the same format (export → import is a no-op).
"""
from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from casework.extensions import db
from casework.models import Building, Community, Grid, Organisation, Subdistrict, User
from casework.services import activation, audit, structure
from casework.services.errors import ServiceError

log = logging.getLogger(__name__)

# Sheet → [(field, header)], in the order they are applied (organisations before the buildings
# that name their property company). The workbook shows them in SHEET_ORDER.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "社区": [("code", "社区编码"), ("name", "社区名称"), ("subdistrict", "所属街道"), ("status", "状态")],
    "网格": [("code", "网格编码"), ("name", "网格名称"), ("community", "社区编码"), ("status", "状态")],
    "单位": [("code", "单位编码"), ("name", "单位名称"), ("kind", "类型"), ("contact_name", "联系人"),
           ("phone", "联系电话"), ("communities", "服务社区编码"), ("status", "状态")],
    "楼栋": [("code", "楼栋编码"), ("name", "楼栋名称"), ("grid", "网格编码"), ("address", "地址"),
           ("units", "单元数"), ("households", "户数"), ("property", "物业单位编码"), ("latitude", "纬度"),
           ("longitude", "经度"), ("status", "状态")],
    "人员": [("username", "账号"), ("name", "姓名"), ("role", "角色"), ("phone", "手机号"),
           ("organisation", "单位编码"), ("community", "社区编码"), ("grids", "负责网格编码"),
           ("buildings", "负责楼栋编码"), ("status", "状态")],
}
SHEET_ORDER = ("社区", "网格", "楼栋", "单位", "人员")
REQUIRED = {"社区": ("code", "name"), "网格": ("code", "name", "community"), "单位": ("code", "name", "kind"),
            "楼栋": ("code", "name", "grid"), "人员": ("username", "name", "role")}
ORG_KIND = {"物业服务企业": "property", "企业合伙人": "enterprise", "社会组织": "social_group",
            "个人合伙人": "individual", "志愿服务队": "volunteer_team"}
ROLE = {"网格员": "grid_staff", "楼栋长": "building_leader", "承办人员": "handler",
        "社区督导": "community_supervisor", "街道督导": "subdistrict_supervisor"}
KIND_WORD = {v: k for k, v in ORG_KIND.items()}
ROLE_WORD = {v: k for k, v in ROLE.items()}
STATUS = {"": True, "启用": True, "停用": False}
LIST_SPLIT = re.compile(r"[、,，;；\s]+")
MAX_ROWS = 20_000
ACTIONS = ("add", "change", "deactivate", "unchanged")
AUDIT_ROWS = 5000  # rows listed in the import's audit entry


class Unreadable(ServiceError):
    """The upload is not a workbook or CSV we can read (422)."""

    status = 422


class TooManyRows(ServiceError):
    status = 413


@dataclass
class Issue:
    sheet: str
    row: int
    column: str
    message: Any


@dataclass
class Step:
    sheet: str
    key: str
    action: str
    fields: list[str] = field(default_factory=list)


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    records: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, dict[str, int]]:
        out = {s: dict.fromkeys(ACTIONS, 0) for s in SHEET_ORDER if s in self.records}
        for step in self.steps:
            out[step.sheet][step.action] += 1
        return out

    def changed(self) -> bool:
        return any(s.action != "unchanged" for s in self.steps)


@dataclass
class Slip:
    """One line of the printable activation sheet."""

    username: str
    name: str
    role: str
    area: str
    code: str


# ---- reading ------------------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_files(files: list[tuple[str, bytes]]) -> dict[str, list[tuple[int, dict[str, str]]]]:
    """(filename, bytes) uploads → sheet → [(row number, {header: text})]; unknown sheets are ignored."""
    sheets: dict[str, list[tuple[int, dict[str, str]]]] = {}
    total = 0
    for filename, data in files:
        name = (filename or "").rsplit("/", 1)[-1]
        lower = name.lower()
        if lower.endswith(".xlsx"):
            grids = _read_xlsx(data)
        elif lower.endswith(".csv"):
            stem = name[:-4]
            if stem not in COLUMNS:
                raise Unreadable(_l("CSV 文件须以工作表命名，例如 楼栋.csv（可用：%(names)s）。",
                                    names="、".join(SHEET_ORDER)))
            grids = {stem: _read_csv(data)}
        else:
            raise Unreadable(_l("请上传 .xlsx 工作簿或按工作表命名的 .csv 文件。"))
        for sheet, rows in grids.items():
            if sheet not in COLUMNS:
                continue
            if not rows:
                sheets[sheet] = []
                continue
            headers = [_cell(h) for h in rows[0]]
            body = []
            for number, row in enumerate(rows[1:], start=2):
                values = [_cell(v) for v in row]
                if not any(values):
                    continue
                body.append((number, dict(zip(headers, values, strict=False))))
            total += len(body)
            if total > MAX_ROWS:
                raise TooManyRows(_l("一次最多导入 %(n)d 行，请分批导入。", n=MAX_ROWS))
            sheets[sheet] = [(0, {"__headers__": headers})] + body
    if not sheets:
        raise Unreadable(_l("文件里没有可导入的工作表（%(names)s）。", names="、".join(SHEET_ORDER)))
    return sheets


def _read_xlsx(data: bytes) -> dict[str, list[tuple]]:
    from openpyxl import load_workbook
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        log.info("unreadable workbook: %s", exc)
        raise Unreadable(_l("无法读取这个文件：它不是有效的 .xlsx 工作簿。")) from None
    try:
        return {ws.title.strip(): list(ws.iter_rows(values_only=True)) for ws in book.worksheets}
    finally:
        book.close()


def _read_csv(data: bytes) -> list[tuple]:
    # Excel on Chinese Windows saves CSV as GB18030 (GBK); everything else as UTF-8 (with a BOM).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Unreadable(_l("无法识别 CSV 文件的编码，请另存为 UTF-8。"))
    if "\x00" in text:
        raise Unreadable(_l("无法读取这个文件：它不是 CSV 文本。"))
    return [tuple(r) for r in csv.reader(io.StringIO(text))]


# ---- checking -----------------------------------------------------------------------------------

class _Current:
    """Everything the plan compares with, loaded once (a few queries, whatever the file's size)."""

    def __init__(self):
        self.communities = {c.code: c for c in db.session.scalars(select(Community).options(
            selectinload(Community.subdistrict))) if c.code}
        self.grids = {g.code: g for g in db.session.scalars(select(Grid).options(selectinload(Grid.community)))}
        self.orgs = {o.code: o for o in db.session.scalars(select(Organisation).options(
            selectinload(Organisation.communities))) if o.code}
        self.org_names = {o.name: o.code for o in self.orgs.values()}
        self.buildings = {b.code: b for b in db.session.scalars(select(Building).options(
            selectinload(Building.grid), selectinload(Building.property_company))) if b.code}
        self.users = {u.username: u for u in db.session.scalars(select(User).options(
            selectinload(User.organisation), selectinload(User.community), selectinload(User.grids),
            selectinload(User.buildings)))}


def _codes(raw: str) -> list[str]:
    return sorted({c for c in LIST_SPLIT.split(raw or "") if c})


def build_plan(sheets: dict[str, list[tuple[int, dict[str, str]]]]) -> Plan:
    """Check every row and say what applying the file would do; changes nothing."""
    plan = Plan()
    cur = _Current()
    file_codes: dict[str, dict[str, dict]] = {s: {} for s in COLUMNS}
    for sheet in COLUMNS:
        if sheet not in sheets:
            continue
        rows = sheets[sheet]
        headers = rows[0][1]["__headers__"] if rows else []
        missing = [h for f, h in COLUMNS[sheet] if f in REQUIRED[sheet] and h not in headers]
        for header in missing:
            plan.errors.append(Issue(sheet, 1, header, _l("缺少这一列。")))
        plan.records[sheet] = []
        if missing:
            continue
        for number, raw in rows[1:]:
            values = {f: raw.get(h, "") for f, h in COLUMNS[sheet]}
            record = _check_row(sheet, number, values, plan, cur, file_codes)
            if record is not None:
                plan.records[sheet].append(record)
    if not plan.errors:
        for sheet in COLUMNS:
            for record in plan.records.get(sheet, []):
                plan.steps.append(_compare(sheet, record, cur))
    plan.steps.sort(key=lambda s: (SHEET_ORDER.index(s.sheet), s.key))
    return plan


def _err(plan: Plan, sheet: str, number: int, fname: str, message) -> None:
    header = dict(COLUMNS[sheet])[fname]
    plan.errors.append(Issue(sheet, number, header, message))


def _check_row(sheet, number, v, plan, cur, file_codes):
    before = len(plan.errors)
    key_field = "username" if sheet == "人员" else "code"
    key = v[key_field]
    for fname in REQUIRED[sheet]:
        if not v[fname]:
            _err(plan, sheet, number, fname, _l("必填，不能为空。"))
    if key:
        pattern = structure.USERNAME_RE if sheet == "人员" else structure.CODE_RE
        if not pattern.match(key):
            _err(plan, sheet, number, key_field, _l("“%(v)s”格式不对：只能用字母、数字、- 和 _。", v=key))
        elif key in file_codes[sheet]:
            _err(plan, sheet, number, key_field,
                 _l("编码“%(v)s”重复（第 %(row)d 行已用过）。", v=key, row=file_codes[sheet][key]["row"]))
    if v["status"] not in STATUS:
        _err(plan, sheet, number, "status", _l("状态只能填“启用”或“停用”（空白即启用）。"))
    for fname in ("name",):
        if len(v[fname]) > (120 if sheet == "单位" else 80):
            _err(plan, sheet, number, fname, _l("名称太长。"))
    record = {"row": number, "key": key, "active": STATUS.get(v["status"], True)}
    getattr(_Checks, {"社区": "community", "网格": "grid", "单位": "org", "楼栋": "building",
                      "人员": "person"}[sheet])(sheet, number, v, record, plan, cur, file_codes)
    # Remembered even when the row is wrong, so rows naming it get no second, misleading error.
    file_codes[sheet].setdefault(key, record)
    return None if len(plan.errors) > before else record


def _known(code: str, sheet: str, current: dict, file_codes) -> bool:
    return code in file_codes[sheet] or code in current


class _Checks:
    """Per-sheet checks: fill the typed record, or add errors."""

    @staticmethod
    def community(sheet, number, v, rec, plan, cur, file_codes):
        rec.update(name=v["name"], subdistrict=v["subdistrict"] or "")

    @staticmethod
    def grid(sheet, number, v, rec, plan, cur, file_codes):
        rec.update(name=v["name"], community=v["community"])
        if v["community"] and not _known(v["community"], "社区", cur.communities, file_codes):
            _err(plan, sheet, number, "community", _l("未知社区编码“%(v)s”。", v=v["community"]))

    @staticmethod
    def org(sheet, number, v, rec, plan, cur, file_codes):
        kind = ORG_KIND.get(v["kind"])
        if v["kind"] and kind is None:
            _err(plan, sheet, number, "kind", _l("类型须为：%(k)s。", k="、".join(ORG_KIND)))
        phone = structure.clean_phone(v["phone"])
        if phone and not structure.valid_phone(phone):
            _err(plan, sheet, number, "phone", _l("电话“%(v)s”格式不对：须为 11 位手机号或带区号的固定电话。", v=v["phone"]))
        communities = _codes(v["communities"])
        for code in communities:
            if not _known(code, "社区", cur.communities, file_codes):
                _err(plan, sheet, number, "communities", _l("未知社区编码“%(v)s”。", v=code))
        other = cur.org_names.get(v["name"])
        same_name_in_file = [r for r in file_codes[sheet].values() if r["name"] == v["name"]]
        if (other and other != v["code"]) or same_name_in_file:
            _err(plan, sheet, number, "name", _l("已有同名单位“%(v)s”，单位名称不能重复。", v=v["name"]))
        rec.update(name=v["name"], kind=kind, contact_name=v["contact_name"][:60], phone=phone,
                   communities=communities)

    @staticmethod
    def building(sheet, number, v, rec, plan, cur, file_codes):
        if v["grid"] and not _known(v["grid"], "网格", cur.grids, file_codes):
            _err(plan, sheet, number, "grid", _l("未知网格编码“%(v)s”。", v=v["grid"]))
        prop = v["property"]
        if prop:
            org = file_codes["单位"].get(prop)
            kind = org["kind"] if org else (cur.orgs[prop].kind if prop in cur.orgs else None)
            if kind is None:
                _err(plan, sheet, number, "property", _l("未知单位编码“%(v)s”。", v=prop))
            elif kind != "property":
                _err(plan, sheet, number, "property", _l("单位“%(v)s”不是物业服务企业。", v=prop))
        rec.update(name=v["name"], grid=v["grid"], address=v["address"][:200], property=prop or None)
        for fname, high in (("units", 999), ("households", 99999)):
            raw = v[fname]
            if not raw:
                rec[fname] = 0
            elif not raw.isdigit() or int(raw) > high:
                _err(plan, sheet, number, fname, _l("请填 0 到 %(n)d 的整数。", n=high))
            else:
                rec[fname] = int(raw)
        for fname, limit in (("latitude", 90), ("longitude", 180)):
            raw = v[fname]
            if not raw:
                rec[fname] = None
                continue
            try:
                value = float(raw)
            except ValueError:
                value = None
            if value is None or not -limit <= value <= limit:
                _err(plan, sheet, number, fname, _l("请填 -%(n)d 到 %(n)d 之间的数字。", n=limit))
            else:
                rec[fname] = value

    @staticmethod
    def person(sheet, number, v, rec, plan, cur, file_codes):
        existing = cur.users.get(v["username"])
        if existing is not None and existing.role not in ROLE_WORD:
            # Administrators (and any role the workbook has no word for) are managed elsewhere.
            _err(plan, sheet, number, "username", _l("“%(v)s”是管理员账号，不能通过导入修改。", v=v["username"]))
        role = ROLE.get(v["role"])
        if v["role"] == "管理员":
            _err(plan, sheet, number, "role", _l("不能通过导入创建管理员，请用命令行或管理页面。"))
        elif v["role"] and role is None:
            _err(plan, sheet, number, "role", _l("角色须为：%(r)s。", r="、".join(ROLE)))
        phone = structure.clean_phone(v["phone"])
        if phone and not structure.valid_phone(phone, mobile_only=True):
            _err(plan, sheet, number, "phone", _l("手机号“%(v)s”格式不对：须为 11 位手机号。", v=v["phone"]))
        grids, buildings = _codes(v["grids"]), _codes(v["buildings"])
        for code in grids:
            if not _known(code, "网格", cur.grids, file_codes):
                _err(plan, sheet, number, "grids", _l("未知网格编码“%(v)s”。", v=code))
        for code in buildings:
            if not _known(code, "楼栋", cur.buildings, file_codes):
                _err(plan, sheet, number, "buildings", _l("未知楼栋编码“%(v)s”。", v=code))
        if v["organisation"] and not _known(v["organisation"], "单位", cur.orgs, file_codes):
            _err(plan, sheet, number, "organisation", _l("未知单位编码“%(v)s”。", v=v["organisation"]))
        if v["community"] and not _known(v["community"], "社区", cur.communities, file_codes):
            _err(plan, sheet, number, "community", _l("未知社区编码“%(v)s”。", v=v["community"]))
        needs = {"grid_staff": ("grids", _l("网格员须填写负责网格编码。")),
                 "building_leader": ("buildings", _l("楼栋长须填写负责楼栋编码。")),
                 "handler": ("organisation", _l("承办人员须填写单位编码。")),
                 "community_supervisor": ("community", _l("社区督导须填写社区编码。"))}
        if role in needs and not v[needs[role][0]]:
            _err(plan, sheet, number, needs[role][0], needs[role][1])
        rec.update(name=v["name"], role=role, phone=phone, organisation=v["organisation"] or None,
                   community=v["community"] or None, grids=grids, buildings=buildings)


# ---- comparing ----------------------------------------------------------------------------------

def _now_values(sheet: str, row) -> dict:
    """The database row in the record's terms (codes for references)."""
    if sheet == "社区":
        return {"name": row.name, "subdistrict": row.subdistrict.name}
    if sheet == "网格":
        return {"name": row.name, "community": row.community.code}
    if sheet == "单位":
        return {"name": row.name, "kind": row.kind, "contact_name": row.contact_name or "", "phone": row.phone or "",
                "communities": sorted(c.code for c in row.communities if c.code)}
    if sheet == "楼栋":
        return {"name": row.name, "grid": row.grid.code, "address": row.address or "", "units": row.units or 0,
                "households": row.households or 0,
                "property": row.property_company.code if row.property_company else None,
                "latitude": row.latitude, "longitude": row.longitude}
    return {"name": row.display_name, "role": row.role, "phone": row.phone or "",
            "organisation": row.organisation.code if row.organisation else None,
            "community": row.community.code if row.community else None,
            "grids": sorted(g.code for g in row.grids), "buildings": sorted(b.code for b in row.buildings if b.code)}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return a == b


def _current_row(sheet: str, key: str, cur: _Current):
    table = {"社区": cur.communities, "网格": cur.grids, "单位": cur.orgs, "楼栋": cur.buildings, "人员": cur.users}
    return table[sheet].get(key)


def _compare(sheet: str, record: dict, cur: _Current) -> Step:
    row = _current_row(sheet, record["key"], cur)
    if row is None:
        return Step(sheet, record["key"], "add")
    now = _now_values(sheet, row)
    if sheet == "社区" and not record["subdistrict"]:
        now.pop("subdistrict")
    fields = [f for f, value in now.items() if not _same(value, record[f])]
    if row.active and not record["active"]:
        return Step(sheet, record["key"], "deactivate", fields + ["active"])
    if row.active != record["active"]:
        fields.append("active")
    return Step(sheet, record["key"], "change" if fields else "unchanged", fields)


# ---- applying -----------------------------------------------------------------------------------

@dataclass
class Applied:
    counts: dict
    slips: list[Slip]
    moved_cases: int


def apply(actor: User | None, plan: Plan) -> Applied:
    """Carry out a plan without errors, in the caller's transaction; new accounts get activation codes."""
    if not plan.ok:
        raise ServiceError(_l("导入文件有错误，未做任何修改。"))
    cur = _Current()
    actions = {(s.sheet, s.key): s.action for s in plan.steps}
    todo = lambda sheet: [r for r in plan.records.get(sheet, [])  # noqa: E731
                          if actions.get((sheet, r["key"])) != "unchanged"]
    subdistricts = {s.name: s for s in db.session.scalars(select(Subdistrict))}

    def subdistrict(name: str) -> Subdistrict:
        if not name:
            return next(iter(subdistricts.values()), None) or subdistrict("街道")
        if name not in subdistricts:
            subdistricts[name] = Subdistrict(name=name)
            db.session.add(subdistricts[name])
        return subdistricts[name]

    for r in todo("社区"):
        c = cur.communities.get(r["key"])
        if c is None:
            c = cur.communities[r["key"]] = Community(code=r["key"], version=0)
            db.session.add(c)
        if r["subdistrict"] or c.subdistrict is None:
            c.subdistrict = subdistrict(r["subdistrict"])
        c.name, c.active, c.version = r["name"], r["active"], (c.version or 0) + 1
    for r in todo("网格"):
        g = cur.grids.get(r["key"])
        if g is None:
            g = cur.grids[r["key"]] = Grid(code=r["key"], version=0)
            db.session.add(g)
        g.name, g.community, g.active = r["name"], cur.communities[r["community"]], r["active"]
        g.version = (g.version or 0) + 1
    for r in todo("单位"):
        o = cur.orgs.get(r["key"])
        if o is None:
            o = cur.orgs[r["key"]] = Organisation(code=r["key"], version=0)
            db.session.add(o)
        o.name, o.kind, o.contact_name, o.phone, o.active = (r["name"], r["kind"], r["contact_name"], r["phone"],
                                                             r["active"])
        o.communities = [cur.communities[c] for c in r["communities"]]
        o.version = (o.version or 0) + 1
    db.session.flush()
    moved = 0
    for r in todo("楼栋"):
        b = cur.buildings.get(r["key"])
        grid = cur.grids[r["grid"]]
        prop_id = cur.orgs[r["property"]].id if r["property"] else None
        if b is None:
            b = cur.buildings[r["key"]] = Building(code=r["key"], grid=grid, property_company_id=prop_id, version=0)
            db.session.add(b)
        else:
            moved += structure.move_building(actor, b, grid, prop_id)
        for name in ("name", "address", "units", "households", "latitude", "longitude", "active"):
            setattr(b, name, r[name])
        b.version = (b.version or 0) + 1
    db.session.flush()
    new_users = []
    for r in todo("人员"):
        u = cur.users.get(r["key"])
        if u is None:
            u = cur.users[r["key"]] = User(username=r["key"], password_hash=structure.UNUSABLE_PASSWORD, version=0)
            db.session.add(u)
            new_users.append(u)
        u.display_name, u.role, u.phone, u.active = r["name"], r["role"], r["phone"], r["active"]
        u.organisation = cur.orgs[r["organisation"]] if r["organisation"] else None
        u.community = cur.communities[r["community"]] if r["community"] else None
        u.grids = [cur.grids[c] for c in r["grids"]]
        u.buildings = [cur.buildings[c] for c in r["buildings"]]
        u.version = (u.version or 0) + 1
    slips = [_slip(u, activation.new_code(u)) for u in new_users]
    db.session.flush()
    counts = plan.counts()
    # Before → after, row by row: which key changed how and which columns (values stay out: personal data).
    steps = [[s.sheet, s.key, s.action, s.fields] for s in plan.steps if s.action != "unchanged"]
    audit.record("import.apply", actor=actor, obj="structure",
                 details={"counts": counts, "moved_cases": moved, "rows": steps[:AUDIT_ROWS],
                          "rows_left_out": max(0, len(steps) - AUDIT_ROWS)})
    if slips:
        audit.record("activation.issued", actor=actor, obj="import",
                     details={"users": sorted(u.id for u in new_users)})
    log.info("structure import applied by %s: %s", actor.username if actor else "cli", counts)
    return Applied(counts=counts, slips=sorted(slips, key=lambda s: (s.area, s.username)), moved_cases=moved)


def _slip(user: User, code: str) -> Slip:
    if user.grids:
        area = "、".join(sorted(f"{g.code} {g.name}" for g in user.grids))
    elif user.buildings:
        area = "、".join(sorted({f"{b.grid.code} {b.grid.name}" for b in user.buildings}))
    elif user.organisation:
        area = f"{user.organisation.code} {user.organisation.name}"
    elif user.community:
        area = f"{user.community.code} {user.community.name}"
    else:
        area = ""
    return Slip(user.username, user.display_name, ROLE_WORD.get(user.role, user.role), area, code)


def slips_by_area(slips: list[Slip]) -> dict[str, list[Slip]]:
    """The printable sheet: one page per grid (or organisation / community)."""
    out: dict[str, list[Slip]] = defaultdict(list)
    for slip in slips:
        out[slip.area].append(slip)
    return dict(out)


# ---- exporting ----------------------------------------------------------------------------------

def export_rows() -> dict[str, list[list]]:
    """The current structure as sheet → rows (headers first), in the import's format."""
    cur = _Current()
    out: dict[str, list[list]] = {s: [[h for _f, h in COLUMNS[s]]] for s in SHEET_ORDER}
    status = lambda row: "启用" if row.active else "停用"  # noqa: E731
    for c in sorted(cur.communities.values(), key=lambda x: x.code):
        out["社区"].append([c.code, c.name, c.subdistrict.name, status(c)])
    for g in sorted(cur.grids.values(), key=lambda x: x.code):
        out["网格"].append([g.code, g.name, g.community.code, status(g)])
    for o in sorted(cur.orgs.values(), key=lambda x: x.code):
        out["单位"].append([o.code, o.name, KIND_WORD[o.kind], o.contact_name or "", o.phone or "",
                          "、".join(sorted(c.code for c in o.communities if c.code)), status(o)])
    for b in sorted(cur.buildings.values(), key=lambda x: x.code):
        out["楼栋"].append([b.code, b.name, b.grid.code, b.address or "", b.units or 0, b.households or 0,
                          b.property_company.code if b.property_company else "",
                          "" if b.latitude is None else b.latitude, "" if b.longitude is None else b.longitude,
                          status(b)])
    for u in sorted(cur.users.values(), key=lambda x: x.username):
        if u.role not in ROLE_WORD:
            continue  # administrators are made from the command line, never by a workbook
        out["人员"].append([u.username, u.display_name, ROLE_WORD[u.role], u.phone or "",
                          u.organisation.code if u.organisation else "", u.community.code if u.community else "",
                          "、".join(sorted(g.code for g in u.grids)),
                          "、".join(sorted(b.code for b in u.buildings if b.code)), status(u)])
    return out


def write_workbook(sheets: dict[str, list[list]], notes: bool = False) -> bytes:
    from openpyxl import Workbook
    book = Workbook(write_only=True)
    for name in SHEET_ORDER:
        ws = book.create_sheet(name)
        for row in sheets[name]:
            ws.append(row)
    if notes:
        ws = book.create_sheet("说明")
        for line in TEMPLATE_NOTES:
            ws.append([line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


TEMPLATE_NOTES = [
    "每个工作表的第一行是列名，请不要修改；从第二行起每行一条记录。",
    "编码是每条记录的唯一标识（字母、数字、- 和 _），再次导入时按编码更新，不会重复新建。",
    "状态填“启用”或“停用”，空白即启用。停用的记录不会被删除，已有案件仍可查看。",
    "单位类型：物业服务企业、企业合伙人、社会组织、个人合伙人、志愿服务队。",
    "人员角色：网格员、楼栋长、承办人员、社区督导、街道督导（管理员请用命令行创建）。",
    "多个编码之间用顿号、逗号或空格分隔。手机号须为 11 位。",
    "导入后新账号会得到一次性激活码（72 小时内有效），本人在 /activate 页面设置密码。",
]


def export_workbook() -> bytes:
    return write_workbook(export_rows())


def template_workbook() -> bytes:
    return write_workbook({s: [[h for _f, h in COLUMNS[s]]] for s in SHEET_ORDER}, notes=True)


def export_csv(sheet: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(export_rows()[sheet])
    return buffer.getvalue().encode("utf-8-sig")


def record_export(actor: User | None, what: str) -> None:
    audit.record("export", actor=actor, obj=f"structure:{what}")


def summary(counts: dict) -> str:
    parts = []
    for sheet, c in counts.items():
        parts.append(f"{sheet}: +{c['add']} ~{c['change']} -{c['deactivate']} ={c['unchanged']}")
    return "; ".join(parts)


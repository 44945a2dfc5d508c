"""The subdistrict's structure as the admin screens change it: communities, grids, buildings,
organisations, categories and user accounts.

Every save checks the fields (errors by field name → `Invalid`), the version the editor saw
(`Stale` → 409), and the actor's right to change that row (`Refused`); it records the change in the
audit as before → after. Nothing a case refers to is deleted: rows are deactivated. Moving a
building to another grid applies the rule in `move_building` (docs/admin.md).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import access
from casework.extensions import db
from casework.models import (
    Building, Case, CaseEvent, Category, Community, Grid, Organisation, Subdistrict, User,
)
from casework.models.people import ORG_KINDS, ROLES
from casework.services import audit, tallies
from casework.services.activation import UNUSABLE_PASSWORD
from casework.services.errors import Invalid, NotFound, Refused, Stale
from casework.workflow import PRIORITIES

log = logging.getLogger(__name__)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
# Cases in these states have not reached anyone below the grid yet: they follow a moved building.
FOLLOW_THE_BUILDING = ("reported", "triage")

KINDS = ("community", "grid", "building", "organisation", "category", "user")
MODELS = {"community": Community, "grid": Grid, "building": Building, "organisation": Organisation,
          "category": Category, "user": User}


def clean_phone(raw: str) -> str:
    """Digits and one dash kept; spaces dropped (people type 170 0000 0001)."""
    return re.sub(r"[\s()]", "", raw or "")


def valid_phone(phone: str, mobile_only: bool = False) -> bool:
    return bool(MOBILE_RE.match(phone) or (not mobile_only and LANDLINE_RE.match(phone)))


def check_version(row, seen: Any) -> None:
    """Refuse a save made on an older copy of the row (someone else saved in between)."""
    try:
        seen_int = int(seen)
    except (TypeError, ValueError):
        seen_int = -1
    if seen_int != row.version:
        raise Stale(_l("这条记录已被其他人修改，请刷新后再改。"))


@dataclass
class Saved:
    row: Any
    created: bool
    changes: dict
    moved_cases: int = 0


# ---- reading ------------------------------------------------------------------------------------

def rows(kind: str, actor: User) -> list:
    """The rows of one kind the actor may see on the admin screens."""
    model = MODELS[kind]
    query = select(model).order_by(model.username if kind == "user" else model.code)
    if not access.may_manage_all_structure(actor):
        cid = actor.community_id
        if kind == "grid":
            query = query.where(Grid.community_id == cid)
        elif kind == "building":
            query = query.join(Grid, Building.grid_id == Grid.id).where(Grid.community_id == cid)
        elif kind == "user":
            query = query.where(User.role == "building_leader")
            return [u for u in db.session.scalars(query) if access.may_edit_user(actor, u)]
        elif kind == "community":
            query = query.where(Community.id == cid)
        else:
            return []
    return list(db.session.scalars(query))


def get(kind: str, actor: User, row_id: int, *, for_update: bool = False):
    """One row the actor may edit, or NotFound (rows outside their reach are not there for them).

    `for_update` locks the row on PostgreSQL so two saves of the same version cannot both pass the
    version check (SQLite's writers already queue: BEGIN IMMEDIATE).
    """
    row = db.session.get(MODELS[kind], row_id, with_for_update=for_update or None)
    if row is None or not access.may_edit_structure(actor, kind, row):
        raise NotFound(_l("找不到这条记录。"))
    return row


def choices(kind: str, actor: User) -> list[tuple[int, str]]:
    """(id, label) options for selects: active rows the actor may use."""
    if kind == "property":
        orgs = db.session.scalars(select(Organisation).where(Organisation.kind == "property",
                                                             Organisation.active.is_(True)).order_by(Organisation.code))
        return [(o.id, f"{o.code} {o.name}") for o in orgs]
    if kind == "leader":
        return [(u.id, f"{u.username} {u.display_name}") for u in rows("user", actor)
                if u.role == "building_leader" and u.active]
    items = [r for r in rows(kind, actor) if getattr(r, "active", True)]
    return [(r.id, f"{r.code} {r.name}") for r in items]


# ---- parsing ------------------------------------------------------------------------------------

class _Form:
    """Reads one form, collecting an error per field; typed values come back in `values`."""

    def __init__(self, form):
        self.form, self.errors, self.values = form, {}, {}

    def text(self, name: str, *, required: bool = True, max_len: int = 80, pattern=None, message=None) -> None:
        raw = (self.form.get(name) or "").strip()
        if required and not raw:
            self.errors[name] = _l("必填。")
        elif len(raw) > max_len:
            self.errors[name] = _l("最多 %(n)d 个字。", n=max_len)
        elif raw and pattern is not None and not pattern.match(raw):
            self.errors[name] = message or _l("格式不对。")
        self.values[name] = raw

    def number(self, name: str, *, integer: bool, low: float, high: float, required: bool = False) -> None:
        raw = (self.form.get(name) or "").strip()
        if not raw:
            if required:
                self.errors[name] = _l("必填。")
            self.values[name] = 0 if integer else None
            return
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self.errors[name] = _l("请输入整数。") if integer else _l("请输入数字。")
            return
        if not low <= value <= high:
            self.errors[name] = _l("应在 %(low)s 到 %(high)s 之间。", low=low, high=high)
            return
        self.values[name] = value

    def choice(self, name: str, allowed, *, required: bool = True) -> None:
        raw = (self.form.get(name) or "").strip()
        allowed = {str(a): a for a in allowed}
        if not raw:
            if required:
                self.errors[name] = _l("请选择。")
            self.values[name] = None
        elif raw not in allowed:
            self.errors[name] = _l("请从列表中选择。")
        else:
            self.values[name] = allowed[raw]

    def many(self, name: str, allowed) -> None:
        allowed = {str(a): a for a in allowed}
        picked = [v for v in self.form.getlist(name) if v]
        if any(v not in allowed for v in picked):
            self.errors[name] = _l("请从列表中选择。")
        self.values[name] = sorted({allowed[v] for v in picked if v in allowed})

    def flag(self, name: str) -> None:
        self.values[name] = self.form.get(name) in ("1", "on", "true", "y")

    def phone(self, name: str, *, mobile_only: bool = False) -> None:
        raw = clean_phone(self.form.get(name) or "")
        if raw and not valid_phone(raw, mobile_only):
            self.errors[name] = (_l("请输入 11 位手机号。") if mobile_only
                                 else _l("请输入手机号或带区号的固定电话，例如 0571-88001234。"))
        self.values[name] = raw


def _ids(kind: str, actor: User) -> list[int]:
    return [i for i, _label in choices(kind, actor)]


def _unique(model, column: str, value, row, errors: dict, message) -> None:
    if value in (None, ""):
        return
    other = db.session.scalar(select(model.id).where(getattr(model, column) == value))
    if other is not None and (row is None or other != row.id):
        errors[column] = message


def _parse(kind: str, actor: User, row, form) -> dict:
    f = _Form(form)
    creating = row is None
    if kind in ("community", "grid", "building", "organisation") or (kind == "category" and creating):
        f.text("code", max_len=30 if kind == "building" else 20, pattern=CODE_RE,
               message=_l("编码只能用字母、数字、- 和 _。"))
    if kind == "community":
        f.text("name")
    elif kind == "grid":
        f.text("name")
        f.choice("community_id", ([row.community_id] if row else []) + _ids("community", actor))
    elif kind == "building":
        f.text("name")
        f.text("address", required=False, max_len=200)
        f.choice("grid_id", _ids("grid", actor) + ([row.grid_id] if row else []))
        f.choice("property_company_id", _ids("property", actor) + ([row.property_company_id] if row else []),
                 required=False)
        f.number("units", integer=True, low=0, high=999)
        f.number("households", integer=True, low=0, high=99999)
        f.number("latitude", integer=False, low=-90, high=90)
        f.number("longitude", integer=False, low=-180, high=180)
        f.choice("leader_id", _ids("leader", actor), required=False)
    elif kind == "organisation":
        f.text("name", max_len=120)
        f.choice("kind", ORG_KINDS)
        f.text("contact_name", required=False, max_len=60)
        f.phone("phone")
        f.many("community_ids", _ids("community", actor))
    elif kind == "category":
        f.text("name_zh", max_len=40)
        f.text("name_en", max_len=60)
        f.choice("default_priority", PRIORITIES)
    elif kind == "user":
        if creating:
            f.text("username", max_len=40, pattern=USERNAME_RE,
                   message=_l("账号 3–40 位，只能用字母、数字、. - _。"))
        f.text("display_name")
        roles = ROLES if access.may_manage_all_structure(actor) else ("building_leader",)
        f.choice("role", roles)
        f.phone("phone", mobile_only=True)
        f.choice("organisation_id", [o.id for o in rows("organisation", actor)], required=False)
        f.choice("community_id", _ids("community", actor), required=False)
        f.many("grid_ids", _ids("grid", actor))
        f.many("building_ids", [b.id for b in rows("building", actor)])
        _role_needs(f)
    f.flag("active") if not creating else f.values.setdefault("active", True)
    model = MODELS[kind]
    if "code" in f.values and "code" not in f.errors:
        _unique(model, "code", f.values["code"], row, f.errors, _l("这个编码已被使用。"))
    if kind == "organisation" and "name" not in f.errors:
        _unique(model, "name", f.values["name"], row, f.errors, _l("已有同名单位。"))
    if kind == "user" and creating and "username" not in f.errors:
        _unique(model, "username", f.values["username"], row, f.errors, _l("这个账号已存在。"))
    if f.errors:
        raise Invalid(_l("请检查标出的内容。"), f.errors)
    return f.values


def _role_needs(f: _Form) -> None:
    """Each role needs its jurisdiction: grids, buildings, an organisation or a community."""
    role, v = f.values.get("role"), f.values
    if role == "grid_staff" and not v.get("grid_ids") and "grid_ids" not in f.errors:
        f.errors["grid_ids"] = _l("网格员至少负责一个网格。")
    if role == "building_leader" and not v.get("building_ids") and "building_ids" not in f.errors:
        f.errors["building_ids"] = _l("楼栋长至少负责一栋楼。")
    if role == "handler" and not v.get("organisation_id") and "organisation_id" not in f.errors:
        f.errors["organisation_id"] = _l("承办人员须属于一个单位。")
    if role == "community_supervisor" and not v.get("community_id") and "community_id" not in f.errors:
        f.errors["community_id"] = _l("社区督导须选择社区。")


# ---- snapshots for the audit --------------------------------------------------------------------

def snapshot(kind: str, row) -> dict:
    """The row's fields as plain values (ids for references), without personal data."""
    if row is None:
        return {}
    if kind == "community":
        return {"code": row.code, "name": row.name, "active": row.active}
    if kind == "grid":
        return {"code": row.code, "name": row.name, "community_id": row.community_id, "active": row.active}
    if kind == "building":
        return {"code": row.code, "name": row.name, "address": row.address, "grid_id": row.grid_id,
                "property_company_id": row.property_company_id, "units": row.units,
                "households": row.households, "latitude": row.latitude, "longitude": row.longitude,
                "active": row.active}
    if kind == "organisation":
        # The contact's name and number are personal data: the audit says only whether they changed.
        return {"code": row.code, "name": row.name, "kind": row.kind, "active": row.active,
                "community_ids": sorted(c.id for c in row.communities),
                "contact": _fingerprint(row.contact_name, row.phone)}
    if kind == "category":
        return {"code": row.code, "name_zh": row.name_zh, "name_en": row.name_en,
                "default_priority": row.default_priority, "active": row.active}
    return {"username": row.username, "role": row.role, "active": row.active,
            "organisation_id": row.organisation_id, "community_id": row.community_id,
            "grid_ids": sorted(g.id for g in row.grids), "building_ids": sorted(b.id for b in row.buildings),
            "contact": _fingerprint(row.display_name, row.phone)}


def _fingerprint(*parts: str) -> str:
    import hashlib
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:12]


def diff(before: dict, after: dict) -> dict:
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)}


# ---- saving -------------------------------------------------------------------------------------

def save(actor: User, kind: str, row_id: int | None, form, seen_version=None) -> Saved:
    """Create (row_id None) or change one row from a form; checks, applies, audits."""
    if kind not in KINDS or not access.may_edit_structure(actor, kind, None):
        raise NotFound(_l("找不到这条记录。"))
    row = get(kind, actor, row_id, for_update=True) if row_id is not None else None
    if row is not None:
        db.session.refresh(row)  # the version as committed now, not as this session last read it
        check_version(row, seen_version)
    values = _parse(kind, actor, row, form)
    before = snapshot(kind, row)
    created = row is None
    if created:
        row = MODELS[kind]()
        if kind == "community":
            row.subdistrict = _subdistrict()
        if kind == "user":
            row.password_hash = UNUSABLE_PASSWORD
        db.session.add(row)
    moved = _apply(kind, actor, row, values)
    if kind == "building" and not access.may_edit_structure(actor, "building", row):
        raise Refused(_l("只能把楼栋划到本社区的网格。"))
    if kind == "user" and not access.may_edit_user(actor, row):
        raise Refused(_l("只能管理本社区楼栋的楼栋长。"))
    row.version = (row.version or 0) + 1 if not created else 1
    db.session.flush()
    after = snapshot(kind, row)
    changes = diff(before, after)
    if created or changes:
        audit.record("admin.create" if created else "admin.update", actor=actor, obj=f"{kind}:{row.id}",
                     details={"changes": changes} if not created else {"after": after})
        log.info("%s %s:%s by %s", "created" if created else "changed", kind, row.id, actor.username)
    return Saved(row=row, created=created, changes=changes, moved_cases=moved)




def _subdistrict() -> Subdistrict:
    sd = db.session.scalars(select(Subdistrict).order_by(Subdistrict.id)).first()
    if sd is None:
        sd = Subdistrict(name="街道")
        db.session.add(sd)
    return sd


def _apply(kind: str, actor: User, row, v: dict) -> int:
    """Copy parsed values onto the row; returns how many open cases a building move touched."""
    simple = {"community": ("code", "name", "active"), "grid": ("code", "name", "community_id", "active"),
              "building": ("code", "name", "address", "units", "households", "latitude", "longitude", "active"),
              "organisation": ("code", "name", "kind", "contact_name", "phone", "active"),
              "category": ("code", "name_zh", "name_en", "default_priority", "active"),
              "user": ("username", "display_name", "role", "phone", "organisation_id", "community_id", "active")}
    for name in simple[kind]:
        if name in v:
            setattr(row, name, v[name])
    moved = 0
    if kind == "organisation":
        row.communities = [db.session.get(Community, i) for i in v["community_ids"]]
    elif kind == "building":
        if row.id is None:
            row.grid_id, row.property_company_id = v["grid_id"], v["property_company_id"]
        else:
            moved = move_building(actor, row, db.session.get(Grid, v["grid_id"]), v["property_company_id"])
        if v.get("leader_id"):
            db.session.flush()
            leader = db.session.get(User, v["leader_id"])
            if row not in leader.buildings:
                leader.buildings.append(row)
    elif kind == "user":
        row.grids = [db.session.get(Grid, i) for i in v["grid_ids"]]
        row.buildings = [db.session.get(Building, i) for i in v["building_ids"]]
    return moved


def move_building(actor: User | None, building: Building, grid: Grid, property_company_id: int | None) -> int:
    """Move a building to another grid and/or property company, and say so on its open cases.

    The rule (docs/admin.md): a case still waiting for grid staff (reported, triage) follows the
    building to the new grid and its staff; a case already with a building leader, a handler or
    waiting for the call-back stays with the grid and organisation working it. Every open case of
    the building gets a timeline row saying which happened. Returns the number of cases noted.
    """
    old_grid, old_property = building.grid, building.property_company_id
    grid_moves = grid.id != old_grid.id
    property_moves = property_company_id != old_property
    building.grid_id, building.grid = grid.id, grid
    building.property_company_id = property_company_id
    if not (grid_moves or property_moves):
        return 0
    cases = db.session.scalars(select(Case).where(Case.building_id == building.id, Case.status != "closed")
                               .order_by(Case.id)).all()
    new_org = db.session.get(Organisation, property_company_id) if property_company_id else None
    for case in cases:
        notes = []
        if grid_moves and case.status in FOLLOW_THE_BUILDING:
            before = tallies.snapshot(case)
            case.grid_id, case.community_id = grid.id, grid.community_id
            tallies.record(case, before, None)
            notes.append(f"楼栋划入{grid.name}，本案随楼栋转由{grid.name}网格员办理。")
        elif grid_moves:
            notes.append(f"楼栋划入{grid.name}；本案已在办理中，仍由{old_grid.name}跟进至办结。")
        if property_moves:
            notes.append(f"楼栋物业改为{new_org.name if new_org else '（无）'}；"
                         "已交办的仍由原承办单位办结，尚未交办的转交新物业。")
        db.session.add(CaseEvent(case_id=case.id, kind="note", event="building_moved",
                                 actor_id=actor.id if actor else None, actor_label=None if actor else "system",
                                 note=" ".join(notes), public=False))
    return len(cases)


def staff_of(grid: Grid) -> list[User]:
    """The grid staff serving a grid."""
    from casework.models import user_grids
    return list(db.session.scalars(select(User).join(user_grids, user_grids.c.user_id == User.id)
                                   .where(user_grids.c.grid_id == grid.id, User.role == "grid_staff")
                                   .order_by(User.username)))


def leaders_of(building: Building) -> list[User]:
    """The building leaders serving a building."""
    from casework.models import user_buildings
    return list(db.session.scalars(select(User).join(user_buildings, user_buildings.c.user_id == User.id)
                                   .where(user_buildings.c.building_id == building.id, User.role == "building_leader")
                                   .order_by(User.username)))

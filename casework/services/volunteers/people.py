"""Staff add volunteers by hand or import them from a workbook, and link a volunteer to a staff account.

An import is read (`importing.read_files`' readers: XLSX, or CSV in UTF-8 or GB18030), checked row
by row into a plan (dry run: nothing written), and applied only when the plan has no errors, in the
caller's transaction. Rows whose mobile is already registered are left alone, so importing the same
file twice adds nothing. The consent (PIPL) is the staff member's declaration that each person gave
it on paper; the stored text says so.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework import access
from casework.extensions import db
from casework.models import Community, TeamMembership, User, Volunteer, VolunteerTeam
from casework.services import importing, intake
from casework.services.errors import Invalid, NotFound, Refused
from casework.services.volunteers import registry
from casework.timekeeping import now

log = logging.getLogger(__name__)

SHEET = "志愿者"
# field, header (the workbook's first row)
COLUMNS = [("name", "姓名"), ("mobile", "手机号"), ("community", "社区编码"), ("skills", "技能特长"),
           ("availability", "可服务时间"), ("team", "志愿服务队"), ("username", "关联账号")]
REQUIRED = ("name", "mobile", "community")
MAX_ROWS = 5000
STAFF_CONSENT_NOTE = _l("（由工作人员代为登记：本人已书面同意上述内容）")


def may_add_in(user: User, community_id: int | None) -> bool:
    """Staff may add a volunteer of a community they may serve (the same rule as the station)."""
    return community_id is not None and access.may_serve_volunteer(user, Volunteer(community_id=community_id))


def add(actor: User, values: dict) -> Volunteer:
    """A volunteer added by staff (in person, with consent given on paper): same checks as registration."""
    cid = values.get("community_id")
    if cid and db.session.get(Community, cid) is not None and not may_add_in(actor, cid):
        raise Invalid(_l("请检查标红的内容后再提交。"), {"community_id": _l("只能登记您所辖社区的志愿者。")})
    volunteer = registry.register(values, actor)
    volunteer.consent_text = f"{volunteer.consent_text}{STAFF_CONSENT_NOTE}"
    db.session.flush()
    return volunteer


# ---- one person, several hats -------------------------------------------------------------------

def link_account(actor: User, volunteer: Volunteer, username: str) -> Volunteer:
    """Link the volunteer to a staff account (a building leader who volunteers sees their card link)."""
    username = (username or "").strip()
    user = db.session.scalars(select(User).where(User.username == username)).first() if username else None
    if user is None:
        raise Invalid(_l("没有这个账号。"), {"username": _l("没有这个账号。")})
    other = db.session.scalars(select(Volunteer).where(Volunteer.user_id == user.id,
                                                       Volunteer.id != volunteer.id)).first()
    if other is not None:
        raise Refused(_l("这个账号已经关联了另一位志愿者。"), {"username": _l("这个账号已经关联了另一位志愿者。")})
    volunteer.user_id = user.id
    db.session.flush()
    log.info("user %s linked volunteer %s to account %s", actor.id, volunteer.id, user.id)
    return volunteer


def unlink_account(actor: User, volunteer: Volunteer) -> Volunteer:
    volunteer.user_id = None
    db.session.flush()
    log.info("user %s unlinked volunteer %s", actor.id, volunteer.id)
    return volunteer


def card_of(user: User) -> Volunteer | None:
    """The volunteer this account also is, if any."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalars(select(Volunteer).where(Volunteer.user_id == user.id)).first()


# ---- import ----------------------------------------------------------------------------------------

@dataclass
class Row:
    number: int
    values: dict
    action: str = "add"          # add | unchanged (mobile already registered)
    errors: dict = field(default_factory=dict)


@dataclass
class Plan:
    rows: list[Row]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(r.errors for r in self.rows)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action and not r.errors)


def read(filename: str, data: bytes) -> list[tuple[int, dict]]:
    """An upload → [(row number, {field: text})]; a readable 422 if it is not a workbook or CSV."""
    lower = (filename or "").lower()
    if lower.endswith(".xlsx"):
        sheets = importing._read_xlsx(data)
        grid = sheets.get(SHEET) or (next(iter(sheets.values())) if len(sheets) == 1 else None)
        if grid is None:
            raise importing.Unreadable(_l("工作簿里没有“%(name)s”工作表。", name=SHEET))
    elif lower.endswith(".csv"):
        grid = importing._read_csv(data)
    else:
        raise importing.Unreadable(_l("请上传 .xlsx 工作簿或 .csv 文件。"))
    if not grid:
        raise importing.Unreadable(_l("文件是空的。"))
    headers = [importing._cell(h) for h in grid[0]]
    by_header = {h: f for f, h in COLUMNS}
    missing = [h for f, h in COLUMNS if f in REQUIRED and h not in headers]
    if missing:
        raise importing.Unreadable(_l("缺少列：%(names)s。", names="、".join(missing)))
    rows = []
    for number, raw in enumerate(grid[1:], start=2):
        cells = [importing._cell(v) for v in raw]
        if not any(cells):
            continue
        rows.append((number, {by_header[h]: v for h, v in zip(headers, cells, strict=False) if h in by_header}))
        if len(rows) > MAX_ROWS:
            raise importing.TooManyRows(_l("一次最多导入 %(n)d 行，请分批导入。", n=MAX_ROWS))
    return rows


def build_plan(actor: User, rows: list[tuple[int, dict]]) -> Plan:
    """Check every row (nothing is written): what would be added, what is already there, every error."""
    communities = {c.code: c for c in db.session.scalars(select(Community))}
    teams = {t.name: t for t in db.session.scalars(select(VolunteerTeam))}
    registered = set(db.session.scalars(select(Volunteer.mobile)))
    seen: dict[str, int] = {}
    plan = Plan([])
    for number, v in rows:
        row = Row(number, dict(v))
        e = row.errors
        name = v.get("name", "")
        if not name:
            e["name"] = _l("请填写姓名。")
        elif len(name) > registry.NAME_MAX:
            e["name"] = _l("姓名太长了。")
        mobile = intake.normalise_mobile(v.get("mobile"))
        row.values["mobile"] = mobile or ""
        if not mobile or not intake.MOBILE_RE.match(mobile):
            e["mobile"] = _l("请输入正确的 11 位手机号码，例如 13812345678。")
        elif mobile in seen:
            e["mobile"] = _l("与第 %(n)d 行的手机号码重复。", n=seen[mobile])
        else:
            seen[mobile] = number
        community = communities.get(v.get("community", ""))
        if community is None:
            e["community"] = _l("没有这个社区编码。")
        elif not may_add_in(actor, community.id):
            e["community"] = _l("只能登记您所辖社区的志愿者。")
        if len(v.get("skills", "")) > registry.SKILLS_MAX:
            e["skills"] = _l("技能特长请控制在 200 字以内。")
        if len(v.get("availability", "")) > registry.AVAILABILITY_MAX:
            e["availability"] = _l("可服务时间请控制在 200 字以内。")
        team_name = v.get("team", "")
        if team_name:
            team = teams.get(team_name)
            if team is None or not access.may_manage_team(actor, team):
                e["team"] = _l("没有这支志愿服务队，或您不能管理它。")
        if v.get("username") and not db.session.scalar(select(User.id).where(User.username == v["username"])):
            e["username"] = _l("没有这个账号。")
        if not e and mobile in registered:
            row.action = "unchanged"
        plan.rows.append(row)
    return plan


def apply(actor: User, plan: Plan) -> int:
    """Add the plan's new volunteers (with their team and account) in the caller's transaction."""
    if not plan.ok:
        raise Invalid(_l("导入文件有错误，请修改后重新上传。"))
    communities = {c.code: c for c in db.session.scalars(select(Community))}
    teams = {t.name: t for t in db.session.scalars(select(VolunteerTeam))}
    added = 0
    for row in plan.rows:
        if row.action != "add":
            continue
        v = row.values
        volunteer = add(actor, {"name": v["name"], "mobile": v["mobile"],
                                "community_id": communities[v["community"]].id, "skills": v.get("skills", ""),
                                "availability": v.get("availability", ""), "consent": "1"})
        if v.get("team"):
            db.session.add(TeamMembership(team_id=teams[v["team"]].id, volunteer_id=volunteer.id,
                                          status="approved", is_leader=False, requested_at=now(),
                                          decided_at=now(), decided_by_id=actor.id))
        if v.get("username"):
            link_account(actor, volunteer, v["username"])
        added += 1
    db.session.flush()
    log.info("user %s imported %d volunteers", actor.id, added)
    return added


def template_csv() -> bytes:
    """An empty import file with the headers (UTF-8 with a BOM, so Excel opens it in Chinese)."""
    return ("\ufeff" + ",".join(h for _, h in COLUMNS) + "\r\n").encode("utf-8")


def get_by_id(volunteer_id: int) -> Volunteer:
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound(_l("没有找到这位志愿者。"))
    return volunteer

"""Admin changes to the time-limit table and the holiday overrides."""
from __future__ import annotations

import datetime as dt
import logging

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework.extensions import db
from casework.numbers import as_id
from casework.models import STAGES, Category, HolidayOverride, TimeLimit, User
from casework.services import clock
from casework.services.errors import Invalid
from casework.workflow import PRIORITIES

log = logging.getLogger(__name__)
MAX_HOURS = 24 * 90


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.id)))


def _category(raw: str) -> Category | None:
    category_id = as_id(raw)
    return db.session.get(Category, category_id) if category_id is not None else None


def limit_table(category_raw: str = "") -> dict[tuple[str, str], tuple[float, bool]]:
    """(priority, stage) → (hours, wall_clock) in force for a category (or the defaults)."""
    cat = _category(category_raw)
    return {(p, s): clock.rule_for(cat.id if cat else None, cat.code if cat else "", p, s)
            for p in PRIORITIES for s in STAGES}


def save_limits(actor: User, category_raw: str, form) -> int:
    """Store every changed cell as a rule; all cells are checked first, so a bad one changes nothing."""
    cat = _category(category_raw)
    current = limit_table(category_raw)
    errors, wanted = {}, {}
    for p in PRIORITIES:
        for s in STAGES:
            name = f"{p}-{s}"
            raw = (form.get(name) or "").strip()
            try:
                hours = float(raw)
            except ValueError:
                errors[name] = _l("请输入数字。")
                continue
            if not 0 < hours <= MAX_HOURS:
                errors[name] = _l("时限须大于 0 小时且不超过 %(n)d 小时。", n=MAX_HOURS)
                continue
            wanted[(p, s)] = hours
    if errors:
        raise Invalid(_l("有时限填写不正确，未保存。"), errors)
    changed = 0
    for (p, s), hours in wanted.items():
        if abs(current[(p, s)][0] - hours) < 1e-9:
            continue
        rule = db.session.scalars(select(TimeLimit).where(
            TimeLimit.category_id == (cat.id if cat else None) if cat else TimeLimit.category_id.is_(None),
            TimeLimit.priority == p, TimeLimit.stage == s)).first()
        if rule is None:
            rule = TimeLimit(category_id=cat.id if cat else None, priority=p, stage=s)
            db.session.add(rule)
        rule.hours, rule.wall_clock = hours, p == "emergency"
        changed += 1
    db.session.flush()
    clock.forget_calendar()
    log.info("time limits: %d changed by %s", changed, actor.username)
    return changed


def overrides() -> list[HolidayOverride]:
    return list(db.session.scalars(select(HolidayOverride).order_by(HolidayOverride.day)))


def add_override(actor: User, day_raw: str, kind: str, note: str) -> HolidayOverride:
    """Mark one date a holiday or a working day, whatever the package says."""
    errors = {}
    try:
        day = dt.date.fromisoformat((day_raw or "").strip())
    except ValueError:
        errors["day"] = _l("请输入日期，例如 2027-02-06。")
        day = None
    if kind not in ("holiday", "workday"):
        errors["kind"] = _l("请选择放假或上班。")
    if day and db.session.scalars(select(HolidayOverride).where(HolidayOverride.day == day)).first():
        errors["day"] = _l("这一天已有设置，请先删除。")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    row = HolidayOverride(day=day, is_workday=kind == "workday", note=(note or "").strip()[:120])
    db.session.add(row)
    db.session.flush()
    clock.forget_calendar()
    log.info("holiday override %s=%s by %s", day, kind, actor.username)
    return row


def delete_override(actor: User, override_id: int) -> None:
    row = db.session.get(HolidayOverride, override_id)
    if row is not None:
        db.session.delete(row)
        db.session.flush()
        clock.forget_calendar()
        log.info("holiday override %s removed by %s", row.day, actor.username)


def year_status(years: list[int]) -> list[tuple[int, bool]]:
    """Whether each year's 调休 calendar is known (package data or an admin override)."""
    cal = clock.calendar()
    return [(y, cal.year_confirmed(y)) for y in years]

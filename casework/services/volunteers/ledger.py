"""The append-only hours and points ledgers and the balances kept beside them.

A balance changes only through `post`, which moves the balance with one conditional UPDATE (the
balance may not go below zero, also when two transactions race) and appends the row that explains
it, in the caller's transaction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from casework.extensions import db
from casework.models import LedgerEntry, User, Volunteer
from casework.models.volunteers import ENTRY_KINDS, LEDGERS
from casework.services.errors import Invalid, NotFound, Refused
from casework.timekeeping import now

log = logging.getLogger(__name__)

# No single entry moves more than this (minutes or points): a typo of three extra zeros is refused.
MAX_AMOUNT = {"hours": 24 * 60 * 7, "points": 100_000}
_COLUMN = {"hours": Volunteer.hours_minutes, "points": Volunteer.points}


def post(volunteer: Volunteer, ledger: str, kind: str, amount: int, *, reason: str = "",
         actor: User | None = None, approver: User | None = None, activity_id: int | None = None,
         reverses: LedgerEntry | None = None, case_id: int | None = None) -> LedgerEntry:
    """Append one entry and move the balance with it; refuse (409) if the balance would go negative."""
    if ledger not in LEDGERS or kind not in ENTRY_KINDS:
        raise Invalid(_l("账目类型不正确。"))
    if not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_AMOUNT[ledger]:
        raise Invalid(_l("数额不合理。"), {"amount": _l("数额不合理。")})
    column = _COLUMN[ledger]
    row = db.session.execute(
        update(Volunteer).where(Volunteer.id == volunteer.id, column + amount >= 0)
        .values({column: column + amount}).returning(column)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise Refused(_l("余额不足。") if ledger == "points" else _l("时长余额不足。"))
    balance = row[0]
    if volunteer in db.session:
        # The loaded row reads the new balance next time, without being marked dirty.
        db.session.expire(volunteer, [column.key])
    entry = LedgerEntry(volunteer_id=volunteer.id, ledger=ledger, kind=kind, amount=amount, balance_after=balance,
                        reason=reason[:300], actor_id=actor.id if actor else None,
                        approver_id=approver.id if approver else None, activity_id=activity_id,
                        case_id=case_id, reverses_id=reverses.id if reverses else None, created_at=now())
    db.session.add(entry)
    db.session.flush()
    log.info("ledger %s %s %+d for volunteer %s → %d", ledger, kind, amount, volunteer.id, balance)
    return entry


def reverse(actor: User, entry_id: int, reason: str) -> LedgerEntry:
    """A correction: a new entry cancelling `entry_id`, with the reason and the approver (the actor)."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_l("更正必须写明原因。"), {"reason": _l("更正必须写明原因。")})
    entry = db.session.get(LedgerEntry, entry_id)
    if entry is None:
        raise NotFound(_l("找不到该笔账目。"))
    if entry.reverses_id is not None:
        raise Refused(_l("冲正记录不能再冲正。"))
    if db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry.id)):
        raise Refused(_l("这笔账目已经冲正过了。"))
    volunteer = db.session.get(Volunteer, entry.volunteer_id)
    return post(volunteer, entry.ledger, "adjusted", -entry.amount, reason=reason, actor=actor, approver=actor,
                activity_id=entry.activity_id, case_id=entry.case_id, reverses=entry)


def entries(volunteer: Volunteer, limit: int = 50) -> list[LedgerEntry]:
    """The volunteer's latest ledger rows, newest first."""
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.volunteer_id == volunteer.id)
                                   .order_by(LedgerEntry.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Mismatch:
    volunteer_id: int
    ledger: str
    balance: int
    total: int


def verify() -> list[Mismatch]:
    """Every volunteer whose kept balance differs from the sum of their ledger rows (empty = all agree)."""
    sums = {(v, ledger): total for v, ledger, total in db.session.execute(
        select(LedgerEntry.volunteer_id, LedgerEntry.ledger, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.volunteer_id, LedgerEntry.ledger))}
    wrong = []
    for vid, minutes, points in db.session.execute(select(Volunteer.id, Volunteer.hours_minutes, Volunteer.points)):
        for ledger, balance in (("hours", minutes), ("points", points)):
            total = int(sums.get((vid, ledger)) or 0)
            if total != balance:
                wrong.append(Mismatch(vid, ledger, balance, total))
    return wrong


def adjust(actor: User, volunteer: Volunteer, ledger_name: str, amount: int | None, reason: str) -> LedgerEntry:
    """A manual adjustment (补录/扣减) with a reason; the actor approves it and is recorded."""
    reason = (reason or "").strip()
    errors = {}
    if ledger_name not in LEDGERS:
        errors["ledger"] = _l("请选择时长或积分。")
    elif amount is None or amount == 0 or abs(amount) > MAX_AMOUNT[ledger_name]:
        errors["amount"] = _l("数额不合理。")
    if not reason:
        errors["reason"] = _l("调整必须写明原因。")
    if errors:
        raise Invalid(_l("请检查标红的内容后再提交。"), errors)
    return post(volunteer, ledger_name, "adjusted", amount, reason=reason, actor=actor, approver=actor)

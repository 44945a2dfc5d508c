"""Writing and checking the audit chain. Services call `record` inside their own transaction.

`record(action, actor=..., obj=..., outcome=..., details=..., address=...)` adds one row and
flushes; the caller's commit makes it durable together with the change it describes (a rolled
back change leaves no audit row). Actions are short dotted names, e.g. "login.ok",
"login.failed", "login.locked", "logout", "admin.update", "import.apply", "phone.reveal",
"export", "activation.issued".
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select, text

from casework.extensions import db
from casework.models import AuditEntry, User


def _canonical(entry: AuditEntry) -> str:
    return json.dumps(
        [entry.at_utc.isoformat(), entry.actor_id, entry.actor_name, entry.address, entry.action,
         entry.object, entry.outcome, entry.details],
        ensure_ascii=False, separators=(",", ":"),
    )


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + _canonical(entry)).encode()).hexdigest()


def _lock_chain() -> None:
    """Serialise writers of the chain so two transactions never link to the same previous row."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(7150001)"))
    # SQLite has one writer at a time: the insert below takes the database write lock.


def record(action: str, *, actor: User | None = None, obj: str = "", outcome: str = "ok",
           details: dict[str, Any] | None = None, address: str = "") -> AuditEntry:
    """Append one audit row in the caller's transaction. Never put personal data in `details`."""
    _lock_chain()
    prev = db.session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)) or ""
    entry = AuditEntry(
        at_utc=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else "",
        address=address[:64], action=action, object=obj[:120], outcome=outcome,
        details=json.dumps(details or {}, ensure_ascii=False, sort_keys=True),
        prev_hash=prev,
    )
    entry.hash = chain_hash(prev, entry)
    db.session.add(entry)
    db.session.flush()
    return entry


def first_broken(batch: int = 5000) -> AuditEntry | None:
    """The first row whose link or hash does not match, or None when the chain is whole."""
    prev = ""
    for entry in _rows(batch):
        if entry.prev_hash != prev or entry.hash != chain_hash(prev, entry):
            return entry
        prev = entry.hash
    return None


def _rows(batch: int) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = db.session.scalars(
            select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


# ---- reading the log (the auditor's page) ---------------------------------------------------------

CHINA_OFFSET = dt.timedelta(hours=8)  # the page and the filters speak China time; rows are UTC
OUTCOMES = ("ok", "refused", "locked")
PER_PAGE = 100


@dataclass
class AuditFilters:
    """The auditor's filters as typed (kept for the form), and their errors."""

    start: str = ""
    end: str = ""
    actor: str = ""
    action: str = ""
    outcome: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> AuditFilters:
        from flask_babel import gettext as _

        from casework.numbers import as_int
        f = cls(start=(args.get("start") or "").strip()[:10], end=(args.get("end") or "").strip()[:10],
                actor=(args.get("actor") or "").strip()[:40], action=(args.get("action") or "").strip()[:40],
                outcome=(args.get("outcome") or "").strip()[:20],
                page=min(max(as_int(args.get("page"), 1) or 1, 1), 100_000))
        for name in ("start", "end"):
            value = getattr(f, name)
            if value and _date(value) is None:
                f.errors[name] = _("请按 2026-12-02 的格式填写日期。")
        if not f.errors and f.start and f.end and _date(f.start) > _date(f.end):
            f.errors["end"] = _("结束日期不能早于开始日期。")
        if f.outcome and f.outcome not in OUTCOMES:
            f.errors["outcome"] = _("请选择结果。")
        return f

    def as_args(self, **override) -> dict:
        values = {"start": self.start, "end": self.end, "actor": self.actor, "action": self.action,
                  "outcome": self.outcome}
        values.update(override)
        return {k: v for k, v in values.items() if v}


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def search(f: AuditFilters) -> Select:
    """The rows matching the filters, newest first (dates are China dates, whole days)."""
    query = select(AuditEntry)
    if f.start and _date(f.start):
        query = query.where(AuditEntry.at_utc >= dt.datetime.combine(_date(f.start), dt.time()) - CHINA_OFFSET)
    if f.end and _date(f.end):
        query = query.where(AuditEntry.at_utc < dt.datetime.combine(_date(f.end) + dt.timedelta(days=1), dt.time())
                            - CHINA_OFFSET)
    if f.actor:
        query = query.where(AuditEntry.actor_name == f.actor)
    if f.action:
        # "login" matches login.ok, login.failed, login.locked...; a full name matches itself.
        query = query.where((AuditEntry.action == f.action) | AuditEntry.action.startswith(f.action + ".", autoescape=True))
    if f.outcome in OUTCOMES:
        query = query.where(AuditEntry.outcome == f.outcome)
    return query.order_by(AuditEntry.id.desc())


def page_of(f: AuditFilters) -> tuple[list[AuditEntry], int]:
    """One page of matching rows and the total count."""
    base = search(f)
    total = db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery())) or 0
    rows = db.session.scalars(base.limit(PER_PAGE).offset((f.page - 1) * PER_PAGE)).all()
    return list(rows), total


def actions() -> list[str]:
    """The actions present in the log (for the filter's choices)."""
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def china_time(entry: AuditEntry) -> str:
    return (entry.at_utc + CHINA_OFFSET).strftime("%Y-%m-%d %H:%M:%S")

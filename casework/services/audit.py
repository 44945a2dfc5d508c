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
from typing import Any

from sqlalchemy import select, text

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

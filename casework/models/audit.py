"""The audit trail: append-only rows, each carrying the hash of the one before (a chain)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db


class AuditEntry(db.Model):
    """One security-relevant act: who, from where, did what to which object, with what outcome.

    Rows are never updated or deleted (on PostgreSQL a trigger refuses it); `details` holds no
    personal data. `hash` = sha256(prev_hash + the row's canonical text), so an edited or removed
    row breaks the chain at that point (`casework audit-verify`).
    """

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_utc: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(80), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    object: Mapped[str] = mapped_column(String(120), default="")
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64))

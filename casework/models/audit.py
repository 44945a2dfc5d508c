"""The audit trail: append-only rows, each carrying the hash of the one before (a chain)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DDL, DateTime, ForeignKey, Integer, String, Text, event
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


# PostgreSQL refuses UPDATE, DELETE and TRUNCATE on the audit rows (append-only, even for the app's own
# database user). The same SQL is in the migration; here it runs when the table is created by
# `db.create_all()` (tests, fresh installs). SQLite has no such trigger: the hash chain still shows
# a change (`casework audit-verify`).
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'audit_entry is append-only: ' || TG_OP || ' refused',
                          ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
APPEND_ONLY_TRIGGERS = (
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
)

for _statement in (APPEND_ONLY_FUNCTION, *APPEND_ONLY_TRIGGERS):
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))

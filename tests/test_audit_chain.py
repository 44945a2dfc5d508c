"""The audit chain: rows link by hash, a changed row is found, a rolled-back change leaves no row."""
from sqlalchemy import func, select, text, update

from casework.extensions import db
from casework.models import AuditEntry
from casework.services import audit
from tests.conftest import user


def test_rows_link_and_verify(session):
    before = session.scalar(select(func.count(AuditEntry.id)))
    first = audit.record("login.ok", actor=user("wangge01"), address="127.0.0.1")
    second = audit.record("export", actor=user("wangge01"), obj="cases.csv", details={"rows": 3})
    assert second.prev_hash == first.hash and len(second.hash) == 64
    assert session.scalar(select(func.count(AuditEntry.id))) == before + 2
    assert audit.first_broken() is None


def test_an_edited_row_is_named(session):
    audit.record("login.ok", actor=user("wangge01"))
    target = audit.record("login.failed", outcome="refused", obj="wangge01")
    audit.record("logout", actor=user("wangge01"))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # a database superuser going round the append-only trigger
        session.execute(text("SET LOCAL session_replication_role = replica"))
    session.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(outcome="ok"))
    if postgres:
        session.execute(text("SET LOCAL session_replication_role = origin"))
    session.expire_all()
    broken = audit.first_broken()
    assert broken is not None and broken.id == target.id


def test_rolled_back_change_leaves_no_row(session):
    before = session.scalar(select(func.count(AuditEntry.id)))
    nested = session.begin_nested()
    audit.record("admin.update", actor=user("wangge01"), obj="grid:1")
    nested.rollback()
    assert session.scalar(select(func.count(AuditEntry.id))) == before


def test_cli_verify(app, session):
    audit.record("login.ok", actor=user("wangge01"))
    db.session.flush()
    result = app.test_cli_runner().invoke(args=["casework", "audit-verify"])
    assert result.exit_code == 0 and "intact" in result.output

"""accounts: session token, password age, the auditor role; audit rows append-only on PostgreSQL

Revision ID: c5c0e11f0005
Revises: c5a0d17e0001
Create Date: 2026-12-02 12:00:00

"""
from alembic import op
import sqlalchemy as sa

from casework.models.audit import APPEND_ONLY_FUNCTION, APPEND_ONLY_TRIGGERS


revision = 'c5c0e11f0005'
down_revision = 'c5a0d17e0001'
branch_labels = None
depends_on = None

OLD_ROLES = ("grid_staff", "building_leader", "handler", "community_supervisor", "subdistrict_supervisor", "admin")
NEW_ROLES = OLD_ROLES + ("auditor",)


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(), nullable=True))
        batch_op.drop_constraint(op.f('ck_user_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_role'), f"role IN ({_in(NEW_ROLES)})")
    # Every existing account gets its own token (an empty one could never be replaced by a guess, but
    # each user's sessions must be endable on their own).
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("UPDATE \"user\" SET session_token = md5(random()::text || id::text)")
        op.execute(APPEND_ONLY_FUNCTION)
        for statement in APPEND_ONLY_TRIGGERS:
            op.execute(statement)
    else:
        op.execute("UPDATE user SET session_token = lower(hex(randomblob(16)))")
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=32), server_default=None)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    op.execute("DELETE FROM user_grids WHERE user_id IN (SELECT id FROM \"user\" WHERE role = 'auditor')")
    op.execute("DELETE FROM user_buildings WHERE user_id IN (SELECT id FROM \"user\" WHERE role = 'auditor')")
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_role'), f"role IN ({_in(OLD_ROLES)})")
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('session_token')

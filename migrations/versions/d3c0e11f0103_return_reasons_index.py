"""dashboard returns by reason: a partial index on the timeline's return rows

Revision ID: d3c0e11f0103
Revises: c0d0e11f0010
Create Date: 2026-12-02 15:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd3c0e11f0103'
down_revision = 'c0d0e11f0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.create_index('ix_case_event_returns', ['created_at'], unique=False,
                              postgresql_where=sa.text("event = 'return_case'"),
                              postgresql_include=['case_id', 'reason_code'],
                              sqlite_where=sa.text("event = 'return_case'"))


def downgrade():
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_index('ix_case_event_returns', postgresql_where=sa.text("event = 'return_case'"),
                            postgresql_include=['case_id', 'reason_code'],
                            sqlite_where=sa.text("event = 'return_case'"))

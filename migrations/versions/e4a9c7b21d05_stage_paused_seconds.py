"""case.stage_paused_seconds: the time a stage spent parked, left out of stage_seconds

Revision ID: e4a9c7b21d05
Revises: b3d5e8f1c2a7
Create Date: 2026-11-28 22:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e4a9c7b21d05'
down_revision = 'b3d5e8f1c2a7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage_paused_seconds', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('stage_paused_seconds')

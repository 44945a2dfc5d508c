"""board due order: (organisation, status, accepted, stage due) and (building, status, stage due) indexes

Handlers' and building leaders' open columns list the soonest stage due time first by default.

Revision ID: d4d0e11f0104
Revises: d3c0e11f0103
Create Date: 2026-12-02 15:00:00

"""
from alembic import op


revision = 'd4d0e11f0104'
down_revision = 'd3c0e11f0103'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_org_status_accepted_due',
                              ['assigned_org_id', 'status', 'handler_accepted_at', 'stage_due_at'], unique=False,
                              postgresql_include=['id'])
        batch_op.create_index('ix_case_building_status_due', ['building_id', 'status', 'stage_due_at'], unique=False,
                              postgresql_include=['id'])


def downgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_building_status_due')
        batch_op.drop_index('ix_case_org_status_accepted_due')

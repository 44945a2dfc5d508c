"""re-routing and arbitration: the `arbitration` status and the grids a jurisdiction move went between

Revision ID: d1a0e11f0101
Revises: d7f0e11f0107
Create Date: 2026-12-02 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd1a0e11f0101'
down_revision = 'd7f0e11f0107'
branch_labels = None
depends_on = None

OLD = "status IN ('reported', 'triage', 'building_leader', 'handling', 'resolved', 'closed')"
NEW = "status IN ('reported', 'triage', 'building_leader', 'handling', 'resolved', 'arbitration', 'closed')"


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_case_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_case_status'), sa.text(NEW))
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_grid_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('to_grid_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_case_event_from_grid_id_grid'), 'grid', ['from_grid_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_case_event_to_grid_id_grid'), 'grid', ['to_grid_id'], ['id'])


def downgrade():
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_case_event_to_grid_id_grid'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_case_event_from_grid_id_grid'), type_='foreignkey')
        batch_op.drop_column('to_grid_id')
        batch_op.drop_column('from_grid_id')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_case_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_case_status'), sa.text(OLD))

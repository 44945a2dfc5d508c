"""hotspots: case_link (proactive case → the cases that formed it) and building × category indexes

Revision ID: c0d0e11f0010
Revises: c7e0e11f0007
Create Date: 2026-12-02 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c0d0e11f0010'
down_revision = 'c7e0e11f0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'case_link',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('linked_case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_case_link_case_id_case'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['linked_case_id'], ['case.id'], name=op.f('fk_case_link_linked_case_id_case'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id', 'linked_case_id', name=op.f('pk_case_link')),
    )
    with op.batch_alter_table('case_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_link_linked_case_id'), ['linked_case_id'], unique=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_building_category_created', ['building_id', 'category_id', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_case_building_category_closed', ['building_id', 'category_id', 'closed_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_building_category_closed')
        batch_op.drop_index('ix_case_building_category_created')
    with op.batch_alter_table('case_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_link_linked_case_id'))
    op.drop_table('case_link')

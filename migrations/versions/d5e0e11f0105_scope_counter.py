"""scope_counter: per-scope change counters read by the boards' ETag (issue 14)

Revision ID: d5e0e11f0105
Revises: d2b0e11f0102
Create Date: 2026-12-02 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd5e0e11f0105'
down_revision = 'd2b0e11f0102'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'scope_counter',
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'id', name=op.f('pk_scope_counter')),
    )


def downgrade():
    op.drop_table('scope_counter')

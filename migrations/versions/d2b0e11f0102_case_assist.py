"""case_assist: assisting organisations' parts of a case (主办 / 协办)

Revision ID: d2b0e11f0102
Revises: d1a0e11f0101
Create Date: 2026-12-02 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd2b0e11f0102'
down_revision = 'd1a0e11f0101'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'case_assist',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.Column('done_by_id', sa.Integer(), nullable=True),
        sa.Column('done_note', sa.Text(), nullable=False),
        sa.Column('waived_at', sa.DateTime(), nullable=True),
        sa.Column('waived_reason', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.CheckConstraint('done_at IS NULL OR waived_at IS NULL', name=op.f('ck_case_assist_one_ending')),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_case_assist_case_id_case'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'],
                                name=op.f('fk_case_assist_organisation_id_organisation')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_case_assist_requested_by_id_user')),
        sa.ForeignKeyConstraint(['done_by_id'], ['user.id'], name=op.f('fk_case_assist_done_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_assist')),
        sa.UniqueConstraint('case_id', 'organisation_id', name='case_assist_once'),
    )
    with op.batch_alter_table('case_assist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_assist_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_case_assist_org_case', ['organisation_id', 'case_id'], unique=False)
        batch_op.create_index('ix_case_assist_requested', ['requested_at'], unique=False)


def downgrade():
    with op.batch_alter_table('case_assist', schema=None) as batch_op:
        batch_op.drop_index('ix_case_assist_requested')
        batch_op.drop_index('ix_case_assist_org_case')
        batch_op.drop_index(batch_op.f('ix_case_assist_case_id'))
    op.drop_table('case_assist')

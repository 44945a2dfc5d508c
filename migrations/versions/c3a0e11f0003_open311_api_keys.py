"""open311: api_key, api_key_communities, api_request; case window indexes

Revision ID: c3a0e11f0003
Revises: c6d0e11f0006
Create Date: 2026-12-02 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c3a0e11f0003'
down_revision = 'c6d0e11f0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('can_write', sa.Boolean(), nullable=False),
        sa.Column('all_communities', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_api_key_created_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
        sa.UniqueConstraint('prefix', name=op.f('uq_api_key_prefix')),
    )
    op.create_table(
        'api_key_communities',
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_api_key_communities_api_key_id_api_key'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['community_id'], ['community.id'],
                                name=op.f('fk_api_key_communities_community_id_community'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('api_key_id', 'community_id', name=op.f('pk_api_key_communities')),
    )
    with op.batch_alter_table('api_key_communities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_communities_community_id'), ['community_id'], unique=False)
    op.create_table(
        'api_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=40), nullable=False),
        sa.Column('media_url', sa.Text(), nullable=False),
        sa.Column('account_id', sa.String(length=120), nullable=False),
        sa.Column('device_id', sa.String(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_api_request_api_key_id_api_key')),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_api_request_case_id_case'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_request')),
        sa.UniqueConstraint('case_id', name=op.f('uq_api_request_case_id')),
        sa.UniqueConstraint('token', name=op.f('uq_api_request_token')),
    )
    with op.batch_alter_table('api_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_request_api_key_id'), ['api_key_id'], unique=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_community_created', ['community_id', 'created_at'], unique=False)
        batch_op.create_index('ix_case_created', ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_created')
        batch_op.drop_index('ix_case_community_created')
    with op.batch_alter_table('api_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_request_api_key_id'))
    op.drop_table('api_request')
    with op.batch_alter_table('api_key_communities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_communities_community_id'))
    op.drop_table('api_key_communities')
    op.drop_table('api_key')

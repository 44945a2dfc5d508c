"""structure: codes, active flags and versions on the grid tree, organisations' communities,
building details, user phone and activation codes

Revision ID: c6d0e11f0006
Revises: c5c0e11f0005
Create Date: 2026-12-02 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c6d0e11f0006'
down_revision = 'c5c0e11f0005'
branch_labels = None
depends_on = None


def _version():
    return sa.Column('version', sa.Integer(), server_default='1', nullable=False)


def upgrade():
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(_version())
        batch_op.create_unique_constraint(batch_op.f('uq_community_code'), ['code'])
    with op.batch_alter_table('grid', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(_version())
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('units', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('households', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(_version())
        batch_op.create_unique_constraint(batch_op.f('uq_building_code'), ['code'])
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('contact_name', sa.String(length=60), server_default='', nullable=False))
        batch_op.add_column(_version())
        batch_op.create_unique_constraint(batch_op.f('uq_organisation_code'), ['code'])
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.add_column(_version())
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=30), server_default='', nullable=False))
        batch_op.add_column(_version())
        batch_op.add_column(sa.Column('activation_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('activation_expires_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_user_activation_hash'), ['activation_hash'])
    op.create_table(
        'organisation_communities',
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['community.id'], ondelete='CASCADE',
                                name=op.f('fk_organisation_communities_community_id_community')),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE',
                                name=op.f('fk_organisation_communities_organisation_id_organisation')),
        sa.PrimaryKeyConstraint('organisation_id', 'community_id', name=op.f('pk_organisation_communities')),
    )
    with op.batch_alter_table('organisation_communities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_communities_community_id'), ['community_id'], unique=False)
    # Existing rows got '' above; the models give the default (an empty server default compares unequal).
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.alter_column('contact_name', server_default=None)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.alter_column('phone', server_default=None)
    # Rows made before codes existed get one from their id, so exports and imports can key them.
    op.execute("UPDATE community SET code = 'C' || CAST(id AS VARCHAR(12)) WHERE code IS NULL")
    op.execute("UPDATE building SET code = 'B' || CAST(id AS VARCHAR(12)) WHERE code IS NULL")
    op.execute("UPDATE organisation SET code = 'O' || CAST(id AS VARCHAR(12)) WHERE code IS NULL")


def downgrade():
    with op.batch_alter_table('organisation_communities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_communities_community_id'))
    op.drop_table('organisation_communities')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_activation_hash'), type_='unique')
        for col in ('activation_expires_at', 'activation_hash', 'version', 'phone'):
            batch_op.drop_column(col)
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.drop_column('version')
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_organisation_code'), type_='unique')
        for col in ('version', 'contact_name', 'code'):
            batch_op.drop_column(col)
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_building_code'), type_='unique')
        for col in ('version', 'active', 'longitude', 'latitude', 'households', 'units', 'code'):
            batch_op.drop_column(col)
    with op.batch_alter_table('grid', schema=None) as batch_op:
        for col in ('version', 'active'):
            batch_op.drop_column(col)
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_community_code'), type_='unique')
        for col in ('version', 'active', 'code'):
            batch_op.drop_column(col)

"""residents' status texts (consent on the case, the subdistrict's SMS channel) and API-key webhooks

Revision ID: d7f0e11f0107
Revises: d4d0e11f0104
Create Date: 2026-12-02 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd7f0e11f0107'
down_revision = 'd4d0e11f0104'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_consent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sms_consent_text', sa.String(length=300), nullable=True))
    with op.batch_alter_table('notice_channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('residents_subdistrict_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notice_channel_residents_subdistrict_id'), ['residents_subdistrict_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notice_channel_residents_subdistrict_id_subdistrict'),
                                    'subdistrict', ['residents_subdistrict_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_channel_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_key_webhook_channel_id_notice_channel'),
                                    'notice_channel', ['webhook_channel_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_key_webhook_channel_id_notice_channel'), type_='foreignkey')
        batch_op.drop_column('webhook_channel_id')
    with op.batch_alter_table('notice_channel', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notice_channel_residents_subdistrict_id_subdistrict'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notice_channel_residents_subdistrict_id'))
        batch_op.drop_column('residents_subdistrict_id')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('sms_consent_text')
        batch_op.drop_column('sms_consent_at')

"""volunteers: teams, activities, attendance, ledgers, gifts, ratings

Revision ID: c7e0e11f0007
Revises: c4b0e11f0004
Create Date: 2026-12-02 11:23:39.217066

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e0e11f0007'
down_revision = 'c4b0e11f0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('gift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('points_cost', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('points_cost > 0', name=op.f('ck_gift_cost_positive')),
    sa.CheckConstraint('stock >= 0', name=op.f('ck_gift_stock_not_negative')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_gift_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gift'))
    )
    with op.batch_alter_table('gift', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gift_community_id'), ['community_id'], unique=False)

    op.create_table('volunteer_project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_volunteer_project_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_project')),
    sa.UniqueConstraint('name', name=op.f('uq_volunteer_project_name'))
    )
    with op.batch_alter_table('volunteer_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_project_community_id'), ['community_id'], unique=False)

    op.create_table('volunteer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('mobile', sa.String(length=20), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('skills', sa.String(length=200), nullable=False),
    sa.Column('availability', sa.String(length=200), nullable=False),
    sa.Column('consent_text', sa.Text(), nullable=False),
    sa.Column('consented_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('hours_minutes', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.CheckConstraint('hours_minutes >= 0', name=op.f('ck_volunteer_hours_not_negative')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_volunteer_points_not_negative')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_volunteer_community_id_community')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_volunteer_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer')),
    sa.UniqueConstraint('card_code', name=op.f('uq_volunteer_card_code'))
    )
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_mobile'), ['mobile'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_user_id'), ['user_id'], unique=False)

    op.create_table('volunteer_team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('leader_user_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_volunteer_team_community_id_community')),
    sa.ForeignKeyConstraint(['leader_user_id'], ['user.id'], name=op.f('fk_volunteer_team_leader_user_id_user')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_volunteer_team_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_team')),
    sa.UniqueConstraint('name', name=op.f('uq_volunteer_team_name'))
    )
    with op.batch_alter_table('volunteer_team', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_team_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_team_leader_user_id'), ['leader_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_team_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('building_id', sa.Integer(), nullable=True),
    sa.Column('place', sa.String(length=120), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('signup_deadline', sa.DateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('taken', sa.Integer(), nullable=False),
    sa.Column('points_per_hour', sa.Integer(), nullable=False),
    sa.Column('checkin_token', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('planned', 'open', 'under_way', 'hours_to_confirm', 'done')", name=op.f('ck_activity_status')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_activity_window')),
    sa.CheckConstraint('taken >= 0 AND taken <= capacity', name=op.f('ck_activity_taken_within_capacity')),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_activity_building_id_building')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_activity_community_id_community')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_activity_created_by_id_user')),
    sa.ForeignKeyConstraint(['project_id'], ['volunteer_project.id'], name=op.f('fk_activity_project_id_volunteer_project')),
    sa.ForeignKeyConstraint(['team_id'], ['volunteer_team.id'], name=op.f('fk_activity_team_id_volunteer_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity')),
    sa.UniqueConstraint('checkin_token', name=op.f('uq_activity_checkin_token'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_team_id'), ['team_id'], unique=False)

    op.create_table('team_membership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('is_leader', sa.Boolean(), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name=op.f('ck_team_membership_status')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_team_membership_decided_by_id_user')),
    sa.ForeignKeyConstraint(['team_id'], ['volunteer_team.id'], name=op.f('fk_team_membership_team_id_volunteer_team')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_team_membership_volunteer_id_volunteer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_membership')),
    sa.UniqueConstraint('team_id', 'volunteer_id', name='uq_team_membership_team_volunteer')
    )
    with op.batch_alter_table('team_membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_membership_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_membership_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('volunteer_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('preset', sa.String(length=12), nullable=False),
    sa.Column('hours_minutes', sa.Integer(), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('notice_ends_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('certificate_number', sa.String(length=24), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'published', 'confirmed')", name=op.f('ck_volunteer_rating_status')),
    sa.CheckConstraint('stars BETWEEN 1 AND 5', name=op.f('ck_volunteer_rating_stars')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_volunteer_rating_decided_by_id_user')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_volunteer_rating_volunteer_id_volunteer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_rating')),
    sa.UniqueConstraint('certificate_number', name=op.f('uq_volunteer_rating_certificate_number')),
    sa.UniqueConstraint('period', 'volunteer_id', name='uq_volunteer_rating_period_volunteer')
    )
    with op.batch_alter_table('volunteer_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_rating_period'), ['period'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_rating_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('activity_signup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('signed_up_at', sa.DateTime(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('signed_up', 'cancelled')", name=op.f('ck_activity_signup_status')),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_activity_signup_activity_id_activity')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_activity_signup_volunteer_id_volunteer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_signup')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', name='uq_activity_signup_activity_volunteer')
    )
    with op.batch_alter_table('activity_signup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_signup_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_signup_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(), nullable=False),
    sa.Column('checked_out_at', sa.DateTime(), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('minutes IS NULL OR minutes >= 0', name=op.f('ck_attendance_minutes_not_negative')),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_attendance_activity_id_activity')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['user.id'], name=op.f('fk_attendance_confirmed_by_id_user')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_attendance_volunteer_id_volunteer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', name='uq_attendance_activity_volunteer')
    )
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attendance_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('ledger_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('ledger', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('approver_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('earned', 'redeemed', 'expired', 'adjusted')", name=op.f('ck_ledger_entry_kind')),
    sa.CheckConstraint("ledger IN ('hours', 'points')", name=op.f('ck_ledger_entry_ledger')),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_ledger_entry_amount_not_zero')),
    sa.CheckConstraint('balance_after >= 0', name=op.f('ck_ledger_entry_balance_not_negative')),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_ledger_entry_activity_id_activity')),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_ledger_entry_actor_id_user')),
    sa.ForeignKeyConstraint(['approver_id'], ['user.id'], name=op.f('fk_ledger_entry_approver_id_user')),
    sa.ForeignKeyConstraint(['reverses_id'], ['ledger_entry.id'], name=op.f('fk_ledger_entry_reverses_id_ledger_entry')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_ledger_entry_volunteer_id_volunteer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entry')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_ledger_entry_reverses_id'))
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entry_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entry_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('redemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('gift_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_redemption_quantity_positive')),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_redemption_actor_id_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entry.id'], name=op.f('fk_redemption_entry_id_ledger_entry')),
    sa.ForeignKeyConstraint(['gift_id'], ['gift.id'], name=op.f('fk_redemption_gift_id_gift')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_redemption_volunteer_id_volunteer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_redemption_entry_id'))
    )
    with op.batch_alter_table('redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redemption_gift_id'), ['gift_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemption_volunteer_id'), ['volunteer_id'], unique=False)



def downgrade():
    with op.batch_alter_table('redemption', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemption_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_redemption_gift_id'))

    op.drop_table('redemption')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entry_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_entry_activity_id'))

    op.drop_table('ledger_entry')
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_attendance_activity_id'))

    op.drop_table('attendance')
    with op.batch_alter_table('activity_signup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_signup_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_activity_signup_activity_id'))

    op.drop_table('activity_signup')
    with op.batch_alter_table('volunteer_rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_rating_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_rating_period'))

    op.drop_table('volunteer_rating')
    with op.batch_alter_table('team_membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_membership_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_team_membership_team_id'))

    op.drop_table('team_membership')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_team_id'))
        batch_op.drop_index(batch_op.f('ix_activity_status'))
        batch_op.drop_index(batch_op.f('ix_activity_project_id'))
        batch_op.drop_index(batch_op.f('ix_activity_community_id'))

    op.drop_table('activity')
    with op.batch_alter_table('volunteer_team', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_team_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_team_leader_user_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_team_community_id'))

    op.drop_table('volunteer_team')
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_user_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_mobile'))
        batch_op.drop_index(batch_op.f('ix_volunteer_community_id'))

    op.drop_table('volunteer')
    with op.batch_alter_table('volunteer_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_project_community_id'))

    op.drop_table('volunteer_project')
    with op.batch_alter_table('gift', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gift_community_id'))

    op.drop_table('gift')

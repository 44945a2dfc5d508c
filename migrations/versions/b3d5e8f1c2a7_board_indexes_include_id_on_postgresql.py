"""board indexes carry the case id on PostgreSQL (INCLUDE)

PostgreSQL btree entries do not hold the row's primary key (SQLite's hold the rowid), so a
board's "ids of one page" query had to visit the table for every row of a multi-grid or
multi-building scope. With INCLUDE (id) it is an index-only scan. SQLite: nothing changes.

Revision ID: b3d5e8f1c2a7
Revises: 7c1f0d2e9a41
Create Date: 2026-11-28 21:50:00

"""
from alembic import op


revision = 'b3d5e8f1c2a7'
down_revision = '7c1f0d2e9a41'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_case_grid_status': ['grid_id', 'status', 'updated_at'],
    'ix_case_community_status': ['community_id', 'status', 'updated_at'],
    'ix_case_building_status': ['building_id', 'status', 'updated_at'],
    'ix_case_org_status': ['assigned_org_id', 'status', 'updated_at'],
    'ix_case_returned_status': ['returned_org_id', 'status', 'updated_at', 'assigned_org_id'],
    'ix_case_org_status_accepted': ['assigned_org_id', 'status', 'handler_accepted_at', 'updated_at'],
    'ix_case_status_updated': ['status', 'updated_at'],
}


def _recreate(include: list[str]) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name='case')
        op.create_index(name, 'case', columns, unique=False, postgresql_include=include)


def upgrade():
    _recreate(['id'])


def downgrade():
    _recreate([])

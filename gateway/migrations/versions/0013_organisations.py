"""organisations: many firms on one Ponte (issue 17)

Revision ID: 0013_organisations
Revises: 0012_recording_session_column
Create Date: 2026-12-01 19:30:00

One row, id 1 (slug ``default``), owns everyone who exists: a single-firm install goes on as before.
"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa


revision = '0013_organisations'
down_revision = '0012_recording_session_column'
branch_labels = None
depends_on = None


def upgrade():
    organisations = op.create_table(
        'organisations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('language', sa.String(length=8), server_default='it', nullable=False),
        sa.Column('max_pcs', sa.Integer(), nullable=True),
        sa.Column('max_sessions', sa.Integer(), nullable=True),
        sa.Column('disabled', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('slug'),
        sqlite_autoincrement=True,
    )
    op.bulk_insert(organisations, [{
        'id': 1, 'slug': 'default', 'name': '', 'language': 'it', 'disabled': False,
        'created_at': datetime(2026, 12, 1),
        'created_by': 'migration',
    }])
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        # the row above was written with its id: move the sequence past it
        op.execute("SELECT setval(pg_get_serial_sequence('organisations', 'id'), 1)")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_index('ix_users_organisation_id', ['organisation_id'], unique=False)
        batch_op.create_foreign_key('fk_users_organisation_id', 'organisations', ['organisation_id'], ['id'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('fk_users_organisation_id', type_='foreignkey')
        batch_op.drop_index('ix_users_organisation_id')
        batch_op.drop_column('organisation_id')
    op.drop_table('organisations')

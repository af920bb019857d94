"""users.session_epoch: revocable login sessions (issue 9)

Revision ID: 0002_session_epoch
Revises: 0001_initial
Create Date: 2026-12-01 09:00:00

Every login cookie carries the user's epoch; bumping it ends them all. Existing
rows start at 0, and cookies from before this revision carry none, so everyone
logs in once more after the upgrade.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_session_epoch'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')

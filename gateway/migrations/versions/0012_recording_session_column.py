"""session_history.recording: what became of a session's screen recording (issue 15)

Revision ID: 0012_recording_session_column
Revises: 0011_branding
Create Date: 2026-12-01 16:00:00

Empty for every existing session: none was recorded. Values: gateway/recording/__init__.py.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_recording_session_column'
down_revision = '0011_branding'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('session_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording', sa.String(length=255), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('session_history', schema=None) as batch_op:
        batch_op.drop_column('recording')

"""policy_rules: file transfer, recording and recording retention per PC, group and globally (issue 15)

Revision ID: 0016_policy_files_recording
Revises: 0015_signup_requests
Create Date: 2026-12-01 19:30:00

NULL in every existing row: not set at any level, so the gateway's settings
(``file_transfer``, ``recording``, ``recording_retention_days``) still decide, as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_policy_files_recording'
down_revision = '0015_signup_requests'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_transfer', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('record', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.drop_column('retention_days')
        batch_op.drop_column('record')
        batch_op.drop_column('file_transfer')
